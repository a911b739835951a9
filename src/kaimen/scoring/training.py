"""`kaimen train --as-of YYYY-MM`: fit the scorecard on outcomes, judge it out of time.

Snapshots: the out-of-time month is the latest whose 12-month outcome window has passed
by `as_of`; the model is fitted on the three months before it, so it is judged on people
and a period it never saw. The artifact is readable JSON with its version, training window,
data fingerprint, bins, points and metrics.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.errors import KaimenError
from kaimen.features.catalogue import CATALOGUE
from kaimen.features.summary_build import refresh_summaries
from kaimen.model import artifact, evaluation
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.scorecard import Scorecard, fit_scorecard, published_score, raw_score
from kaimen.scoring.datasets import OUTCOME_MONTHS, add_months, labelled_examples
from kaimen.store import audit, model_registry, summary_manifest

TRAINING_SNAPSHOTS = 3


class NotEnoughHistory(KaimenError):
    """The lake does not reach far enough back to train as of that month."""


@dataclass(frozen=True)
class TrainingReport:
    version: str
    path: Path
    metrics: dict[str, Any]
    champion: bool


def feature_arrays(table: pa.Table) -> dict[str, npt.NDArray[np.float64]]:
    """Catalogue columns as float arrays, missing values as NaN."""
    return {
        name: pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)
        for name in CATALOGUE
        if name in table.column_names
    }


def specs() -> list[CharacteristicSpec]:
    return [CharacteristicSpec(f.name, f.dimension.value, f.monotone) for f in CATALOGUE.values()]


def fingerprint(table: pa.Table) -> str:
    """SHA-256 of the training data's content, in a canonical order."""
    ordered = table.sort_by([("snapshot", "ascending"), ("person_id", "ascending")])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as writer:
        writer.write_table(ordered.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()


def summary_paths(engine: Engine, lake_root: Path) -> list[Path]:
    with engine.connect() as store:
        return [lake_root / p for p in summary_manifest.paths(store)]


def evaluate(card: Scorecard, table: pa.Table) -> dict[str, Any]:
    """Out-of-time metrics: AUC, KS, Gini and observed bad rate per band."""
    bad = table.column("bad").to_numpy(zero_copy_only=False).astype(np.int64)
    scores = published_score(raw_score(card, feature_arrays(table)))
    auc = evaluation.auc(bad, scores)
    return {
        "rows": int(table.num_rows),
        "bad_rate": float(bad.mean()) if len(bad) else 0.0,
        "auc": round(float(auc), 4),
        "ks": round(float(evaluation.ks(bad, scores)), 4),
        "gini": round(float(2 * auc - 1), 4),
        "bad_rate_by_band": evaluation.bad_rate_by_band(bad, scores),
    }


def train(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    models_dir: Path,
    as_of: str,
    actor: str,
    now: dt.datetime | None = None,
) -> TrainingReport:
    """Train, evaluate out of time, save the artifact and register the model."""
    now = now or dt.datetime.now(dt.UTC)
    refresh_summaries(engine, backend, lake_root, now)
    paths = summary_paths(engine, lake_root)
    out_of_time = add_months(as_of, -OUTCOME_MONTHS)
    months = [add_months(out_of_time, -k) for k in range(TRAINING_SNAPSHOTS, 0, -1)]
    if not paths:
        raise NotEnoughHistory("the lake holds no events yet: ingest some first")
    first = str(backend.read_parquet([str(p) for p in paths]).occurred_month.min().execute())
    if months[0] <= first:
        raise NotEnoughHistory(
            f"training as of {as_of} needs history from before {months[0]} "
            f"(snapshots {months[0]}..{out_of_time}, outcomes to {as_of}); "
            f"the lake starts in {first}"
        )
    training = pa.concat_tables([labelled_examples(backend, paths, m, as_of) for m in months])
    test = labelled_examples(backend, paths, out_of_time, as_of)
    data_fingerprint = fingerprint(training)
    version = f"scorecard-{as_of}-{data_fingerprint[:8]}"
    bad = training.column("bad").to_numpy(zero_copy_only=False).astype(np.int64)
    card = fit_scorecard(
        feature_arrays(training),
        bad,
        specs(),
        version=version,
        training={
            "as_of": as_of,
            "snapshots": months,
            "out_of_time": out_of_time,
            "outcome_months": OUTCOME_MONTHS,
            "rows": int(training.num_rows),
            "bad_rate": float(bad.mean()),
            "data_fingerprint": data_fingerprint,
        },
    )
    metrics = {"training": evaluate(card, training), "out_of_time": evaluate(card, test)}
    card = dataclasses.replace(card, metrics=metrics)
    text = artifact.to_json(card)
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{version}.json"
    path.write_text(text)
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    with engine.begin() as store:
        existing = model_registry.get(store, version)
        if existing is None:
            model_registry.register(
                store,
                model_registry.ModelRecord(
                    version, "scorecard", str(path), sha256, now, as_of, metrics, False
                ),
            )
            audit.append(
                store, actor, "model.trained", subject=version, details={"as_of": as_of}, now=now
            )
        record = model_registry.get(store, version)
    assert record is not None
    return TrainingReport(version, path, metrics, record.champion)
