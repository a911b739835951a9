"""`kaimen train --as-of YYYY-MM`: fit the scorecard and the LightGBM challenger on outcomes,
judge both on people they never saw, side by side.

People: one in HELD_OUT_EVERY people (by a hash of their id, so the same people every time)
is held out of every fit. Snapshots: the out-of-time month T is the latest whose 12-month
outcome window has passed by `as_of`; both models are fitted on the other people at the
three months before it. Figures (`ModelMetrics`, each described in its `about`):

- training: the fitted rows themselves (in sample);
- held-out people: the held-out people at the training snapshots (same period, new people);
- out of time: the held-out people at T. New people at a later snapshot, but not an unseen
  period: T's outcome window (T+1..T+12) overlaps the training outcome windows by up to 11
  months, since the latest training snapshot's outcomes run to T+11;
- out of window: the same recipe refitted on the three snapshots ending 12 months before T,
  whose outcome windows all end by T, judged on the held-out people at T: outcomes no fit
  saw. It needs OUTCOME_MONTHS + TRAINING_SNAPSHOTS more months of history than training
  itself; with less it is not computed and `about` says so.

Each artifact is readable JSON with its version, training window, data fingerprint, model
and metrics; its metrics hold both models' results.

Both models are registered. Neither replaces the champion: the first model ever registered
(the scorecard of the first training) is champion until `kaimen promote` says otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.domain.errors import Conflict
from kaimen.domain.model_metrics import ComparedModel, Comparison, Evaluation, ModelMetrics
from kaimen.domain.months import month_of_instant
from kaimen.domain.scores import FACTOR, OFFSET
from kaimen.engines.parquet_files import read_parquet
from kaimen.features.catalogue import CATALOGUE
from kaimen.features.summary_build import refresh_summaries
from kaimen.model import evaluation
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.challenger import Challenger, fit_challenger
from kaimen.model.scorecard import Scorecard, fit_scorecard, published_score
from kaimen.scoring.datasets import OUTCOME_MONTHS, add_months, feature_arrays, labelled_examples
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import ScoringModel, to_json, wrap
from kaimen.store import audit, lake_manifest, model_registry
from kaimen.telemetry.steps import note_step, timed_step

TRAINING_SNAPSHOTS = 3
# One person in this many is held out of every fit (about 20%).
HELD_OUT_EVERY = 5


ABOUT = {
    "training": "the rows the model was fitted on (in sample, optimistic)",
    "held_out_people": "people held out of training, at the training snapshots",
    "out_of_time": (
        "people held out of training, at the out-of-time month after the training snapshots; "
        "its outcome window overlaps the training outcome windows by up to 11 months"
    ),
    "out_of_window": (
        "the same recipe refitted on snapshots whose outcome windows all end by the "
        "out-of-time month, judged on the held-out people there: outcomes no fit saw."
    ),
}


class NotEnoughHistory(Conflict):
    """The lake does not reach far enough back to train as of that month."""


@dataclass(frozen=True)
class TrainedModel:
    version: str
    kind: str
    path: Path
    metrics: ModelMetrics
    champion: bool


@dataclass(frozen=True)
class TrainingReport:
    """Both models of one training (the scorecard first) and the champion after it."""

    as_of: str
    out_of_time: str
    models: tuple[TrainedModel, ...]
    champion: str | None

    def of_kind(self, kind: str) -> TrainedModel:
        return next(m for m in self.models if m.kind == kind)


def specs() -> list[CharacteristicSpec]:
    return [CharacteristicSpec(f.name, f.dimension.value, f.monotone) for f in CATALOGUE.values()]


def fingerprint(table: pa.Table) -> str:
    """SHA-256 of the training data's content, in a canonical order."""
    ordered = table.sort_by([("snapshot", "ascending"), ("person_id", "ascending")])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as writer:
        writer.write_table(ordered.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()


def held_out(person_ids: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each person is held out of training: SHA-256 of their id, one in HELD_OUT_EVERY.

    A hash, not a random draw, so a person is held out in every training and every snapshot,
    and the monitoring curves can find the same people again."""
    ids = np.asarray(person_ids, dtype=object)
    return np.array(
        [
            int.from_bytes(hashlib.sha256(str(i).encode()).digest()[:8], "big") % HELD_OUT_EVERY
            == 0
            for i in ids.tolist()
        ],
        dtype=bool,
    )


def people_rows(table: pa.Table, held: bool) -> pa.Table:
    """The rows of held-out people (`held`) or of the others."""
    mask = held_out(table.column("person_id").to_numpy(zero_copy_only=False))
    return table.filter(pa.array(mask if held else ~mask))


def _fit_both(
    training: pa.Table, as_of: str, facts: dict[str, object]
) -> list[Scorecard | Challenger]:
    """The scorecard and the challenger fitted on `training`'s rows."""
    data_fingerprint = str(facts["data_fingerprint"])
    bad = training.column("bad").to_numpy(zero_copy_only=False).astype(np.int64)
    features = feature_arrays(training)
    return [
        fit_scorecard(
            features,
            bad,
            specs(),
            version=f"scorecard-{as_of}-{data_fingerprint[:8]}",
            training=facts,
        ),
        fit_challenger(
            features,
            bad,
            specs(),
            version=f"lightgbm-{as_of}-{data_fingerprint[:8]}",
            training=facts,
            # A person is in up to three snapshots: keep them within one validation fold.
            groups=training.column("person_id").to_numpy(zero_copy_only=False),
        ),
    ]


def probability_of_bad(raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The bad probability a raw (unclipped) score stands for: the inverse of the scaling."""
    log_odds_good = (np.asarray(raw, dtype=np.float64) - OFFSET) / FACTOR
    # 1 / (1 + e^x) without overflow for any x.
    p: npt.NDArray[np.float64] = np.exp(-np.logaddexp(0.0, log_odds_good))
    return p


class NotEnoughOutcomes(Conflict):
    """A set the models are judged on holds only good or only bad outcomes: no AUC, no KS, and
    no honest way to choose between the models."""


def evaluate(model: ScoringModel, table: pa.Table, what: str = "the evaluation set") -> Evaluation:
    """AUC, KS and Gini of the published score, and observed against expected bad rate per
    band (`bad_rate_by_band`)."""
    bad = table.column("bad").to_numpy(zero_copy_only=False).astype(np.int64)
    if bad.size == 0 or bad.all() or not bad.any():
        raise NotEnoughOutcomes(
            f"{what} holds {bad.size:,} people with {int(bad.sum()):,} bad outcomes: judging a "
            "model needs both good and bad outcomes; enrol more people (a few thousand) or "
            "train when more history has arrived"
        )
    raw = model.raw_scores(feature_arrays(table))
    return evaluation.evaluate(bad, published_score(raw), probability_of_bad(raw))


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a reader never sees half an artifact."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


# The least a model is fitted on: as many examples, and as many of each outcome. Thirty
# people (66 examples, 7 bad) were fitted and crowned champion with a perfect AUC on 8
# held-out people; the tests' smallest world (300 people over 18 months) has 800 and 30.
MIN_EXAMPLES = 200
MIN_EACH_OUTCOME = 20


def _check_outcomes_known(engine: Engine, as_of: str, now: dt.datetime) -> None:
    """NotEnoughHistory for an `as_of` whose outcomes are not all known: a month that has not
    ended, or one the lake does not reach yet (outcomes past the lake's end would all count
    as good, and the model learn a bad rate too low)."""
    current = month_of_instant(now)
    if as_of >= current:
        raise NotEnoughHistory(
            f"training as of {as_of} needs its outcomes up to the end of {as_of}, which has not "
            f"ended yet: train as of {add_months(current, -1)} at the latest"
        )
    with engine.connect() as store:
        span = lake_manifest.month_span(store)
    if span is not None and span[1] < as_of:
        raise NotEnoughHistory(
            f"training as of {as_of} needs outcomes up to {as_of}; the lake reaches {span[1]}"
        )


def _check_enough_examples(as_of: str, bad: npt.NDArray[np.int64]) -> None:
    bads = int(bad.sum())
    goods = int(bad.size) - bads
    if bad.size < MIN_EXAMPLES or min(bads, goods) < MIN_EACH_OUTCOME:
        raise NotEnoughOutcomes(
            f"training as of {as_of} has {bad.size:,} examples with {bads:,} bad outcomes: a "
            f"model needs at least {MIN_EXAMPLES:,} examples with {MIN_EACH_OUTCOME} of each "
            "outcome; enrol more people (a few thousand) or train when more history has arrived"
        )


@timed_step("train")
def train(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    models_dir: Path,
    as_of: str,
    actor: str,
    now: dt.datetime | None = None,
) -> TrainingReport:
    """Train both models, evaluate them out of time, save their artifacts, register them."""
    now = now or dt.datetime.now(dt.UTC)
    _check_outcomes_known(engine, as_of, now)
    refresh_summaries(engine, backend, lake_root, now)
    paths = summary_paths(engine, lake_root)
    out_of_time = add_months(as_of, -OUTCOME_MONTHS)
    months = [add_months(out_of_time, -k) for k in range(TRAINING_SNAPSHOTS, 0, -1)]
    if not paths:
        raise NotEnoughHistory("the lake holds no events yet: ingest some first")
    first = str(read_parquet(backend, paths).occurred_month.min().execute())
    if months[0] <= first:
        raise NotEnoughHistory(
            f"training as of {as_of} needs history from before {months[0]} "
            f"(snapshots {months[0]}..{out_of_time}, outcomes to {as_of}); "
            f"the lake starts in {first}"
        )
    snapshots = pa.concat_tables([labelled_examples(backend, paths, m, as_of) for m in months])
    training, held_out_snapshots = people_rows(snapshots, False), people_rows(snapshots, True)
    test = people_rows(labelled_examples(backend, paths, out_of_time, as_of), True)
    data_fingerprint = fingerprint(training)
    bad = training.column("bad").to_numpy(zero_copy_only=False).astype(np.int64)
    _check_enough_examples(as_of, bad)
    facts = {
        "as_of": as_of,
        "snapshots": months,
        "out_of_time": out_of_time,
        "outcome_months": OUTCOME_MONTHS,
        "rows": int(training.num_rows),
        "held_out_people": f"1 in {HELD_OUT_EVERY} (SHA-256 of the person id)",
        "bad_rate": float(bad.mean()),
        "data_fingerprint": data_fingerprint,
    }
    fitted = _fit_both(training, as_of, facts)
    # The recipe again, on snapshots whose outcome windows all end by the out-of-time month.
    back = [add_months(m, -OUTCOME_MONTHS) for m in months]
    about = dict(ABOUT)
    backtest: dict[str, Evaluation] = {}
    if back[0] > first:
        earlier = people_rows(
            pa.concat_tables([labelled_examples(backend, paths, m, out_of_time) for m in back]),
            False,
        )
        refits = _fit_both(earlier, as_of, {**facts, "snapshots": back})
        backtest = {
            m.version: evaluate(wrap(r), test, f"the held-out people at {out_of_time}")
            for m, r in zip(fitted, refits, strict=True)
        }
        about["out_of_window"] += f" Snapshots {back[0]}..{back[-1]}."
    else:
        about["out_of_window"] = (
            f"not computed: it needs history from before {back[0]} "
            f"(snapshots {back[0]}..{back[-1]}); the lake starts in {first}"
        )
    evaluations = {
        m.version: (
            evaluate(wrap(m), training, "the training snapshots"),
            evaluate(wrap(m), held_out_snapshots, "the held-out people's snapshots"),
            evaluate(wrap(m), test, f"the held-out people at {out_of_time}"),
        )
        for m in fitted
    }
    comparison = Comparison(
        out_of_time=out_of_time,
        models=tuple(
            ComparedModel(
                version=m.version,
                kind=wrap(m).kind,
                auc=evaluations[m.version][2].auc,
                ks=evaluations[m.version][2].ks,
                gini=evaluations[m.version][2].gini,
            )
            for m in fitted
        ),
    )
    metrics = {
        version: ModelMetrics(
            training=on_training,
            out_of_time=on_test,
            comparison=comparison,
            held_out_people=on_people,
            out_of_window=backtest.get(version),
            about=about,
        )
        for version, (on_training, on_people, on_test) in evaluations.items()
    }
    # The artifact holds the same metrics as the registry, as JSON.
    fitted = [
        dataclasses.replace(m, metrics=metrics[m.version].model_dump(mode="json")) for m in fitted
    ]

    models_dir.mkdir(parents=True, exist_ok=True)
    home = model_registry.home_of(lake_root)
    with engine.begin() as store:
        for model in fitted:
            text = to_json(model)
            sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
            path = models_dir / f"{model.version}.json"
            existing = model_registry.get(store, model.version)
            if existing is not None:
                # Trained before on the same data: the registered artifact stands. Only a
                # lost file is put back, and only with the exact registered bytes.
                registered = model_registry.artifact_path(existing.path, home)
                if not registered.exists() and existing.sha256 == sha256:
                    _write(registered, text)
                continue
            _write(path, text)
            kind = wrap(model).kind
            model_registry.register(
                store,
                model_registry.ModelRecord(
                    model.version,
                    kind,
                    model_registry.stored_path(path, home),
                    sha256,
                    now,
                    as_of,
                    metrics[model.version],
                    False,
                ),
            )
            audit.append(
                store,
                actor,
                "model.trained",
                subject=model.version,
                details={"as_of": as_of, "kind": kind},
                now=now,
            )
        records = [model_registry.get(store, m.version) for m in fitted]
        champion = model_registry.champion(store)
    note_step(as_of=as_of, rows=int(training.num_rows), models=len(fitted))
    return TrainingReport(
        as_of,
        out_of_time,
        tuple(
            TrainedModel(
                r.version,
                r.kind,
                model_registry.artifact_path(r.path, home),
                r.metrics,
                r.champion,
            )
            for r in records
            if r is not None
        ),
        champion.version if champion else None,
    )
