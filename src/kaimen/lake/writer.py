"""Writing accepted events into the lake as new, immutable files."""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kaimen.lake.schema import LAKE_SCHEMA, PARTITION

EVENTS_DIR = "events"
INCOMING_DIR = "_incoming"
ROW_GROUP_ROWS = 256 * 1024


@dataclass(frozen=True)
class WrittenFile:
    """A file now in the lake; `path` is relative to the lake root."""

    month: str
    path: str
    rows: int
    sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lake_columns() -> str:
    casts = {
        "schema_version": "CAST(schema_version AS SMALLINT)",
        "amount": "CAST(amount AS DECIMAL(18, 2))",
    }
    return ", ".join(f"{casts.get(f.name, f.name)} AS {f.name}" for f in LAKE_SCHEMA)


def write_months(
    connection: duckdb.DuckDBPyConnection, rows_sql: str, months: Sequence[str], root: Path
) -> list[WrittenFile]:
    """Write the rows of `rows_sql` (lake columns plus `month`) as one new file per month.

    Each file is sorted by person and time, so per-person aggregation reads clustered data.
    It is written under `_incoming/`, synced, then renamed into `events/month=.../`; it counts
    as part of the lake only once the store lists it, so a crash leaves at most an unlisted
    file behind, never a half-visible batch.
    """
    incoming = root / INCOMING_DIR
    incoming.mkdir(parents=True, exist_ok=True)
    written: list[WrittenFile] = []
    columns = _lake_columns()
    for month in sorted(months):
        name = f"part-{uuid.uuid4().hex}.parquet"
        temporary = incoming / name
        connection.execute(
            f"COPY (SELECT {columns} FROM ({rows_sql}) WHERE {PARTITION} = $month "
            f"ORDER BY person_id, occurred_at, source, event_id) TO '{temporary}' "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
            {"month": month},
        )
        rows = connection.execute(f"SELECT count(*) FROM read_parquet('{temporary}')").fetchall()[
            0
        ][0]
        if rows == 0:
            temporary.unlink()
            continue
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        relative = f"{EVENTS_DIR}/{PARTITION}={month}/{name}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.replace(target)
        written.append(WrittenFile(month, relative, int(rows), _sha256(target)))
    return written


@contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """Hold the lake's writer lock: one ingest at a time decides what is new."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".writer.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def rewrite_without(
    connection: duckdb.DuckDBPyConnection, root: Path, month: str, path: str, person_id: str
) -> WrittenFile:
    """A copy of lake file `path` without `person_id`'s events and with links to them
    (`friend_id`) emptied, beside it: same month, sort order and format as `write_months`.

    Only the links are cut from other people's events; the events stay, so their histories
    and scores do not change. The old file is left in place: it stays the lake's file until
    the store lists the new one, and the caller deletes it after that commit.
    """
    incoming = root / INCOMING_DIR
    incoming.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    temporary = incoming / name
    source, written = (str(p).replace("'", "''") for p in (root / path, temporary))
    connection.execute(
        f"COPY (SELECT * REPLACE (CASE WHEN friend_id = $person THEN NULL ELSE friend_id END "
        f"AS friend_id) FROM read_parquet('{source}', hive_partitioning = false) "
        "WHERE person_id <> $person "
        f"ORDER BY person_id, occurred_at, source, event_id) TO '{written}' "
        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
        {"person": person_id},
    )
    rows = connection.execute(f"SELECT count(*) FROM read_parquet('{written}')").fetchall()[0][0]
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    # An emptied file is kept (with no rows) rather than unlisted: the summary manifest
    # refers to every lake file by id, and an empty file reads as nothing.
    relative = f"{EVENTS_DIR}/{PARTITION}={month}/{name}"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary.replace(target)
    return WrittenFile(month, relative, int(rows), _sha256(target))


def unlisted_files(root: Path, listed: Iterable[str], folders: Sequence[str]) -> list[Path]:
    """Files under `folders` of the lake that the store does not list: left by a crash
    between writing a file and listing it, or between unlisting one and deleting it. Only
    meaningful while holding `exclusive`, when no writer has a file in flight."""
    known = {root / path for path in listed}
    found: list[Path] = []
    for folder in folders:
        base = root / folder
        if base.exists():
            found += [p for p in base.rglob("*") if p.is_file() and p not in known]
    return sorted(found)
