"""Publishing a month's snapshots in bulk: Arrow columns straight to the driver.

Apart from `store.scores` (which reads them) so that reading one score never loads Arrow.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, insert
from sqlalchemy.exc import DBAPIError

from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import SNAPSHOT_COLUMNS, Snapshot, stored_points, stored_reasons
from kaimen.store import arrow_copy, many_rows, score_partitions
from kaimen.store.tables import score_runs

# Rows per round of writing while publishing: large enough that a round's overhead does not
# count, small enough that only one round's Python values or CSV text are held at once.
PUBLISH_CHUNK = 50_000
# SQLite's page cache while publishing, in KiB as its pragma takes it (negative).
PUBLISH_CACHE_KIB = -256 * 1024

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
# Compact, as the engine writes it (model.card_snapshots): stored for everyone every month.
_JSON_TEXT = json.JSONEncoder(check_circular=False, separators=(",", ":")).encode


def run_characteristics(snapshots: Sequence[Snapshot]) -> tuple[str, ...]:
    """The names a run's points are listed by, from its records: every characteristic any
    of them has points for, in the order they are first met."""
    names: dict[str, None] = {}
    for s in snapshots:
        names.update(dict.fromkeys(s.points))
    return tuple(names)


def snapshot_table(snapshots: Iterable[Snapshot], characteristics: Sequence[str]) -> pa.Table:
    """Snapshot records as the columns `publish_table` takes (reasons and points as JSON
    text in the stored shape, points in the order of `characteristics`). One record at a
    time: for a few people or a model scored outside the engine."""
    columns: dict[str, list[object]] = {name: [] for name in SNAPSHOT_COLUMNS}
    for s in snapshots:
        columns["person_id"].append(s.person_id)
        columns["score"].append(s.score)
        columns["band"].append(s.band)
        columns["thin_file"].append(s.thin_file)
        for dimension in Dimension:
            columns[dimension.value].append(s.dimensions.get(dimension))
        columns["reasons"].append(_JSON_TEXT(stored_reasons(s.reasons)))
        columns["points"].append(_JSON_TEXT(stored_points(characteristics, s.points)))
    return pa.table(columns, schema=_SCHEMA)


def _insert_sqlite(connection: Connection, month: str, version: str, table: pa.Table) -> None:
    head = (
        f"INSERT INTO score_snapshots ({', '.join(('month', 'model_version', *SNAPSHOT_COLUMNS))})"
    )
    # Each person's new row goes next to their earlier months in the key's index: all over
    # an index that grows by a month of people each month. With SQLite's default 2 MB page
    # cache most of those pages were read and spilled again and again.
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = {PUBLISH_CACHE_KIB}")
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor()
    dialect = connection.dialect
    try:
        for batch in table.to_batches(PUBLISH_CHUNK):
            # Columns become Python values in C, placed in rows by NumPy: no per-person
            # code; many rows a statement (`many_rows`) bind their values in C: 3.1 against
            # 3.6 s for a statement a row at a million people.
            values = np.empty((batch.num_rows, len(SNAPSHOT_COLUMNS) + 2), dtype=object)
            values[:, 0], values[:, 1] = month, version
            for column, name in enumerate(SNAPSHOT_COLUMNS, start=2):
                values[:, column] = batch.column(name).to_pylist()
            many_rows.insert(cursor, head, values)
    except dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would raise it (IntegrityError for a month published twice).
        raise DBAPIError.instance(None, None, error, dialect.loaded_dbapi.Error) from error
    finally:
        cursor.close()
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")


def publish_table(
    connection: Connection,
    month: str,
    model_version: str,
    table: pa.Table,
    now: dt.datetime,
    characteristics: Sequence[str],
) -> int:
    """Insert a month's snapshots (columns as `SNAPSHOT_COLUMNS`, points listed in the order
    of `characteristics`) and mark the run published, in the caller's transaction; returns
    how many there were.

    The rows go straight to the driver, in bulk: COPY on PostgreSQL, `executemany` on
    SQLite. They join the caller's transaction, so a crash before its commit leaves no row
    and no run, and the previous month stays the one readers see.
    """
    table = table.select(list(SNAPSHOT_COLUMNS)).cast(_SCHEMA)
    count = int(table.num_rows)
    if connection.dialect.name == "postgresql":
        constants = {"month": month, "model_version": model_version}
        fresh = score_partitions.new_month_table(connection, month)
        arrow_copy.copy_in(connection, fresh or score_partitions.PARENT, table, constants)
        if fresh is not None:
            score_partitions.attach(connection, fresh, month)
    else:
        _insert_sqlite(connection, month, model_version, table)
    connection.execute(
        insert(score_runs).values(
            month=month,
            model_version=model_version,
            people=count,
            published_at=now,
            characteristics=_JSON_TEXT(list(characteristics)),
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
    """`publish_table` for snapshot records, their points listed by `run_characteristics`."""
    records = list(snapshots)
    names = run_characteristics(records)
    table = snapshot_table(records, names)
    return publish_table(connection, month, model_version, table, now, names)
