"""Which lake files have been summarised, and into which summary files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, insert, select, update

from kaimen.store.tables import lake_files, summarised_lake_files, summary_files


def unsummarised(connection: Connection) -> list[tuple[int, str]]:
    """(file_id, path) of lake files no summary covers yet, oldest first."""
    query = (
        select(lake_files.c.file_id, lake_files.c.path)
        .where(lake_files.c.file_id.not_in(select(summarised_lake_files.c.file_id)))
        .order_by(lake_files.c.file_id)
    )
    return [(r.file_id, r.path) for r in connection.execute(query)]


def record(
    connection: Connection, path: str, rows: int, file_ids: Sequence[int], now: dt.datetime
) -> int:
    """List a new summary file and the lake files it covers, in the caller's transaction."""
    summary_id = connection.execute(
        insert(summary_files)
        .values(path=path, rows=rows, created_at=now)
        .returning(summary_files.c.summary_file_id)
    ).scalar_one()
    connection.execute(
        insert(summarised_lake_files),
        [{"file_id": f, "summary_file_id": summary_id} for f in file_ids],
    )
    return int(summary_id)


def paths(connection: Connection) -> list[str]:
    """Every summary file, relative to the lake root."""
    query = select(summary_files.c.path).order_by(summary_files.c.summary_file_id)
    return [r.path for r in connection.execute(query)]


def listed(connection: Connection) -> list[tuple[int, str]]:
    """(summary_file_id, path) of every summary file, oldest first."""
    query = select(summary_files.c.summary_file_id, summary_files.c.path).order_by(
        summary_files.c.summary_file_id
    )
    return [(r.summary_file_id, r.path) for r in connection.execute(query)]


def replace(connection: Connection, summary_file_id: int, path: str, rows: int) -> None:
    """Point a summary file at its rewritten copy, in the caller's transaction."""
    connection.execute(
        update(summary_files)
        .where(summary_files.c.summary_file_id == summary_file_id)
        .values(path=path, rows=rows)
    )


def covered(connection: Connection) -> dict[int, list[tuple[int, str]]]:
    """summary_file_id -> (file_id, path) of the lake files it summarises, oldest first."""
    query = (
        select(summarised_lake_files.c.summary_file_id, lake_files.c.file_id, lake_files.c.path)
        .join(lake_files, lake_files.c.file_id == summarised_lake_files.c.file_id)
        .order_by(summarised_lake_files.c.summary_file_id, lake_files.c.file_id)
    )
    found: dict[int, list[tuple[int, str]]] = {}
    for r in connection.execute(query):
        found.setdefault(r.summary_file_id, []).append((r.file_id, r.path))
    return found
