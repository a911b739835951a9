"""Writing accepted events into the lake as new, immutable files."""

from __future__ import annotations

import fcntl
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

# Re-exported: where staged files wait, and so where an opt-out looks for crash debris.
from kaimen.lake.atomic_parquet import INCOMING_DIR as INCOMING_DIR
from kaimen.lake.atomic_parquet import DuckDBRows, write_parquet, write_parquet_unless_empty
from kaimen.lake.schema import LAKE_SCHEMA, PARTITION
from kaimen.lake.sql_paths import sql_path

EVENTS_DIR = "events"
ROW_GROUP_ROWS = 256 * 1024
EVENT_ORDER = "person_id, occurred_at, source, event_id"


@dataclass(frozen=True)
class WrittenFile:
    """A file now in the lake; `path` is relative to the lake root."""

    month: str
    path: str
    rows: int
    sha256: str


def _lake_columns() -> str:
    casts = {
        "schema_version": "CAST(schema_version AS SMALLINT)",
        "amount": "CAST(amount AS DECIMAL(18, 2))",
    }
    return ", ".join(f"{casts.get(f.name, f.name)} AS {f.name}" for f in LAKE_SCHEMA)


def _event_file(month: str) -> str:
    return f"{EVENTS_DIR}/{PARTITION}={month}/part-{uuid.uuid4().hex}.parquet"


def write_months(
    connection: duckdb.DuckDBPyConnection, rows_sql: str, months: Sequence[str], root: Path
) -> list[WrittenFile]:
    """Write the rows of `rows_sql` (lake columns plus `month`) as one new file per month.

    Each file is sorted by person and time, so per-person aggregation reads clustered data.
    It is placed atomically (`atomic_parquet`); it counts as part of the lake only once the
    store lists it, so a crash leaves at most an unlisted file behind (the next ingest
    sweeps it), never a half-visible batch; a failure at a later month removes the months
    already placed. A month left with no rows gets no file.
    """
    writer = MonthWriter(rows_sql, months, root)
    try:
        writer.work(connection)
    except BaseException:
        writer.remove()
        raise
    return writer.written()


class MonthWriter:
    """`write_months` shared by threads: each `work`s on its own connection (a cursor of
    one engine) and writes the months no other has taken yet, one at a time.

    One month's sort and write keep about one core busy: a thread that has finished its
    own work (hashing a batch's keys, say) helps with the months that are left instead of
    waiting. After a failure in any thread, the others stop at their month's end, and
    `written` raises; `remove` then removes every file placed, once all have stopped.
    """

    def __init__(self, rows_sql: str, months: Sequence[str], root: Path) -> None:
        self._rows_sql = rows_sql
        self._root = root
        self._left = sorted(months, reverse=True)
        self._placed: list[WrittenFile] = []
        self._failed = False
        self._lock = threading.Lock()

    def _take(self) -> str | None:
        with self._lock:
            return None if self._failed or not self._left else self._left.pop()

    def work(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Write months until none is left (or another thread failed)."""
        columns = _lake_columns()
        try:
            while (month := self._take()) is not None:
                rows = DuckDBRows(
                    connection,
                    f"SELECT {columns} FROM ({self._rows_sql}) WHERE {PARTITION} = $month "
                    f"ORDER BY {EVENT_ORDER}",
                    {"month": month},
                    ROW_GROUP_ROWS,
                )
                placed = write_parquet_unless_empty(self._root, _event_file(month), rows)
                if placed is not None:
                    with self._lock:
                        self._placed.append(
                            WrittenFile(month, placed.path, placed.rows, placed.sha256)
                        )
        except BaseException:
            with self._lock:
                self._failed = True
            raise

    def stop(self) -> None:
        """Take no more months (the batch will not be listed): each thread stops at the end
        of the month it is writing."""
        with self._lock:
            self._failed = True

    def written(self) -> list[WrittenFile]:
        """The files placed, by month; call once every thread's `work` has returned."""
        if self._failed:
            raise RuntimeError("a month's file could not be written")
        return sorted(self._placed, key=lambda file: file.month)

    def remove(self) -> None:
        """Remove every file placed (a month failed, or the batch is not to be listed): a
        raw glob over the lake must not count them. Call once no thread is writing."""
        with self._lock:
            placed, self._placed = self._placed, []
        for file in placed:
            (self._root / file.path).unlink(missing_ok=True)


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
    rows = DuckDBRows(
        connection,
        "SELECT * REPLACE (CASE WHEN friend_id = $person THEN NULL ELSE friend_id END "
        f"AS friend_id) FROM read_parquet({sql_path(root / path)}, hive_partitioning = false) "
        f"WHERE person_id <> $person ORDER BY {EVENT_ORDER}",
        {"person": person_id},
        ROW_GROUP_ROWS,
    )
    # An emptied file is kept (with no rows) rather than unlisted: the summary manifest
    # refers to every lake file by id, and an empty file reads as nothing.
    placed = write_parquet(root, _event_file(month), rows)
    return WrittenFile(month, placed.path, placed.rows, placed.sha256)


def rewrite_without_events(
    connection: duckdb.DuckDBPyConnection, root: Path, month: str, path: str, keys: str
) -> WrittenFile:
    """A copy of lake file `path` without the events whose (source, event_id) are in the
    registered relation `keys`, beside it: same month, sort order and format as
    `write_months`. As with `rewrite_without`, the old file stays until the store lists the
    copy, and the caller deletes it after that commit."""
    rows = DuckDBRows(
        connection,
        f"SELECT * FROM read_parquet({sql_path(root / path)}, hive_partitioning = false) "
        f"ANTI JOIN {keys} USING (source, event_id) ORDER BY {EVENT_ORDER}",
        {},
        ROW_GROUP_ROWS,
    )
    placed = write_parquet(root, _event_file(month), rows)
    return WrittenFile(month, placed.path, placed.rows, placed.sha256)


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
