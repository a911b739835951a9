"""Connections in the store: each person's two choices, and what friends added to each
published snapshot (so that the snapshot's base score, before friends, is known).

A person with no `connection_choices` row has made neither choice: both are off.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
from sqlalchemy import Connection, Integer, and_, delete, func, insert, select, update

from kaimen.store.tables import (
    connection_choices,
    connection_points,
    people,
    score_runs,
    score_snapshots,
)

Choice = Literal["counts_friends", "lends_score"]
# What friends would add to each person (before the band rule), as the engine computes it.
FRIENDS_SCHEMA = pa.schema(
    [("person_id", pa.string()), ("points", pa.int64()), ("friends_counted", pa.int64())]
)
# What friends added to each snapshot, as stored: `points` after the band rule.
POINTS_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("points", pa.int64()),
        ("friends_counted", pa.int64()),
        ("points_before_band", pa.int64()),
    ]
)
BASE_SCHEMA = pa.schema([("person_id", pa.string()), ("base_score", pa.int64())])


@dataclass(frozen=True)
class Choices:
    """A person's two choices, each with when and by whom it was last set (None: never)."""

    person_id: str
    counts_friends: bool = False
    counts_friends_at: dt.datetime | None = None
    counts_friends_by: str | None = None
    lends_score: bool = False
    lends_score_at: dt.datetime | None = None
    lends_score_by: str | None = None


def choices_of(connection: Connection, person_id: str) -> Choices:
    row = connection.execute(
        select(connection_choices).where(connection_choices.c.person_id == person_id)
    ).first()
    if row is None:
        return Choices(person_id)
    return Choices(
        row.person_id,
        row.counts_friends,
        row.counts_friends_at,
        row.counts_friends_by,
        row.lends_score,
        row.lends_score_at,
        row.lends_score_by,
    )


def set_choice(
    connection: Connection, person_id: str, choice: Choice, on: bool, actor: str, now: dt.datetime
) -> Choices:
    """Set one choice (the caller holds the person's row lock, so two changes take turns)."""
    values = {choice: on, f"{choice}_at": now, f"{choice}_by": actor}
    changed = connection.execute(
        update(connection_choices)
        .where(connection_choices.c.person_id == person_id)
        .values(**values)
    ).rowcount
    if changed == 0:
        connection.execute(insert(connection_choices).values(person_id=person_id, **values))
    return choices_of(connection, person_id)


def _ids(connection: Connection, choice: Choice, person_ids: list[str] | None) -> list[str]:
    c = connection_choices.c
    query = (
        select(c.person_id)
        .join(people, people.c.person_id == c.person_id)
        .where(c[choice], people.c.status == "active")
    )
    if person_ids is not None:
        query = query.where(c.person_id.in_(person_ids))
    return list(connection.execute(query).scalars())


def opted_in(connection: Connection, person_ids: list[str] | None = None) -> pa.Table:
    """person_id of every active person whose friends count for them (of `person_ids`)."""
    ids = _ids(connection, "counts_friends", person_ids)
    return pa.table({"person_id": pa.array(ids, pa.string())})


def lender_ids(connection: Connection, person_ids: list[str] | None = None) -> list[str]:
    """The active people who lend their score to their friends (of `person_ids`)."""
    return _ids(connection, "lends_score", person_ids)


def run_before(connection: Connection, month: str) -> tuple[str, str] | None:
    """(month, model version) of the newest published run before `month`: the latest
    published model of the newest month published before it."""
    row = connection.execute(
        select(score_runs.c.month, score_runs.c.model_version)
        .where(score_runs.c.month < month)
        .order_by(score_runs.c.month.desc(), score_runs.c.published_at.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.month, row.model_version)


def base_scores(
    connection: Connection, month: str, model_version: str, person_ids: list[str] | None = None
) -> pa.Table:
    """(person_id, base_score) of the active people lending their score (of `person_ids`)
    with a score in that run: the published score less what their own friends added."""
    s, p, c = score_snapshots.c, connection_points.c, connection_choices.c
    base = s.score - func.coalesce(p.points, 0)
    query = (
        select(s.person_id, base.cast(Integer))
        .join(connection_choices, c.person_id == s.person_id)
        .join(people, people.c.person_id == s.person_id)
        .outerjoin(
            connection_points,
            and_(
                p.person_id == s.person_id,
                p.month == s.month,
                p.model_version == s.model_version,
            ),
        )
        .where(
            s.month == month,
            s.model_version == model_version,
            s.score.is_not(None),
            c.lends_score,
            people.c.status == "active",
        )
    )
    if person_ids is not None:
        query = query.where(s.person_id.in_(person_ids))
    rows = connection.execute(query).all()
    ids, scores = [list(column) for column in zip(*rows, strict=True)] or [[], []]
    return pa.table({"person_id": ids, "base_score": scores}, schema=BASE_SCHEMA)


def write_points(connection: Connection, month: str, model_version: str, table: pa.Table) -> int:
    """Insert a run's connection points (`POINTS_SCHEMA` columns), in the caller's
    transaction (the publication's); returns how many rows."""
    if table.num_rows == 0:
        return 0
    table = table.select(POINTS_SCHEMA.names).cast(POINTS_SCHEMA)
    count = int(table.num_rows)
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        "INSERT INTO connection_points "
        "(month, model_version, person_id, points, friends_counted, points_before_band) "
        f"VALUES ({', '.join([mark] * 6)})"
    )
    # Columns become Python values in C and rows by zip: no per-person code.
    columns = [table.column(name).to_pylist() for name in POINTS_SCHEMA.names]
    rows = list(zip([month] * count, [model_version] * count, *columns, strict=True))
    connection.exec_driver_sql(statement, rows)
    return count


@dataclass(frozen=True)
class SnapshotPoints:
    """What friends added to one snapshot, and would have added before the band rule (None
    on a row published before that was kept)."""

    points: int
    friends_counted: int
    points_before_band: int | None


def points_of(
    connection: Connection, person_id: str, month: str, model_version: str
) -> SnapshotPoints | None:
    """What friends added to that snapshot; None when nothing was recorded (the person was
    not opted in, or had no score)."""
    p = connection_points.c
    row = connection.execute(
        select(p.points, p.friends_counted, p.points_before_band).where(
            p.person_id == person_id, p.month == month, p.model_version == model_version
        )
    ).first()
    return None if row is None else SnapshotPoints(*row)


@dataclass(frozen=True)
class MonthPoints(SnapshotPoints):
    """What friends added to one of the person's published snapshots, and which one."""

    month: str
    model_version: str


def points_history(connection: Connection, person_id: str) -> list[MonthPoints]:
    """Every month's points friends added to the person's snapshots, oldest first."""
    p = connection_points.c
    rows = connection.execute(
        select(p.points, p.friends_counted, p.points_before_band, p.month, p.model_version)
        .where(p.person_id == person_id)
        .order_by(p.month, p.model_version)
    )
    return [MonthPoints(*row) for row in rows]


def replace_points(
    connection: Connection,
    person_id: str,
    month: str,
    model_version: str,
    points: SnapshotPoints | None,
) -> None:
    """A re-scored snapshot's connection points, in the revision's transaction."""
    p = connection_points.c
    connection.execute(
        delete(connection_points).where(
            p.person_id == person_id, p.month == month, p.model_version == model_version
        )
    )
    if points is not None:
        connection.execute(
            insert(connection_points).values(
                person_id=person_id,
                month=month,
                model_version=model_version,
                points=points.points,
                friends_counted=points.friends_counted,
                points_before_band=points.points_before_band,
            )
        )
