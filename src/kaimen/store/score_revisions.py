"""Revising a published snapshot in place, between monthly runs, and the record of why.

A person's published snapshot for a month is the one every door reads; when a correction
changes what counts (a dispute answered, a court listing entered or lifted, an identity link
undone), the person is re-scored at once and the snapshot row is rewritten, and a revision
row keeps the score before and after and the cause, for the person's history.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from kaimen.domain.scores import Dimension
from kaimen.store.tables import score_revisions, score_snapshots


@dataclass(frozen=True)
class Revision:
    person_id: str
    month: str
    model_version: str
    revised_at: dt.datetime
    score_before: int | None
    band_before: str | None
    score_after: int | None
    band_after: str | None
    cause: str
    cause_ref: str
    note: str


def current(
    connection: Connection, person_id: str, month: str, model_version: str
) -> tuple[int | None, str | None] | None:
    """The (score, band) the snapshot holds now, or None when there is no snapshot."""
    c = score_snapshots.c
    row = connection.execute(
        select(c.score, c.band).where(
            c.person_id == person_id, c.month == month, c.model_version == model_version
        )
    ).first()
    return None if row is None else (row.score, row.band)


@dataclass(frozen=True)
class SnapshotValues:
    """What a re-score computed for one person: the snapshot's columns, reasons and points
    as the JSON text the engine made."""

    score: int | None
    band: str | None
    thin_file: bool
    sub_scores: dict[Dimension, int | None]
    reasons_json: str
    points_json: str


def revise(
    connection: Connection,
    person_id: str,
    month: str,
    model_version: str,
    values: SnapshotValues,
    cause: str,
    cause_ref: str,
    note: str,
    now: dt.datetime,
) -> Revision | None:
    """Rewrite the person's snapshot with `values` and record the revision, in the caller's
    transaction. None (and nothing written) when the person has no snapshot for that month
    and model."""
    before = current(connection, person_id, month, model_version)
    if before is None:
        return None
    c = score_snapshots.c
    connection.execute(
        update(score_snapshots)
        .where(c.person_id == person_id, c.month == month, c.model_version == model_version)
        .values(
            score=values.score,
            band=values.band,
            thin_file=values.thin_file,
            reasons=json.loads(values.reasons_json),
            points=json.loads(values.points_json),
            **{d.value: values.sub_scores.get(d) for d in Dimension},
        )
    )
    revision = Revision(
        person_id,
        month,
        model_version,
        now,
        before[0],
        before[1],
        values.score,
        values.band,
        cause,
        cause_ref,
        note,
    )
    connection.execute(
        insert(score_revisions).values(
            person_id=person_id,
            month=month,
            model_version=model_version,
            revised_at=now,
            score_before=revision.score_before,
            band_before=revision.band_before,
            score_after=revision.score_after,
            band_after=revision.band_after,
            cause=cause,
            cause_ref=cause_ref,
            note=note,
        )
    )
    return revision


def of_person(connection: Connection, person_id: str) -> list[Revision]:
    """The person's revisions, newest first."""
    c = score_revisions.c
    rows = connection.execute(
        select(score_revisions)
        .where(c.person_id == person_id)
        .order_by(c.revised_at.desc(), c.revision_id.desc())
    )
    return [
        Revision(
            r.person_id,
            r.month,
            r.model_version,
            r.revised_at,
            r.score_before,
            r.band_before,
            r.score_after,
            r.band_after,
            r.cause,
            r.cause_ref,
            r.note,
        )
        for r in rows
    ]
