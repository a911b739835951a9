"""One person re-scored now: the correction takes effect the moment it is made, not next month.

The person's newest published snapshot (the one every door reads) is computed again with the
same model, through the same code as the monthly batch (`batch.snapshot_table`, with the
person's own summaries and the items the profile says must not count left out), and
rewritten in place; a revision row keeps the score before and after and the cause, so the
person's history shows the correction and why. A person with no published snapshot yet has
nothing to revise: their first monthly run will count the correction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import ibis
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.domain.profiles import Profile
from kaimen.domain.scores import Dimension
from kaimen.features.summary_build import refresh_summaries
from kaimen.scoring import connections_added, court_penalty
from kaimen.scoring.batch import snapshot_table
from kaimen.scoring.exclusions import excluded_events
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import load_model
from kaimen.store import audit, connections, score_revisions, scores
from kaimen.store.score_revisions import Revision, SnapshotValues


def _values(table: pa.Table) -> SnapshotValues:
    """The one row of a single person's snapshot table."""
    (row,) = table.to_pylist()
    return SnapshotValues(
        score=row["score"],
        band=row["band"],
        thin_file=bool(row["thin_file"]),
        sub_scores={d: row[d.value] for d in Dimension},
        reasons_json=row["reasons"],
        points_json=row["points"],
    )


def rescore_person(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    person_id: str,
    cause: str,
    cause_ref: str,
    note: str,
    actor: str,
    now: dt.datetime | None = None,
) -> Revision | None:
    """Re-score `person_id` at the month of their newest published snapshot and publish the
    result in place; None when they have no published snapshot."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        snapshot = scores.latest(store, person_id)
    if snapshot is None:
        return None
    model = load_model(engine, snapshot.model_version, lake_root=lake_root)
    # What the batch would read if it ran now: every lake file summarised.
    refresh_summaries(engine, backend, lake_root, now)
    with engine.connect() as store:
        excluded = excluded_events(store, lake_root, profile, person_id)
        deductions = court_penalty.deductions(store, profile, person_id)
    paths = summary_paths(engine, lake_root)
    enrolled = pa.table({"person_id": pa.array([person_id], pa.string())})
    table = snapshot_table(
        backend, paths, snapshot.month, enrolled, model, now, excluded, deductions, [person_id]
    )
    added = connections_added.add_friends(
        engine, backend, lake_root, profile, snapshot.month, table, [person_id]
    )
    values = _values(added.table)
    # What friends added, kept with the revised snapshot (none: not opted in, or no score).
    rows = added.points.to_pylist()
    points = None
    if rows:
        row = rows[0]
        points = connections.SnapshotPoints(
            row["points"], row["friends_counted"], row["points_before_band"]
        )
    with engine.begin() as store:
        revision = score_revisions.revise(
            store,
            person_id,
            snapshot.month,
            snapshot.model_version,
            values,
            cause,
            cause_ref,
            note,
            now,
        )
        if revision is not None:
            connections.replace_points(
                store, person_id, snapshot.month, snapshot.model_version, points
            )
            audit.append(
                store,
                actor,
                "scores.revised",
                subject=person_id,
                details={
                    "month": snapshot.month,
                    "model": snapshot.model_version,
                    "cause": cause,
                    "cause_ref": cause_ref,
                    "score_before": revision.score_before,
                    "score_after": revision.score_after,
                },
                now=now,
            )
    return revision


def rescore_people(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    person_ids: Iterable[str],
    cause: str,
    cause_ref: str,
    note: str,
    actor: str,
    now: dt.datetime | None = None,
) -> list[Revision]:
    """`rescore_person` for each of the (few) people a correction touched."""
    revisions = []
    for person_id in dict.fromkeys(person_ids):
        revision = rescore_person(
            engine, backend, lake_root, profile, person_id, cause, cause_ref, note, actor, now
        )
        if revision is not None:
            revisions.append(revision)
    return revisions
