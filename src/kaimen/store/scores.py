"""Score snapshots: one per person, month and model, visible once their run is published."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Text,
    and_,
    cast,
    select,
    tuple_,
)

from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import Snapshot, points_from_stored, reasons_from_stored
from kaimen.store.run_characteristics import characteristics_of
from kaimen.store.tables import score_runs, score_snapshots


def is_published(connection: Connection, month: str, model_version: str) -> bool:
    return (
        connection.execute(
            select(score_runs.c.month).where(
                score_runs.c.month == month, score_runs.c.model_version == model_version
            )
        ).first()
        is not None
    )


def snapshot_of(row: Row[Any]) -> Snapshot:
    """A `score_snapshots` row, joined with its run's `published_at` and `characteristics`,
    as its record."""
    names = characteristics_of(row.characteristics)
    return Snapshot(
        row.person_id,
        row.month,
        row.model_version,
        row.published_at,
        row.score,
        row.band,
        row.thin_file,
        {d: getattr(row, d) for d in Dimension},
        reasons_from_stored(names, row.reasons),
        points_from_stored(names, row.points),
    )


def published_query(person_id: str) -> Select[Any]:
    """The person's published snapshots with their run's `published_at` and
    `characteristics`, newest month first
    and, within a month, the latest published model first."""
    return (
        select(score_snapshots, score_runs.c.published_at, score_runs.c.characteristics)
        .join(
            score_runs,
            (score_runs.c.month == score_snapshots.c.month)
            & (score_runs.c.model_version == score_snapshots.c.model_version),
        )
        .where(of_person(person_id))
        .order_by(score_snapshots.c.month.desc(), score_runs.c.published_at.desc())
    )


def of_person(person_id: str) -> ColumnElement[bool]:
    """The condition that picks the person's snapshots through the runs: the snapshots' key
    is led by the run (see store.tables), so each row is a lookup of the whole key, with
    the runs' (month, model) pairs driving it. As a join the other way round, SQLite chose to
    read every month's rows (it has no statistics to tell the tables' sizes apart). Every
    snapshot has its run: they are written in the publication's one transaction."""
    s = score_snapshots.c
    runs = select(score_runs.c.month, score_runs.c.model_version)
    return and_(tuple_(s.month, s.model_version).in_(runs), s.person_id == person_id)


def history(connection: Connection, person_id: str) -> list[Snapshot]:
    """The person's published snapshots, newest month first (latest model per month)."""
    seen: set[str] = set()
    snapshots: list[Snapshot] = []
    for row in connection.execute(published_query(person_id)):
        if row.month in seen:
            continue
        seen.add(row.month)
        snapshots.append(snapshot_of(row))
    return snapshots


def published_models(connection: Connection, month: str) -> list[str]:
    """Versions of the models whose runs for `month` are published, oldest first."""
    query = (
        select(score_runs.c.model_version)
        .where(score_runs.c.month == month)
        .order_by(score_runs.c.published_at, score_runs.c.model_version)
    )
    return list(connection.execute(query).scalars())


def months_published_with(connection: Connection, model_version: str) -> list[str]:
    """The months published with `model_version`, oldest first."""
    query = (
        select(score_runs.c.month)
        .where(score_runs.c.model_version == model_version)
        .order_by(score_runs.c.month)
    )
    return list(connection.execute(query).scalars())


class MonthColumns(TypedDict):
    """A published month's snapshots as columns, in no particular order: `thin_file` as 0 or
    1 and `points` as JSON text, which is how an engine reads them whole."""

    person_id: list[str]
    score: list[int | None]
    band: list[str | None]
    thin_file: list[int]
    points: list[str]


MONTH_COLUMNS = tuple(MonthColumns.__annotations__)


def month_columns(connection: Connection, month: str, model_version: str) -> MonthColumns:
    """A published month's snapshots as columns, for population-wide analysis.

    Columns rather than Snapshot objects: callers hand them to an engine whole.
    """
    c = score_snapshots.c
    query = select(
        c.person_id,
        c.score,
        c.band,
        cast(c.thin_file, Integer),
        cast(c.points, Text),
    ).where(c.month == month, c.model_version == model_version)
    rows = connection.execute(query).all()
    # zip(*rows) transposes in C; an empty month gives empty columns.
    person_id, score, band, thin_file, points = [
        list(values) for values in zip(*rows, strict=True)
    ] or [[] for _ in MONTH_COLUMNS]
    return MonthColumns(
        person_id=person_id, score=score, band=band, thin_file=thin_file, points=points
    )


def latest(connection: Connection, person_id: str) -> Snapshot | None:
    """The person's newest published snapshot (latest model of the newest month), if any."""
    row = connection.execute(published_query(person_id).limit(1)).first()
    return None if row is None else snapshot_of(row)
