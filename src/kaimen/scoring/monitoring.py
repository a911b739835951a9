"""`kaimen monitor --month YYYY-MM`: does the model still see the population it was trained on,
and do its probabilities come true? The answer is a model card, written as JSON (the source)
and Markdown (rendered from the same dict).

Stability is the population stability index, PSI = sum over bins of (a - e) * ln(a / e), with
e and a the shares of the training data and of month M in each bin.

- **Score**: binned on the five published bands. The baseline is the training rows' band
  counts that training already recorded (`metrics.training.bad_rate_by_band`, computed on
  exactly the training rows), so nothing is rebuilt, the baseline is hash-protected with the
  model, it stays right if the lake changes later (erasures, corrections), and it exists for
  any model kind that publishes on the 350-950 scale. Bands are also where decisions are cut.
  The cost: a shift inside one band does not move the score PSI; the characteristic PSIs watch
  the inputs for that.
- **Characteristics** on the card: binned on the card's own bins plus the missing bin, against
  the training counts the card stores. Month M's values are rebuilt point in time for the
  people scored that month (only what was known by the end of M, so the same as at scoring).
- **Small counts**: a share below PSI_EPSILON counts as PSI_EPSILON, so a bin empty on one side
  gives a large but finite term.
- **Levels**: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act.

Outcomes are those of training: serious delinquency in M+1..M+12. They are known once the lake
reaches M+12 and that month has ended. Expected bad rate = the mean probability of bad implied
by each person's unclipped raw score (the inverse of the domain's scaling); observed = the share
who went bad. Until then the card says when they will be known, and gives no numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.domain.errors import KaimenError
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN
from kaimen.features.build import features_expression
from kaimen.features.catalogue import CATALOGUE, Window
from kaimen.features.summary_build import refresh_summaries
from kaimen.model import evaluation
from kaimen.model.challenger import Challenger
from kaimen.model.scorecard import MISSING_LABEL, Scorecard, published_score
from kaimen.scoring.datasets import OUTCOME_MONTHS, add_months, labels_expression
from kaimen.scoring.models import NoModel, read_artifact, wrap
from kaimen.scoring.training import feature_arrays, probability_of_bad, summary_paths
from kaimen.store import audit, model_registry, scores
from kaimen.store.model_registry import ModelRecord
from kaimen.telemetry.steps import note_step, timed_step

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Level = Literal["stable", "watch", "act"]

FORMAT = "kaimen.model_card"
SCHEMA_VERSION = 1
PSI_EPSILON = 1e-4
STABLE_BELOW = 0.1
ACT_ABOVE = 0.25
# |z| above this: observed bads differ from expected by more than chance explains (95%).
CALIBRATION_Z = 1.96
# A training band thinner than this gives a loose bad-rate estimate: said in the limits.
THIN_TRAINING_BAND = 100
LEVELS: tuple[Level, ...] = ("stable", "watch", "act")


class MonitoringFailed(KaimenError):
    """The month cannot be monitored (not published with this model, or nobody was scored)."""


@dataclass(frozen=True)
class MonitoringReport:
    card: dict[str, Any]
    json_path: Path
    markdown_path: Path


# -- measures -----------------------------------------------------------------------------


def psi_terms(expected_counts: npt.ArrayLike, actual_counts: npt.ArrayLike) -> FloatArray:
    """Each bin's term (a - e) * ln(a / e) of the PSI, shares floored at PSI_EPSILON."""
    e = np.asarray(expected_counts, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    if e.ndim != 1 or e.shape != a.shape or e.size == 0:
        raise ValueError(f"counts {e.shape} and {a.shape} must be 1-D, equal and non-empty")
    if (e < 0).any() or (a < 0).any():
        raise ValueError("counts must not be negative")
    if e.sum() == 0 or a.sum() == 0:
        raise ValueError("each distribution needs at least one count")
    e_share = np.maximum(e / e.sum(), PSI_EPSILON)
    a_share = np.maximum(a / a.sum(), PSI_EPSILON)
    terms: FloatArray = (a_share - e_share) * np.log(a_share / e_share)
    return terms


def population_stability_index(
    expected_counts: npt.ArrayLike, actual_counts: npt.ArrayLike
) -> float:
    """PSI of `actual_counts` against `expected_counts` (same bins); 0 for equal shares."""
    return float(psi_terms(expected_counts, actual_counts).sum())


def alert_level(psi: float) -> Level:
    """Below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act."""
    if psi < STABLE_BELOW:
        return "stable"
    return "watch" if psi <= ACT_ABOVE else "act"


def band_index(published: npt.ArrayLike) -> IntArray:
    """Index into BANDS of each published score."""
    lows = np.array([b.low for b in BANDS[1:]], dtype=np.int64)
    index: IntArray = np.searchsorted(lows, np.asarray(published, dtype=np.int64), side="right")
    return index


def _stability_item(
    name: str, labels: Sequence[str], expected: Sequence[int], actual: Sequence[int]
) -> dict[str, Any]:
    terms = psi_terms(expected, actual)
    total_e, total_a = sum(expected), sum(actual)
    psi = float(terms.sum())
    return {
        "item": name,
        "psi": psi,
        "level": alert_level(psi),
        "bins": [
            {
                "label": label,
                "training_count": int(e),
                "training_share": e / total_e,
                "month_count": int(a),
                "month_share": a / total_a,
                "psi_term": float(t),
            }
            for label, e, a, t in zip(labels, expected, actual, terms.tolist(), strict=True)
        ],
    }


# -- loading ------------------------------------------------------------------------------


def _model(engine: Engine, version: str | None) -> tuple[ModelRecord, Scorecard | Challenger]:
    """The registered model (the champion by default), its artifact checked by its hash."""
    with engine.connect() as store:
        record = model_registry.get(store, version) if version else model_registry.champion(store)
    if record is None:
        raise NoModel(
            f"no model {version!r} is registered" if version else "no model yet: run kaimen train"
        )
    return record, read_artifact(record)


def _lake_reach(backend: ibis.BaseBackend, paths: Sequence[Path], now: dt.datetime) -> str | None:
    """The last month that has ended and that the lake holds events for (None: empty lake)."""
    if not paths:
        return None
    latest = backend.read_parquet([str(p) for p in paths]).occurred_month.max().execute()
    if latest is None:
        return None
    ended = add_months(now.astimezone(dt.UTC).strftime("%Y-%m"), -1)
    return min(str(latest), ended)


def _month_table(engine: Engine, month: str, version: str) -> tuple[pa.Table, dict[str, int]]:
    with engine.connect() as store:
        if not scores.is_published(store, month, version):
            others = [v for v in scores.published_models(store, month) if v != version]
            hint = (
                f"; it is published with {', '.join(others)} (choose one with --model)"
                if others
                else ": run kaimen score --month " + month
            )
            raise MonitoringFailed(f"{month} is not published with {version}{hint}")
        columns = scores.month_columns(store, month, version)
    table = pa.table(
        {
            "person_id": pa.array(columns["person_id"], pa.string()),
            "score": pa.array(columns["score"], pa.int64()),
            "band": pa.array(columns["band"], pa.string()),
            "thin_file": pa.array(columns["thin_file"], pa.int64()),
            "points": pa.array(columns["points"], pa.string()),
        }
    )
    people = table.num_rows
    thin = int(np.asarray(table.column("thin_file")).sum()) if people else 0
    scored = table.filter(table.column("score").is_valid())
    if scored.num_rows == 0:
        raise MonitoringFailed(f"nobody was scored in {month} ({people} people, all thin files)")
    return scored, {"people": people, "scored": scored.num_rows, "thin_files": thin}


# -- the parts of the card ------------------------------------------------------------------


def _score_stability(metrics: Mapping[str, Any], published: IntArray) -> dict[str, Any]:
    rows = metrics.get("training", {}).get("bad_rate_by_band")
    if not rows:
        return {"unavailable": "the model's training metrics hold no band counts to compare with"}
    by_name = {r["band"]: int(r["count"]) for r in rows}
    expected = [by_name.get(b.name, 0) for b in BANDS]
    actual = np.bincount(band_index(published), minlength=len(BANDS)).tolist()
    labels = [f"{b.name} ({b.low}-{b.high})" for b in BANDS]
    return _stability_item("score", labels, expected, actual)


def _characteristic_stability(
    card: Scorecard, values: Mapping[str, FloatArray]
) -> list[dict[str, Any]]:
    items = []
    for c in card.characteristics:
        k = len(c.edges)
        index = c.bin_index(values[c.name])
        # The missing bin (-1) goes last, as it is listed on the card.
        actual = np.bincount(np.where(index < 0, k, index), minlength=k + 1)
        items.append(
            _stability_item(
                c.name,
                [*c.labels, MISSING_LABEL],
                [*c.counts, c.missing_count],
                actual.tolist(),
            )
        )
    return items


def _verdict(z: float | None) -> str | None:
    if z is None:
        return None
    if z > CALIBRATION_Z:
        return "more bads than expected"
    return "fewer bads than expected" if z < -CALIBRATION_Z else "as expected"


def _outcomes(
    month: str,
    reach: str | None,
    published: IntArray,
    raw: FloatArray,
    bad: IntArray | None,
) -> dict[str, Any]:
    first, last = add_months(month, 1), add_months(month, OUTCOME_MONTHS)
    window = {"from": first, "to": last, "months": OUTCOME_MONTHS}
    if bad is None:
        return {
            "status": "pending",
            "window": window,
            "lake_reaches": reach,
            "known_after": last,
            "message": (
                f"outcomes for {month} (serious delinquency in {first}..{last}) will be known "
                f"once {last} has ended and the lake holds it; "
                + (f"the lake reaches {reach}" if reach else "the lake is empty")
            ),
        }
    p = probability_of_bad(raw)
    band = band_index(published)
    k = len(BANDS)
    people = np.bincount(band, minlength=k)
    bads = np.bincount(band, weights=bad, minlength=k)
    expected_bads = np.bincount(band, weights=p, minlength=k)
    # Bads are a sum of independent Bernoulli(p_i): variance sum p_i (1 - p_i).
    variance = np.bincount(band, weights=p * (1 - p), minlength=k)

    def row(name: str, n: int, b: float, e: float, v: float) -> dict[str, Any]:
        z = (b - e) / math.sqrt(v) if v > 0 else None
        return {
            "band": name,
            "people": n,
            "bads": int(b),
            "observed_bad_rate": b / n if n else None,
            "expected_bad_rate": e / n if n else None,
            "z": z,
            "verdict": _verdict(z),
        }

    rows = [
        row(b.name, int(n), float(o), float(e), float(v))
        for b, n, o, e, v in zip(BANDS, people, bads, expected_bads, variance, strict=True)
    ]
    overall = row("all", int(people.sum()), float(bad.sum()), float(p.sum()), float(variance.sum()))
    discrimination: dict[str, Any]
    try:
        area = evaluation.auc(bad, published)
        discrimination = {
            "auc": area,
            "ks": evaluation.ks(bad, published),
            "gini": 2 * area - 1,
        }
    except ValueError as error:  # all good or all bad: ranking is undefined
        discrimination = {"auc": None, "ks": None, "gini": None, "note": str(error)}
    return {
        "status": "known",
        "window": window,
        "lake_reaches": reach,
        "as_of": reach,
        "bands": rows,
        "overall": overall,
        **discrimination,
    }


def _joined(
    backend: ibis.BaseBackend,
    paths: Sequence[Path],
    month: str,
    scored: pa.Table,
    names: Sequence[str],
    outcomes_as_of: str | None,
) -> pa.Table:
    """The month's scored people with `points_sum`, the model's features at the month and,
    once known, `bad`: one engine query.

    Features are rebuilt point in time (only what was known by the end of the month), so they
    are the ones the month was scored on.
    """
    t = ibis.memtable(scored)
    points_sum = t.points.cast("json").unwrap_as("map<string,float64>").values().sums()
    t = t.mutate(points_sum=points_sum)
    features = features_expression(backend, paths, month).select("person_id", *names)
    t = t.left_join(features, "person_id").drop("person_id_right")
    if outcomes_as_of is not None:
        labels = labels_expression(backend, paths, month, outcomes_as_of)
        t = t.left_join(labels, "person_id").drop("person_id_right")
        # No summary rows in the window means nothing went wrong: good, as in training.
        t = t.mutate(bad=t.bad.fill_null(0))
    return backend.to_pyarrow(t.drop("points", "band", "thin_file").order_by("person_id"))


def _stability(
    month: str,
    population: Mapping[str, int],
    metrics: Mapping[str, Any],
    published: IntArray,
    kind: str,
    card: Scorecard | None,
    values: Mapping[str, FloatArray] | None,
) -> dict[str, Any]:
    stability: dict[str, Any] = {
        "month": month,
        "population": dict(population),
        "method": {
            "score_bins": "the five published bands; baseline: training band counts",
            "characteristic_bins": "the card's bins and its missing bin",
            "epsilon": PSI_EPSILON,
            "levels": {
                "stable": f"< {STABLE_BELOW}",
                "watch": f"{STABLE_BELOW}-{ACT_ABOVE}",
                "act": f"> {ACT_ABOVE}",
            },
        },
        "score": _score_stability(metrics, published),
    }
    items = [stability["score"]]
    if card is None or values is None:
        stability["characteristics"] = {
            "unavailable": f"a {kind} model has no binned characteristics to compare"
        }
    else:
        stability["characteristics"] = _characteristic_stability(card, values)
        items += stability["characteristics"]
    levels = [item["level"] for item in items if "level" in item]
    stability["worst_level"] = max(levels, key=LEVELS.index) if levels else None
    return stability


INTENDED_USE = {
    "purpose": (
        "Rank enrolled adults by their chance of serious delinquency (a default, or a payment "
        "90 or more days late, on any bill, rent, utility or loan) in the 12 months after the "
        "score month, and give each person a score they can see, understand and contest."
    ),
    "population": (
        "People enrolled on the platform with enough history to score (at least 3 repayments "
        "in 12 months and 3 months of activity); everyone else is flagged as a thin file."
    ),
    "use_with": (
        "The score's reasons and the person's right to dispute any negative item; a decision "
        "about a person should never rest on the score alone."
    ),
    "not_for": [
        "people with thin files, who are not scored",
        "judging people by their friends: connections are kept neutral",
        "populations or outcomes other than those above without monitoring them first",
    ],
}


def _limits(
    loaded: Scorecard | Challenger,
    month: str,
    population: Mapping[str, int],
    stability: Mapping[str, Any],
    outcomes: Mapping[str, Any],
    metrics: Mapping[str, Any],
    rebuilt_mismatches: int,
) -> list[str]:
    """What a reader must keep in mind: the design's limits, then what this month's evidence
    and this model's training show."""
    limits = [
        f"Thin files are flagged and not scored: {population['thin_files']:,} of "
        f"{population['people']:,} people in {month}.",
        "Connections are neutral: friends' influence stays out of the model until it is "
        "bounded, so every connections characteristic is excluded and that sub-score is 50.",
        f"Scores are clipped to {SCORE_MIN}-{SCORE_MAX}; expected bad rates use the unclipped "
        "raw score (a scorecard's points sum; for other models, the raw score rebuilt from the "
        "month's features).",
        "Score stability is measured on the five bands: a shift inside one band (for example "
        "within 'excellent', 700-950) does not move it; the characteristic PSIs watch the inputs.",
    ]
    if isinstance(loaded, Scorecard):
        k = len(loaded.characteristics)
        limits.append(
            f"Points are whole numbers per bin, so a raw score is within {k / 2:g} points of the "
            f"exact logistic score ({k} characteristics)."
        )
    else:
        limits.append(
            "A LightGBM model has no bins: the stability of its characteristics is not "
            "measured here, only that of its score."
        )
    snapshots = loaded.training.get("snapshots")
    if isinstance(snapshots, list) and len(snapshots) > 1:
        limits.append(
            f"Training stacks {len(snapshots)} monthly snapshots, so most people appear "
            f"{len(snapshots)} times: the effective sample is smaller than the row count."
        )
    if isinstance(snapshots, list) and month in snapshots:
        limits.append(f"{month} is one of the training snapshots: it cannot show drift.")
    if month == loaded.training.get("out_of_time"):
        limits.append(
            f"{month} is the model's out-of-time month: its outcomes were used to judge "
            "the model, so they are not new evidence."
        )
    for row in metrics.get("training", {}).get("bad_rate_by_band") or []:
        if row["count"] < THIN_TRAINING_BAND:
            limits.append(
                f"The '{row['band']}' band held only {row['count']} training rows: its "
                "bad rate estimate is loose."
            )
    characteristics = stability["characteristics"]
    items = [stability["score"], *(characteristics if isinstance(characteristics, list) else [])]
    for item in items:
        if item.get("level") in ("watch", "act"):
            limits.append(
                f"{item['item']} has shifted since training (PSI {item['psi']:.4f}, "
                f"{item['level']}): the model rests on a distribution the population no "
                "longer has."
            )
    calibration = [
        *outcomes.get("bands", []),
        *([outcomes["overall"]] if "overall" in outcomes else []),
    ]
    for row in calibration:
        if row["verdict"] in ("more bads than expected", "fewer bads than expected"):
            where = "overall" if row["band"] == "all" else f"in '{row['band']}'"
            limits.append(
                f"Calibration {where}: {row['observed_bad_rate']:.2%} went bad against "
                f"{row['expected_bad_rate']:.2%} expected (z {row['z']:+.2f}), so the model "
                f"{'understates' if row['z'] > 0 else 'overstates'} the risk there."
            )
    if rebuilt_mismatches:
        limits.append(
            f"{rebuilt_mismatches:,} people's features rebuilt for {month} no longer give their "
            "published score (the lake changed after publication); characteristic stability "
            "uses the rebuilt values."
        )
    return limits


def _model_section(record: ModelRecord) -> dict[str, Any]:
    return {
        "version": record.version,
        "kind": record.kind,
        "champion": record.champion,
        "trained_at": record.trained_at.astimezone(dt.UTC).isoformat(),
        "as_of": record.as_of,
        "artifact": record.path,
        "artifact_sha256": record.sha256,
    }


RISK = {"ascending": "rises with it", "descending": "falls with it", "auto": "unconstrained"}
TRAINING_FACTS = (
    "as_of",
    "snapshots",
    "out_of_time",
    "outcome_months",
    "rows",
    "bad_rate",
    "data_fingerprint",
)


def _card_sections(loaded: Scorecard | Challenger) -> dict[str, Any]:
    """Training data and characteristics. A scorecard gives each characteristic's IV and bins;
    the challenger, which has neither, the total gain of its splits instead."""
    described: list[dict[str, Any]]
    if isinstance(loaded, Scorecard):
        described = [
            {
                "name": c.name,
                "dimension": str(c.dimension),
                "direction": c.direction,
                "information_value": c.iv,
                "bins": len(c.edges),
                "gain": None,
            }
            for c in loaded.characteristics
        ]
    else:
        described = [
            {
                "name": f.name,
                "dimension": str(f.dimension),
                "direction": f.monotone,
                "information_value": None,
                "bins": None,
                "gain": f.gain,
            }
            for f in loaded.features
        ]
    for c in described:
        c["risk"] = RISK[c["direction"]]
        c["description"] = CATALOGUE[c["name"]].description if c["name"] in CATALOGUE else ""
    return {
        "training": {key: loaded.training.get(key) for key in TRAINING_FACTS},
        "characteristics": {
            "on_card": described,
            "excluded": [
                {"name": name, "reason": reason} for name, reason in sorted(loaded.excluded.items())
            ],
        },
    }


# -- the run ------------------------------------------------------------------------------


@timed_step("monitor")
def monitor(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    month: str,
    out_dir: Path,
    actor: str,
    model_version: str | None = None,
    now: dt.datetime | None = None,
) -> MonitoringReport:
    """Monitor `month` for the champion (or `model_version`); write and return the model card."""
    now = now or dt.datetime.now(dt.UTC)
    Window(month)  # validates the month
    record, loaded = _model(engine, model_version)
    model = wrap(loaded)
    card = loaded if isinstance(loaded, Scorecard) else None
    scored, population = _month_table(engine, month, record.version)
    refresh_summaries(engine, backend, lake_root, now)
    paths = summary_paths(engine, lake_root)
    reach = _lake_reach(backend, paths, now)
    outcomes_as_of = (
        reach if reach is not None and add_months(month, OUTCOME_MONTHS) <= reach else None
    )
    table = _joined(backend, paths, month, scored, model.names, outcomes_as_of)
    published = np.asarray(table.column("score"), dtype=np.int64)
    values = feature_arrays(table)
    rebuilt = model.raw_scores(values)
    # Features rebuilt at the month must give the score published for it; a difference means
    # the lake changed after publication, which the card then says.
    agrees = published_score(rebuilt) == published
    if card is not None:
        # A card's points are whole and add up to the raw score exactly: use what was published.
        raw = np.asarray(table.column("points_sum"), dtype=np.float64)
    else:
        # Other models publish rounded points; their exact raw score is the rebuilt one, where
        # it still gives the published score.
        raw = np.where(agrees, rebuilt, published.astype(np.float64))
    metrics = record.metrics if card is None else card.metrics
    stability = _stability(
        month, population, metrics, published, record.kind, card, None if card is None else values
    )
    rebuilt_mismatches = int((~agrees).sum())
    bad = None if outcomes_as_of is None else np.asarray(table.column("bad"), dtype=np.int64)
    outcomes = _outcomes(month, reach, published, raw, bad)

    document: dict[str, Any] = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "month": month,
        "generated_at": now.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
        "model": _model_section(record),
        "intended_use": INTENDED_USE,
        **_card_sections(loaded),
        "out_of_time": dict(metrics.get("out_of_time") or {"unavailable": "not recorded"}),
        "stability": stability,
        "outcomes": outcomes,
        "limits": _limits(
            loaded, month, population, stability, outcomes, metrics, rebuilt_mismatches
        ),
    }
    json_path, markdown_path = write_card(document, out_dir)
    with engine.begin() as store:
        audit.append(
            store,
            actor,
            "model.monitored",
            subject=record.version,
            details={
                "month": month,
                "score_psi": document["stability"]["score"].get("psi"),
                "worst_level": stability["worst_level"],
                "outcomes": outcomes["status"],
                "card_sha256": hashlib.sha256(json_path.read_bytes()).hexdigest(),
            },
            now=now,
        )
    note_step(month=month, model=record.version, worst_level=stability["worst_level"])
    return MonitoringReport(document, json_path, markdown_path)


# -- writing --------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def write_card(document: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write `<version>_<month>.json` and `.md` into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{document['model']['version']}_{document['month']}"
    json_path, markdown_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    _write_atomically(json_path, text)
    _write_atomically(markdown_path, render_markdown(json.loads(text)))
    return json_path, markdown_path


# -- Markdown -------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _pct(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value:.{places}%}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _unavailable(section: Mapping[str, Any]) -> list[str] | None:
    return [f"Not available: {section['unavailable']}.", ""] if "unavailable" in section else None


def _psi_bins(item: Mapping[str, Any]) -> list[str]:
    return _table(
        ["bin", "training", "training share", "month", "month share", "PSI term"],
        [
            [
                b["label"],
                b["training_count"],
                _pct(b["training_share"]),
                b["month_count"],
                _pct(b["month_share"]),
                b["psi_term"],
            ]
            for b in item["bins"]
        ],
    )


def render_markdown(card: Mapping[str, Any]) -> str:
    """The card as Markdown; every number comes from `card` (the JSON document)."""
    model, month = card["model"], card["month"]
    out = [
        f"# Model card: {model['version']}",
        "",
        f"Monitoring month **{month}**, generated {card['generated_at']}. The JSON file of the "
        "same name is the source of this card.",
        "",
        "## Model",
        "",
    ]
    out += _table(
        ["version", "kind", "champion", "trained at", "as of", "artifact SHA-256"],
        [
            [
                model["version"],
                model["kind"],
                model["champion"],
                model["trained_at"],
                model["as_of"],
                model["artifact_sha256"],
            ]
        ],
    )
    use = card["intended_use"]
    out += ["## Intended use", "", use["purpose"], ""]
    out += [f"- **Population:** {use['population']}", f"- **Use with:** {use['use_with']}"]
    out += ["- **Not for:** " + "; ".join(use["not_for"]) + ".", ""]

    out += ["## Training data", ""]
    training = card["training"]
    out += _table(
        ["as of", "snapshots", "out of time", "outcome months", "rows", "bad rate", "data SHA-256"],
        [
            [
                training["as_of"],
                ", ".join(training["snapshots"] or []),
                training["out_of_time"],
                training["outcome_months"],
                training["rows"],
                _pct(training["bad_rate"], 2),
                training["data_fingerprint"],
            ]
        ],
    )

    out += ["## Characteristics", ""]
    on_card = card["characteristics"]["on_card"]
    # A scorecard's characteristics have IV and bins; a LightGBM model's, split gain.
    if any(c["gain"] is not None for c in on_card):
        headers, evidence = ["gain"], [[c["gain"]] for c in on_card]
    else:
        headers = ["IV", "bins"]
        evidence = [[c["information_value"], c["bins"]] for c in on_card]
    out += _table(
        ["characteristic", "dimension", "risk", *headers, "what it measures"],
        [
            [c["name"], c["dimension"], c["risk"], *e, c["description"]]
            for c, e in zip(on_card, evidence, strict=True)
        ],
    )
    out += ["### Excluded characteristics", ""]
    out += _table(
        ["characteristic", "reason"],
        [[e["name"], e["reason"]] for e in card["characteristics"]["excluded"]],
    )

    out += ["## Out-of-time performance", ""]
    oot = card["out_of_time"]
    out += _unavailable(oot) or [
        f"AUC {_cell(oot['auc'])}, KS {_cell(oot['ks'])}, Gini {_cell(oot['gini'])} on "
        f"{oot['rows']:,} people (bad rate {_pct(oot['bad_rate'], 2)}).",
        "",
        *_table(
            ["band", "people", "bad rate", "expected"],
            [
                [r["band"], r["count"], _pct(r["bad_rate"], 2), _pct(r.get("expected_bad_rate"), 2)]
                for r in oot["bad_rate_by_band"]
            ],
        ),
    ]

    stability = card["stability"]
    population, method = stability["population"], stability["method"]
    out += [
        f"## Stability in {month}",
        "",
        f"{population['scored']:,} of {population['people']:,} people scored "
        f"({population['thin_files']:,} thin files). Population stability index against the "
        f"training data; score bins: {method['score_bins']}; characteristic bins: "
        f"{method['characteristic_bins']}; shares below {method['epsilon']} count as "
        f"{method['epsilon']}. Levels: stable {method['levels']['stable']}, watch "
        f"{method['levels']['watch']}, act {method['levels']['act']}.",
        "",
    ]
    score, characteristics = stability["score"], stability["characteristics"]
    items = [score, *(characteristics if isinstance(characteristics, list) else [])]
    measured = [i for i in items if "unavailable" not in i]
    out += _table(["item", "PSI", "level"], [[i["item"], i["psi"], i["level"]] for i in measured])
    for section in (score, characteristics):
        if isinstance(section, Mapping):
            out += _unavailable(section) or []
    # The score's bins always; a characteristic's only when it moved, to show where.
    for item in measured:
        if item is score or item["level"] != "stable":
            title = "Score by band" if item is score else f"{item['item']} ({item['level']})"
            out += [f"### {title}", "", *_psi_bins(item)]

    outcomes = card["outcomes"]
    window = outcomes["window"]
    out += [
        "## Observed against expected",
        "",
        f"Outcome: serious delinquency in {window['from']}..{window['to']}.",
        "",
    ]
    if outcomes["status"] == "pending":
        out += [f"Not known yet: {outcomes['message']}.", ""]
    else:
        out += [
            f"Known (the lake reaches {outcomes['as_of']}). Expected: the mean probability of "
            f"bad implied by each person's raw score. AUC {_cell(outcomes['auc'])}, "
            f"KS {_cell(outcomes['ks'])}, Gini {_cell(outcomes['gini'])}.",
            "",
        ]
        out += _table(
            ["band", "people", "bads", "observed", "expected", "z", "verdict"],
            [
                [
                    r["band"],
                    r["people"],
                    r["bads"],
                    _pct(r["observed_bad_rate"], 2),
                    _pct(r["expected_bad_rate"], 2),
                    r["z"],
                    r["verdict"],
                ]
                for r in [*outcomes["bands"], outcomes["overall"]]
            ],
        )
    out += ["## Limits", "", *[f"- {limit}" for limit in card["limits"]], ""]
    return "\n".join(out)
