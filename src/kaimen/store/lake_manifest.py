"""The lake's manifest: which batches were ingested and which files they wrote.

Readers take their file list from here, so a file is part of the lake exactly when the
transaction that lists it commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from kaimen.store.tables import ingest_batches, lake_files


@dataclass(frozen=True)
class BatchRecord:
    batch_id: int
    channel: str
    file_name: str | None
    received_at: dt.datetime
    events_total: int
    events_new: int
    events_duplicate: int


@dataclass(frozen=True)
class FileRecord:
    month: str
    path: str
    rows: int
    sha256: str


def batch_for_file(connection: Connection, sha256: str) -> BatchRecord | None:
    row = connection.execute(
        select(ingest_batches).where(ingest_batches.c.file_sha256 == sha256)
    ).first()
    if row is None:
        return None
    return BatchRecord(
        row.batch_id,
        row.channel,
        row.file_name,
        row.received_at,
        row.events_total,
        row.events_new,
        row.events_duplicate,
    )


def record_batch(
    connection: Connection,
    *,
    channel: str,
    received_at: dt.datetime,
    events_total: int,
    events_new: int,
    files: Iterable[FileRecord],
    file_sha256: str | None = None,
    file_name: str | None = None,
) -> int:
    """Insert the batch and its files in the caller's transaction; returns the batch id."""
    batch_id = connection.execute(
        insert(ingest_batches)
        .values(
            channel=channel,
            file_sha256=file_sha256,
            file_name=file_name,
            received_at=received_at,
            events_total=events_total,
            events_new=events_new,
            events_duplicate=events_total - events_new,
        )
        .returning(ingest_batches.c.batch_id)
    ).scalar_one()
    rows = [
        {"batch_id": batch_id, "month": f.month, "path": f.path, "rows": f.rows, "sha256": f.sha256}
        for f in files
    ]
    if rows:
        connection.execute(insert(lake_files), rows)
    return int(batch_id)


def files(connection: Connection, months: Sequence[str] | None = None) -> list[str]:
    """Paths (relative to the lake root) of all listed files, or of those in `months`."""
    query = select(lake_files.c.path).order_by(lake_files.c.file_id)
    if months is not None:
        query = query.where(lake_files.c.month.in_(list(months)))
    return [r.path for r in connection.execute(query)]


def first_month(connection: Connection) -> str | None:
    """The earliest month the lake holds events of (its files are by the events' month)."""
    span = month_span(connection)
    return None if span is None else span[0]


def month_span(connection: Connection) -> tuple[str, str] | None:
    """The earliest and the latest month the lake holds events of; None for an empty lake."""
    first, last = connection.execute(
        select(func.min(lake_files.c.month), func.max(lake_files.c.month))
    ).one()
    return None if first is None else (str(first), str(last))


def totals(connection: Connection) -> tuple[int, int]:
    """(number of files, number of rows) in the lake."""
    row = connection.execute(
        select(func.count(), func.coalesce(func.sum(lake_files.c.rows), 0))
    ).one()
    return int(row[0]), int(row[1])


def listed(connection: Connection) -> list[tuple[int, str, str]]:
    """(file_id, month, path) of every file in the lake, oldest first."""
    query = select(lake_files.c.file_id, lake_files.c.month, lake_files.c.path).order_by(
        lake_files.c.file_id
    )
    return [(r.file_id, r.month, r.path) for r in connection.execute(query)]


def replace_file(connection: Connection, file_id: int, replacement: FileRecord) -> None:
    """Point a listed file at its rewritten copy, in the caller's transaction. The id stays,
    so what refers to the file (the summaries covering it) still does."""
    connection.execute(
        update(lake_files)
        .where(lake_files.c.file_id == file_id)
        .values(path=replacement.path, rows=replacement.rows, sha256=replacement.sha256)
    )
