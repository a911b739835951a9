"""`kaimen monitor --month YYYY-MM`: does the model still see the population it was trained on,
and do its probabilities come true? The answer is a model card (`model/model_card.py`), written
as JSON (the source) and as Markdown rendered from that JSON.

This module loads what the card needs, computes it with `model/` and writes it. Stability is
the population stability index (`model/stability.py`):

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

Outcomes are those of training: serious delinquency in M+1..M+12. They are known once the lake
reaches M+12 and that month has ended. Expected bad rate = the mean probability of bad implied
by each person's unclipped raw score (the inverse of the domain's scaling); observed = the share
who went bad (`model/evaluation.py`). Until then the card says when they will be known, and
gives no numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.domain.errors import Conflict
from kaimen.domain.model_metrics import Evaluation, ModelMetrics
from kaimen.domain.months import month_of_instant
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.features.build import features_expression
from kaimen.features.catalogue import CATALOGUE, Window
from kaimen.features.summary_build import refresh_summaries
from kaimen.model import evaluation
from kaimen.model.challenger import Challenger
from kaimen.model.model_card import (
    FORMAT,
    SCHEMA_VERSION,
    Characteristics,
    DescribedCharacteristic,
    ExcludedCharacteristic,
    IntendedUse,
    KnownOutcomes,
    LevelBounds,
    ModelCard,
    ModelSection,
    OutcomeWindow,
    PendingOutcomes,
    Population,
    Stability,
    StabilityMethod,
    TrainingData,
    Unavailable,
)
from kaimen.model.model_card_markdown import render_markdown
from kaimen.model.scorecard import Scorecard, published_score
from kaimen.model.stability import (
    ACT_ABOVE,
    PSI_EPSILON,
    STABLE_BELOW,
    StabilityItem,
    characteristic_stability,
    score_stability,
    worst_level,
)
from kaimen.scoring.datasets import OUTCOME_MONTHS, add_months, feature_arrays, labels_expression
from kaimen.scoring.fairness import latest_report
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import NoModel, read_artifact, wrap
from kaimen.scoring.training import probability_of_bad
from kaimen.store import audit, model_registry, scores
from kaimen.store.model_registry import ModelRecord
from kaimen.telemetry.steps import note_step, timed_step

# The card's records the doors render come with the service.
__all__ = ["ModelCard", "MonitoringFailed", "MonitoringReport", "Unavailable", "monitor"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# A training band thinner than this gives a loose bad-rate estimate: said in the limits.
THIN_TRAINING_BAND = 100


class MonitoringFailed(Conflict):
    """The month cannot be monitored (not published with this model, or nobody was scored)."""


@dataclass(frozen=True)
class MonitoringReport:
    card: ModelCard
    json_path: Path
    markdown_path: Path


# -- loading ------------------------------------------------------------------------------


def _model(
    engine: Engine, version: str | None, lake_root: Path
) -> tuple[ModelRecord, Scorecard | Challenger]:
    """The registered model (the champion by default), its artifact checked by its hash."""
    with engine.connect() as store:
        record = model_registry.get(store, version) if version else model_registry.champion(store)
    if record is None:
        raise NoModel(
            f"no model {version!r} is registered" if version else "no model yet: run kaimen train"
        )
    return record, read_artifact(record, lake_root)


def _lake_reach(backend: ibis.BaseBackend, paths: Sequence[Path], now: dt.datetime) -> str | None:
    """The last month that has ended and that the lake holds events for (None: empty lake)."""
    if not paths:
        return None
    latest = backend.read_parquet([str(p) for p in paths]).occurred_month.max().execute()
    if latest is None:
        return None
    ended = add_months(month_of_instant(now), -1)
    return min(str(latest), ended)


def _month_table(engine: Engine, month: str, version: str) -> tuple[pa.Table, Population]:
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
    return scored, Population(people=people, scored=scored.num_rows, thin_files=thin)


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
    # Points are stored as a list in the run's characteristics' order (domain.snapshots).
    points_sum = t.points.cast("json").unwrap_as("array<float64>").sums()
    t = t.mutate(points_sum=points_sum)
    features = features_expression(backend, paths, month).select("person_id", *names)
    t = t.left_join(features, "person_id").drop("person_id_right")
    if outcomes_as_of is not None:
        labels = labels_expression(backend, paths, month, outcomes_as_of)
        t = t.left_join(labels, "person_id").drop("person_id_right")
        # No summary rows in the window means nothing went wrong: good, as in training.
        t = t.mutate(bad=t.bad.fill_null(0))
    return backend.to_pyarrow(t.drop("points", "band", "thin_file").order_by("person_id"))


# -- the parts of the card ------------------------------------------------------------------


def _stability(
    month: str,
    population: Population,
    metrics: ModelMetrics,
    published: IntArray,
    kind: str,
    card: Scorecard | None,
    values: Mapping[str, FloatArray] | None,
) -> Stability:
    training_bands = metrics.training.bad_rate_by_band if metrics.training else ()
    score: StabilityItem | Unavailable = (
        score_stability(training_bands, published)
        if training_bands
        else Unavailable(
            unavailable="the model's training metrics hold no band counts to compare with"
        )
    )
    characteristics: tuple[StabilityItem, ...] | Unavailable = (
        Unavailable(unavailable=f"a {kind} model has no binned characteristics to compare")
        if card is None or values is None
        else characteristic_stability(card, values)
    )
    measured = (score, *(() if isinstance(characteristics, Unavailable) else characteristics))
    return Stability(
        month=month,
        population=population,
        method=StabilityMethod(
            score_bins="the five published bands; baseline: training band counts",
            characteristic_bins="the card's bins and its missing bin",
            epsilon=PSI_EPSILON,
            levels=LevelBounds(
                stable=f"< {STABLE_BELOW}",
                watch=f"{STABLE_BELOW}-{ACT_ABOVE}",
                act=f"> {ACT_ABOVE}",
            ),
        ),
        score=score,
        characteristics=characteristics,
        worst_level=worst_level(i.level for i in measured if isinstance(i, StabilityItem)),
    )


def _outcomes(
    month: str,
    reach: str | None,
    published: IntArray,
    raw: FloatArray,
    bad: IntArray | None,
) -> PendingOutcomes | KnownOutcomes:
    first, last = add_months(month, 1), add_months(month, OUTCOME_MONTHS)
    window = OutcomeWindow.model_validate({"from": first, "to": last, "months": OUTCOME_MONTHS})
    if bad is None:
        return PendingOutcomes(
            status="pending",
            window=window,
            lake_reaches=reach,
            known_after=last,
            message=(
                f"outcomes for {month} (serious delinquency in {first}..{last}) will be known "
                f"once {last} has ended and the lake holds it; "
                + (f"the lake reaches {reach}" if reach else "the lake is empty")
            ),
        )
    bands, overall = evaluation.calibration_by_band(bad, published, probability_of_bad(raw))
    auc: float | None = None
    ks: float | None = None
    note: str | None = None
    try:
        auc, ks = evaluation.auc(bad, published), evaluation.ks(bad, published)
    except ValueError as error:  # all good or all bad: ranking is undefined
        note = str(error)
    known = KnownOutcomes(
        status="known",
        window=window,
        lake_reaches=reach,
        as_of=reach,
        bands=bands,
        overall=overall,
        auc=auc,
        ks=ks,
        gini=None if auc is None else 2 * auc - 1,
    )
    # The note appears only when there is something to say.
    return known if note is None else known.model_copy(update={"note": note})


INTENDED_USE = IntendedUse(
    purpose=(
        "Rank enrolled adults by their chance of serious delinquency (a default, or a payment "
        "90 or more days late, on any bill, rent, utility or loan) in the 12 months after the "
        "score month, and give each person a score they can see, understand and contest."
    ),
    population=(
        "People enrolled on the platform with enough history to score (at least 3 repayments "
        "in 12 months and 3 months of activity); everyone else is flagged as a thin file."
    ),
    use_with=(
        "The score's reasons and the person's right to dispute any negative item; a decision "
        "about a person should never rest on the score alone."
    ),
    not_for=(
        "people with thin files, who are not scored",
        "judging people by their friends: connections are kept neutral",
        "populations or outcomes other than those above without monitoring them first",
    ),
)


def _figure(
    metrics: ModelMetrics, figure: Evaluation | None, name: str
) -> Evaluation | Unavailable | None:
    """A held-out figure for the card; None for a model trained before they were recorded."""
    if metrics.about is None:
        return None
    return figure or Unavailable(unavailable=metrics.about.get(name, "not recorded"))


def _limits(
    loaded: Scorecard | Challenger,
    training: TrainingData,
    month: str,
    stability: Stability,
    outcomes: PendingOutcomes | KnownOutcomes,
    metrics: ModelMetrics,
    rebuilt_mismatches: int,
) -> list[str]:
    """What a reader must keep in mind: the design's limits, then what this month's evidence
    and this model's training show."""
    population = stability.population
    limits = [
        f"Thin files are flagged and not scored: {population.thin_files:,} of "
        f"{population.people:,} people in {month}.",
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
    snapshots = training.snapshots or ()
    if len(snapshots) > 1:
        limits.append(
            f"Training stacks {len(snapshots)} monthly snapshots, so most people appear "
            f"{len(snapshots)} times: the effective sample is smaller than the row count."
        )
    if month in snapshots:
        limits.append(f"{month} is one of the training snapshots: it cannot show drift.")
    if month == training.out_of_time:
        limits.append(
            f"{month} is the model's out-of-time month: its outcomes were used to judge "
            "the model, so they are not new evidence."
        )
    for row in metrics.training.bad_rate_by_band if metrics.training else ():
        if row.count < THIN_TRAINING_BAND:
            limits.append(
                f"The '{row.band}' band held only {row.count} training rows: its "
                "bad rate estimate is loose."
            )
    for item in stability.measured:
        if item.level in ("watch", "act"):
            limits.append(
                f"{item.item} has shifted since training (PSI {item.psi:.4f}, "
                f"{item.level}): the model rests on a distribution the population no "
                "longer has."
            )
    calibration = (*outcomes.bands, outcomes.overall) if outcomes.status == "known" else ()
    for outcome in calibration:
        if outcome.z is not None and outcome.verdict in (
            "more bads than expected",
            "fewer bads than expected",
        ):
            where = "overall" if outcome.band == "all" else f"in '{outcome.band}'"
            limits.append(
                f"Calibration {where}: {outcome.observed_bad_rate:.2%} went bad against "
                f"{outcome.expected_bad_rate:.2%} expected (z {outcome.z:+.2f}), so the model "
                f"{'understates' if outcome.z > 0 else 'overstates'} the risk there."
            )
    if rebuilt_mismatches:
        limits.append(
            f"{rebuilt_mismatches:,} people's features rebuilt for {month} no longer give their "
            "published score (the lake changed after publication); characteristic stability "
            "uses the rebuilt values."
        )
    return limits


def _model_section(record: ModelRecord) -> ModelSection:
    return ModelSection(
        version=record.version,
        kind=record.kind,
        champion=record.champion,
        trained_at=record.trained_at.astimezone(dt.UTC).isoformat(),
        as_of=record.as_of,
        artifact=record.path,
        artifact_sha256=record.sha256,
    )


RISK = {"ascending": "rises with it", "descending": "falls with it", "auto": "unconstrained"}


def _training_data(loaded: Scorecard | Challenger) -> TrainingData:
    """The training facts the artifact records (None for any it does not)."""
    return TrainingData.model_validate(
        {key: loaded.training.get(key) for key in TrainingData.model_fields}
    )


def _description(name: str) -> str:
    return CATALOGUE[name].description if name in CATALOGUE else ""


def _characteristics(loaded: Scorecard | Challenger) -> Characteristics:
    """A scorecard gives each characteristic's IV and bins; the challenger, which has neither,
    the total gain of its splits instead."""
    on_card = (
        [
            DescribedCharacteristic(
                name=c.name,
                dimension=str(c.dimension),
                direction=c.direction,
                information_value=c.iv,
                bins=len(c.edges),
                gain=None,
                risk=RISK[c.direction],
                description=_description(c.name),
            )
            for c in loaded.characteristics
        ]
        if isinstance(loaded, Scorecard)
        else [
            DescribedCharacteristic(
                name=f.name,
                dimension=str(f.dimension),
                direction=f.monotone,
                information_value=None,
                bins=None,
                gain=f.gain,
                risk=RISK[f.monotone],
                description=_description(f.name),
            )
            for f in loaded.features
        ]
    )
    return Characteristics(
        on_card=tuple(on_card),
        excluded=tuple(
            ExcludedCharacteristic(name=name, reason=reason)
            for name, reason in sorted(loaded.excluded.items())
        ),
    )


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
    record, loaded = _model(engine, model_version, lake_root)
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
    # A scorecard's own artifact holds its metrics, hash-protected with it.
    metrics = record.metrics if card is None else ModelMetrics.model_validate(card.metrics)
    stability = _stability(
        month, population, metrics, published, record.kind, card, None if card is None else values
    )
    rebuilt_mismatches = int((~agrees).sum())
    bad = None if outcomes_as_of is None else np.asarray(table.column("bad"), dtype=np.int64)
    outcomes = _outcomes(month, reach, published, raw, bad)
    training = _training_data(loaded)

    model_card = ModelCard(
        format=FORMAT,
        schema_version=SCHEMA_VERSION,
        month=month,
        generated_at=now.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
        model=_model_section(record),
        intended_use=INTENDED_USE,
        training=training,
        characteristics=_characteristics(loaded),
        out_of_time=metrics.out_of_time or Unavailable(unavailable="not recorded"),
        stability=stability,
        outcomes=outcomes,
        limits=tuple(
            _limits(loaded, training, month, stability, outcomes, metrics, rebuilt_mismatches)
        ),
        held_out_people=_figure(metrics, metrics.held_out_people, "held_out_people"),
        out_of_window=_figure(metrics, metrics.out_of_window, "out_of_window"),
        evaluation_about=metrics.about,
    )
    fairness = latest_report(out_dir, record.version)
    if fairness is not None:
        model_card = model_card.model_copy(update={"fairness": fairness})
    json_path, markdown_path = write_card(model_card, out_dir)
    with engine.begin() as store:
        audit.append(
            store,
            actor,
            "model.monitored",
            subject=record.version,
            details={
                "month": month,
                "score_psi": stability.score.psi
                if isinstance(stability.score, StabilityItem)
                else None,
                "worst_level": stability.worst_level,
                "outcomes": outcomes.status,
                "card_sha256": hashlib.sha256(json_path.read_bytes()).hexdigest(),
            },
            now=now,
        )
    note_step(month=month, model=record.version, worst_level=stability.worst_level)
    return MonitoringReport(model_card, json_path, markdown_path)


# -- writing --------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def write_card(card: ModelCard, out_dir: Path) -> tuple[Path, Path]:
    """Write `<version>_<month>.json` and `.md` into `out_dir`; returns both paths. The
    Markdown is rendered from the JSON as written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{card.model.version}_{card.month}"
    json_path, markdown_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    text = card.to_json()
    _write_atomically(json_path, text)
    _write_atomically(markdown_path, render_markdown(ModelCard.from_json(text)))
    return json_path, markdown_path
