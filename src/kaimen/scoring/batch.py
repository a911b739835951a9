"""`kaimen score --month YYYY-MM`: score every enrolled person and publish the month at once.

A scorecard champion is compiled to engine expressions (`model.card_snapshots`): features,
points, score, band, sub-scores and reasons (as JSON text) for the whole population come out
of one engine query as an Arrow table, with no per-person Python. The LightGBM challenger is
scored in NumPy (TreeSHAP) and its records made a person at a time. All snapshots and the
run's publication row are bulk-written in one transaction (`store.month_publication`): a crash
leaves the previous month visible, and a re-run completes. A month already published with
the same model is left as it is.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.domain import profiles
from kaimen.domain.errors import Conflict
from kaimen.domain.months import month_of_instant
from kaimen.domain.profiles import Profile
from kaimen.domain.reasons import Reason
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN, Dimension, band_of
from kaimen.domain.snapshots import Snapshot
from kaimen.engines.parquet_files import to_arrow
from kaimen.features.build import build_features, features_expression, of_enrolled
from kaimen.features.catalogue import Window
from kaimen.features.exclusions import ExcludedEvents
from kaimen.features.one_person import runs_here
from kaimen.features.summary_build import refresh_summaries
from kaimen.model.card_snapshots import snapshot_columns
from kaimen.model.challenger import Challenger
from kaimen.model.library_versions import VersionDrift, version_drift
from kaimen.model.scorecard import Scorecard, published_score
from kaimen.scoring import connections_added, court_penalty
from kaimen.scoring.court_penalty import Deductions
from kaimen.scoring.datasets import add_months, feature_arrays
from kaimen.scoring.exclusions import excluded_events
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import NoModel, Scored, ScoringModel, load_model, wrap
from kaimen.scoring.person_snapshots import person_snapshots
from kaimen.store import (
    audit,
    connections,
    lake_manifest,
    month_publication,
    people,
    score_publishing,
    scores,
)
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
    # The model whose run of the month is served (the one published last): another than
    # `model_version` when a month already published with it was published again since.
    served_version: str | None = None


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


def _features(
    backend: ibis.BaseBackend,
    paths: list[Path],
    month: str,
    enrolled: pa.Table,
    excluded: ExcludedEvents,
    person_ids: Sequence[str] | None = None,
) -> ibis.Table:
    """Every person of `enrolled` with their features at `month` (null where nothing is
    known), the excluded events left out."""
    people = ibis.memtable(enrolled)
    if paths:
        features = features_expression(backend, paths, month, person_ids, excluded)
    else:
        features = ibis.memtable(build_features(backend, paths, month))
    return of_enrolled(people, features)


def _challenger_snapshots(
    model: ScoringModel,
    backend: ibis.BaseBackend,
    features: ibis.Table,
    month: str,
    version: str,
    now: dt.datetime,
) -> pa.Table:
    """The snapshot table of a model scored outside the engine (the LightGBM challenger:
    TreeSHAP runs in NumPy), made from its records."""
    table = to_arrow(backend, features.order_by("person_id"))
    thin = pc.fill_null(table.column("thin_file"), True).to_pylist()
    values = feature_arrays(table)
    scored = model.score(values)
    published = published_score(scored.raw).tolist()
    ids = table.column("person_id").to_pylist()
    rows = _snapshots(month, version, now, ids, thin, published, model.names, scored, values)
    return score_publishing.snapshot_table(rows, model.names)


def snapshot_table(
    backend: ibis.BaseBackend,
    paths: list[Path],
    month: str,
    enrolled: pa.Table,
    model: tuple[str, Scorecard | Challenger],
    now: dt.datetime,
    excluded: ExcludedEvents,
    deductions: Deductions,
    person_ids: Sequence[str] | None = None,
) -> pa.Table:
    """The snapshot rows of `enrolled` (everyone, or the people of `person_ids`) at
    `month`, ordered by person, with the excluded events left out and the court listings'
    deductions made: one code path for the monthly batch and the single-person re-score,
    so a re-scored person gets what the batch would give them."""
    version, loaded = model
    if isinstance(loaded, Scorecard) and person_ids is not None and runs_here(backend, paths):
        # A few people (a re-score): the same expression, compiled once a month and card.
        table = person_snapshots(backend, paths, month, enrolled, loaded, excluded, person_ids)
        return court_penalty.apply(table, deductions)
    features = _features(backend, paths, month, enrolled, excluded, person_ids)
    if isinstance(loaded, Scorecard):
        # The card runs in the engine, in the same query as the features.
        table = to_arrow(backend, snapshot_columns(loaded, features).order_by("person_id"))
    else:
        table = _challenger_snapshots(wrap(loaded), backend, features, month, version, now)
    return court_penalty.apply(table, deductions)


def _enrolled(engine: Engine) -> pa.Table:
    with engine.connect() as store:
        return people.active_ids(store)


class MonthNotScorable(Conflict):
    """A month that cannot be scored: not over yet, or before the lake's first events."""


def _check_scorable(engine: Engine, month: str, now: dt.datetime) -> None:
    """`MonthNotScorable` for a month that has not ended by `now` (its scores would be
    published from part of its events, and a published month is never run again) or that
    lies before the lake's first events (everyone would be published as a thin file, in
    place of the scores served)."""
    current = month_of_instant(now)
    if month >= current:
        raise MonthNotScorable(
            f"{month} has not ended yet: a month is scored once it is over "
            f"(the latest that is: {add_months(current, -1)})"
        )
    with engine.connect() as store:
        first = lake_manifest.first_month(store)
    if first is not None and month < first:
        raise MonthNotScorable(
            f"the lake begins at {first}: there are no events to score {month} on"
        )


@timed_step("score")
def score_month(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    month: str,
    actor: str,
    now: dt.datetime | None = None,
    model_version: str | None = None,
    profile: Profile | None = None,
) -> ScoreReport:
    """Score everyone enrolled as of the end of `month` and publish the snapshots; items
    the profile says must not count (see `scoring.exclusions`) are left out."""
    now = now or dt.datetime.now(dt.UTC)
    profile = profile or profiles.load()
    Window(month)  # validates the month
    _check_scorable(engine, month, now)
    version, loaded = load_model(engine, model_version, lake_root=lake_root)
    drift = version_drift(loaded.library_versions)
    note_step(month=month, model=version)
    with engine.connect() as store:
        if scores.is_published(store, month, version):
            served = scores.published_models(store, month)[-1]
            return ScoreReport(month, version, 0, 0, 0, True, {}, drift, served)
    # Everyone enrolled is read (in the store's C, 0.2 s at a million people) while the
    # engine summarises the new events.
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(_enrolled, engine)
        refresh_summaries(engine, backend, lake_root, now)
        enrolled = reading.result()
    with engine.connect() as store:
        excluded = excluded_events(store, lake_root, profile)
        deductions = court_penalty.deductions(store, profile)
    paths = summary_paths(engine, lake_root)
    with timed_step("features_and_scores"):
        table = snapshot_table(
            backend, paths, month, enrolled, (version, loaded), now, excluded, deductions
        )
        added = connections_added.add_friends(engine, backend, lake_root, profile, month, table)
        table = added.table
    thin_files = pc.sum(table.column("thin_file")).as_py() or 0
    scored_bands = pc.value_counts(pc.drop_null(table.column("band"))).to_pylist()
    bands = {str(b["values"]): int(b["counts"]) for b in scored_bands}
    try:
        with timed_step("publish"), engine.begin() as store:
            note_step(people=table.num_rows, thin_files=int(thin_files))
            names = wrap(loaded).names
            everyone = month_publication.publish(store, month, version, table, now, names).people
            connections.write_points(store, month, version, added.points)
            audit.append(
                store,
                actor,
                "scores.published",
                subject=month,
                details={"model": version, "people": everyone, "thin_files": thin_files},
                now=now,
            )
    except IntegrityError:
        # Another run of the same month and model published first (two `kaimen score` at
        # once): this one's transaction is undone, and the month stands as that one left it.
        with engine.connect() as store:
            if not scores.is_published(store, month, version):
                raise
            served = scores.published_models(store, month)[-1]
        return ScoreReport(month, version, 0, 0, 0, True, {}, drift, served)
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
