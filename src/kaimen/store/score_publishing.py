"""Publishing a month's snapshots in bulk: Arrow columns straight to the driver.

Apart from `store.scores` (which reads them) so that reading one score never loads Arrow.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

import pyarrow as pa
from sqlalchemy import Connection, insert

from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import SNAPSHOT_COLUMNS, Snapshot, stored_points, stored_reasons
from kaimen.store import arrow_copy, score_partitions, sqlite_staging
from kaimen.store.tables import score_runs

# SQLite's rows are staged in parts of at least this many rows, six at most
# (`sqlite_staging.attach_in_parts`): each part is copied while the next is written.
STAGED_PART_ROWS = 150_000
STAGED_PARTS = 6
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
        columns["reasons"].append(_JSON_TEXT(stored_reasons(characteristics, s.reasons)))
        columns["points"].append(_JSON_TEXT(stored_points(characteristics, s.points)))
    return pa.table(columns, schema=_SCHEMA)


def _insert_sqlite(connection: Connection, month: str, version: str, table: pa.Table) -> None:
    columns = ", ".join(SNAPSHOT_COLUMNS)
    # The month's rows go in at the end of the key (it is led by the run), but a big page
    # cache still keeps the index's right edge and the table's new pages from being spilled
    # and read again while a million rows go in.
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = {PUBLISH_CACHE_KIB}")
    try:
        # Bound from Arrow in C (`sqlite_staging`) and copied by SQLite, each part while the
        # next is staged: at a million people 1.3-1.4 s, against 1.7 s in one part and
        # 2.9-3.0 s bound from Python values (interleaved runs of the monthly batch).
        parts = max(1, min(STAGED_PARTS, table.num_rows // STAGED_PART_ROWS))
        for staged in sqlite_staging.attach_in_parts(connection, table, parts):
            connection.exec_driver_sql(
                f"INSERT INTO score_snapshots (month, model_version, {columns}) "
                f"SELECT ?, ?, {columns} FROM {staged}",
                (month, version),
            )
    finally:
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

    The rows go in bulk, never as Python values: COPY on PostgreSQL, staged by Arrow's ADBC
    driver and copied by SQLite (`sqlite_staging`). They join the caller's transaction, so a crash before its commit leaves no row
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
