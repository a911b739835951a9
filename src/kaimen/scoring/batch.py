"""`kaimen score --month YYYY-MM`: score every enrolled person and publish the month at once.

Features are built in the engine for the whole population; the champion, of whichever kind
(`scoring.models.ScoringModel`), gives points, dimension sub-scores and reasons vectorised over
people. All snapshots and the run's publication row are written in one transaction: a crash
leaves the previous month visible, and a re-run completes. A month already published with the
same model is left as it is.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.reasons import Reason
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN, Dimension, band_of
from kaimen.domain.snapshots import Snapshot
from kaimen.features.build import build_features
from kaimen.features.catalogue import Window
from kaimen.features.summary_build import refresh_summaries
from kaimen.model.library_versions import VersionDrift, version_drift
from kaimen.model.scorecard import published_score
from kaimen.scoring.datasets import feature_arrays
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import NoModel, Scored, load_model, wrap
from kaimen.store import audit, people, scores
from kaimen.telemetry.steps import note_step, timed_step

__all__ = ["NoModel", "ScoreReport", "load_model", "score_month"]

BAND_NAMES = {score: band_of(score).name for score in range(SCORE_MIN, SCORE_MAX + 1)}


@dataclass(frozen=True)
class ScoreReport:
    month: str
    model_version: str
    people: int
    scored: int
    thin_files: int
    already_published: bool
    bands: dict[str, int]
    # Libraries whose versions differ from those the model was fitted under.
    library_drift: tuple[VersionDrift, ...] = ()


def _snapshots(
    month: str,
    version: str,
    now: dt.datetime,
    ids: list[str],
    thin: list[bool],
    published: list[int],
    names: tuple[str, ...],
    scored: Scored,
    values: Mapping[str, npt.NDArray[np.float64]],
) -> Iterator[Snapshot]:
    """Each person's snapshot, made as the store takes it, so only rows are held at once.
    Every column is converted to Python values for all people first: per person there is
    only the making of the records."""
    dimensions = tuple(Dimension)
    sub_scores = np.column_stack(
        [np.rint(scored.dimensions[d]).astype(np.int64) for d in dimensions]
    ).tolist()
    points = scored.points.tolist()
    for i, person_id in enumerate(ids):
        if thin[i]:
            unknown = dict.fromkeys(dimensions)
            yield Snapshot(person_id, month, version, now, None, None, True, unknown, (), {})
            continue
        reasons = []
        for name, lost in scored.reasons[i]:
            value = float(values[name][i])
            reasons.append(Reason(name, int(lost), None if math.isnan(value) else value))
        yield Snapshot(
            person_id,
            month,
            version,
            now,
            published[i],
            BAND_NAMES[published[i]],
            False,
            dict(zip(dimensions, sub_scores[i], strict=True)),
            tuple(reasons),
            dict(zip(names, points[i], strict=True)),
        )


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause the cycle collector while records are made a person at a time. They hold no
    cycles, so reference counting frees them all the same; meanwhile the collector would
    scan the population's arrays over and over (measured: a third of the publishing time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@timed_step("score")
def score_month(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    month: str,
    actor: str,
    now: dt.datetime | None = None,
    model_version: str | None = None,
) -> ScoreReport:
    """Score everyone enrolled as of the end of `month` and publish the snapshots."""
    now = now or dt.datetime.now(dt.UTC)
    Window(month)  # validates the month
    version, loaded = load_model(engine, model_version)
    model = wrap(loaded)
    drift = version_drift(loaded.library_versions)
    note_step(month=month, model=version)
    with engine.connect() as store:
        if scores.is_published(store, month, version):
            return ScoreReport(month, version, 0, 0, 0, True, {}, drift)
        enrolled = people.active_birth_dates(store).select(["person_id"])
    refresh_summaries(engine, backend, lake_root, now)
    with timed_step("build_features"):
        features = build_features(backend, summary_paths(engine, lake_root), month)
    table = enrolled.join(features, "person_id", join_type="left outer").sort_by("person_id")
    thin = pc.fill_null(table.column("thin_file"), True).to_pylist()
    values = feature_arrays(table)
    scored = model.score(values)
    published = published_score(scored.raw).tolist()
    ids = table.column("person_id").to_pylist()
    thin_files = sum(thin)
    bands = Counter(
        BAND_NAMES[s] for s, is_thin in zip(published, thin, strict=True) if not is_thin
    )
    snapshots = _snapshots(month, version, now, ids, thin, published, model.names, scored, values)
    with timed_step("publish"), engine.begin() as store, _cycle_collector_paused():
        note_step(people=len(ids), thin_files=int(thin_files))
        everyone = scores.publish(store, month, version, snapshots, now)
        audit.append(
            store,
            actor,
            "scores.published",
            subject=month,
            details={"model": version, "people": everyone, "thin_files": thin_files},
            now=now,
        )
    return ScoreReport(
        month,
        version,
        everyone,
        everyone - thin_files,
        thin_files,
        False,
        dict(sorted(bands.items())),
        drift,
    )
