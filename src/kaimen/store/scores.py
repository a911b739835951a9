"""Score snapshots: one per person, month and model, visible once their run is published."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, TypedDict

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Integer, Row, Select, Text, cast, insert, select
from sqlalchemy.exc import DBAPIError

from kaimen.domain.reasons import Reason
from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import SNAPSHOT_COLUMNS, Snapshot
from kaimen.store.tables import score_runs, score_snapshots

# Rows per round of writing while publishing: large enough that a round's overhead does not
# count, small enough that only one round's Python values or CSV text are held at once.
PUBLISH_CHUNK = 50_000

_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("score", pa.int64()),
        ("band", pa.string()),
        ("thin_file", pa.bool_()),
        *((d.value, pa.int64()) for d in Dimension),
        ("reasons", pa.string()),
        ("points", pa.string()),
    ]
)
_JSON_TEXT = json.JSONEncoder(check_circular=False).encode


def is_published(connection: Connection, month: str, model_version: str) -> bool:
    return (
        connection.execute(
            select(score_runs.c.month).where(
                score_runs.c.month == month, score_runs.c.model_version == model_version
            )
        ).first()
        is not None
    )


def snapshot_table(snapshots: Iterable[Snapshot]) -> pa.Table:
    """Snapshot records as the columns `publish_table` takes (reasons and points as JSON
    text). One record at a time: for a few people or a model scored outside the engine."""
    columns: dict[str, list[object]] = {name: [] for name in SNAPSHOT_COLUMNS}
    for s in snapshots:
        columns["person_id"].append(s.person_id)
        columns["score"].append(s.score)
        columns["band"].append(s.band)
        columns["thin_file"].append(s.thin_file)
        for dimension in Dimension:
            columns[dimension.value].append(s.dimensions.get(dimension))
        reasons = [
            {"feature": r.feature, "points_lost": r.points_lost, "value": r.value}
            for r in s.reasons
        ]
        columns["reasons"].append(_JSON_TEXT(reasons))
        columns["points"].append(_JSON_TEXT(dict(s.points)))
    return pa.table(columns, schema=_SCHEMA)


def _insert_sqlite(connection: Connection, month: str, version: str, table: pa.Table) -> None:
    names = ", ".join(("month", "model_version", *SNAPSHOT_COLUMNS))
    marks = ", ".join("?" * (len(SNAPSHOT_COLUMNS) + 2))
    statement = f"INSERT INTO score_snapshots ({names}) VALUES ({marks})"
    for batch in table.to_batches(PUBLISH_CHUNK):
        count = batch.num_rows
        # Columns become Python values in C, then rows by zip: no per-person code. Given
        # tuples, exec_driver_sql hands them to the driver's executemany as they are.
        values = [batch.column(name).to_pylist() for name in SNAPSHOT_COLUMNS]
        months, versions = [month] * count, [version] * count
        connection.exec_driver_sql(statement, list(zip(months, versions, *values, strict=True)))


def _copy_postgres(connection: Connection, month: str, version: str, table: pa.Table) -> None:
    import psycopg  # only a PostgreSQL store needs it

    names = ", ".join(("month", "model_version", *SNAPSHOT_COLUMNS))
    options = pa_csv.WriteOptions(include_header=False, batch_size=PUBLISH_CHUNK)
    statement = f"COPY score_snapshots ({names}) FROM STDIN (FORMAT csv)"
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the only PostgreSQL driver connect() takes
    cursor = driver.cursor()
    try:
        with cursor.copy(statement) as copy:
            for batch in table.to_batches(PUBLISH_CHUNK):
                count = batch.num_rows
                rows = pa.Table.from_batches([batch]).add_column(
                    0, "month", pa.array([month] * count, pa.string())
                )
                rows = rows.add_column(1, "model_version", pa.array([version] * count, pa.string()))
                # Arrow writes the CSV in C++: strings quoted (quotes doubled), nulls empty,
                # which is how COPY's CSV tells an empty string from a null.
                sink = pa.BufferOutputStream()
                pa_csv.write_csv(rows, sink, options)
                copy.write(sink.getvalue())
    except psycopg.Error as error:
        # As SQLAlchemy would raise it (IntegrityError for a duplicate snapshot...).
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error
    finally:
        cursor.close()


def publish_table(
    connection: Connection, month: str, model_version: str, table: pa.Table, now: dt.datetime
) -> int:
    """Insert a month's snapshots (columns as `SNAPSHOT_COLUMNS`) and mark the run published,
    in the caller's transaction; returns how many there were.

    The rows go straight to the driver, in bulk: COPY on PostgreSQL, `executemany` on
    SQLite. They join the caller's transaction, so a crash before its commit leaves no row
    and no run, and the previous month stays the one readers see.
    """
    table = table.select(list(SNAPSHOT_COLUMNS)).cast(_SCHEMA)
    count = int(table.num_rows)
    if connection.dialect.name == "postgresql":
        _copy_postgres(connection, month, model_version, table)
    else:
        _insert_sqlite(connection, month, model_version, table)
    connection.execute(
        insert(score_runs).values(
            month=month, model_version=model_version, people=count, published_at=now
        )
    )
    return count


def publish(
    connection: Connection,
    month: str,
    model_version: str,
    snapshots: Iterable[Snapshot],
    now: dt.datetime,
) -> int:
    """`publish_table` for snapshot records."""
    return publish_table(connection, month, model_version, snapshot_table(snapshots), now)


def snapshot_of(row: Row[Any]) -> Snapshot:
    """A `score_snapshots` row, joined with its run's `published_at`, as its record."""
    return Snapshot(
        row.person_id,
        row.month,
        row.model_version,
        row.published_at,
        row.score,
        row.band,
        row.thin_file,
        {d: getattr(row, d) for d in Dimension},
        tuple(Reason(**reason) for reason in row.reasons),
        row.points,
    )


def published_query(person_id: str) -> Select[Any]:
    """The person's published snapshots with their run's `published_at`, newest month first
    and, within a month, the latest published model first."""
    return (
        select(score_snapshots, score_runs.c.published_at)
        .join(
            score_runs,
            (score_runs.c.month == score_snapshots.c.month)
            & (score_runs.c.model_version == score_snapshots.c.model_version),
        )
        .where(score_snapshots.c.person_id == person_id)
        .order_by(score_snapshots.c.month.desc(), score_runs.c.published_at.desc())
    )


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
