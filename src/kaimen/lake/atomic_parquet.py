"""The one way a Parquet file enters the lake: written aside, synced, renamed into place.

Every file (new events, an opt-out's rewritten copies, summaries) is written under
`_incoming/`, synced to disk, renamed to its place and its folder synced, so a reader never
sees a half-written file and a crash leaves at most a complete file nobody lists. Listing
it in the store is the caller's job, in the caller's transaction: the file counts as part
of the lake only once that commits. A failure here removes whatever it wrote; a write
refused for want of space is raised as `StorageFull`, which says so.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow.parquet as pq

from kaimen.domain.errors import StorageFull
from kaimen.lake.sql_paths import sql_path

INCOMING_DIR = "_incoming"
COMPRESSION = "zstd"


@dataclass(frozen=True)
class PlacedFile:
    """A file now in place; `path` is relative to the lake root."""

    path: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class DuckDBRows:
    """The rows of `select` (one SELECT statement) run on `connection` with `params`."""

    connection: duckdb.DuckDBPyConnection
    select: str
    params: Mapping[str, object] | None = None
    row_group_rows: int | None = None
    compression: str = COMPRESSION


@dataclass(frozen=True)
class IbisRows:
    """The rows of an Ibis table expression, computed by `backend`.

    On DuckDB it must read only the backend's tables and files (no in-memory tables), as
    it is compiled to one SELECT.
    """

    backend: ibis.BaseBackend
    expression: ir.Table
    compression: str = COMPRESSION


@dataclass(frozen=True)
class WrittenRows:
    """Rows an engine with its own Parquet writer (Spark) writes as the one file it is given."""

    write: Callable[[Path], None]


Rows = DuckDBRows | IbisRows | WrittenRows


def write_parquet(root: Path, relative: str, rows: Rows) -> PlacedFile:
    """Write `rows` as the file `relative` under the lake `root`, even with no rows."""
    placed = _place(root, relative, rows, keep_empty=True)
    assert placed is not None
    return placed


def write_parquet_unless_empty(root: Path, relative: str, rows: Rows) -> PlacedFile | None:
    """As `write_parquet`, but with no rows nothing is placed and None returned."""
    return _place(root, relative, rows, keep_empty=False)


def _place(root: Path, relative: str, rows: Rows, keep_empty: bool) -> PlacedFile | None:
    target = root / relative
    incoming = root / INCOMING_DIR
    incoming.mkdir(parents=True, exist_ok=True)
    staged = incoming / f"{uuid.uuid4().hex}-{target.name}"
    placed = False
    try:
        _write(rows, staged)
        count = int(pq.read_metadata(staged).num_rows)
        if count == 0 and not keep_empty:
            return None
        digest = _sync_file(staged)
        _make_folder(target.parent)
        staged.replace(target)
        placed = True
        _sync_folder(target.parent)
    except BaseException as exc:
        if placed:
            target.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise storage_full(exc) from exc
        raise
    finally:
        staged.unlink(missing_ok=True)
    return PlacedFile(relative, count, digest)


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
# DuckDB reports its own failed writes as text, with the system's message in it.
_FULL_MESSAGES = tuple(os.strerror(code) for code in sorted(_FULL_ERRNOS))


def storage_full(error: BaseException) -> StorageFull:
    """The refusal a person sees for `error` (see `is_disk_full`)."""
    return StorageFull(
        "the disk is full (or a file size limit was reached), so nothing was stored: "
        f"free some space and run the same command again ({error})"
    )


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` is a write refused for want of space (or over a file size limit)."""
    if isinstance(error, OSError):
        return error.errno in _FULL_ERRNOS
    if isinstance(error, duckdb.Error):
        return any(message in str(error) for message in _FULL_MESSAGES)
    return False


def _write(rows: Rows, path: Path) -> None:
    if isinstance(rows, WrittenRows):
        rows.write(path)
    elif isinstance(rows, DuckDBRows):
        _copy(
            rows.connection, rows.select, path, rows.params, rows.row_group_rows, rows.compression
        )
    elif rows.backend.name == "duckdb":
        # Not the backend's own to_parquet: it quotes the path with Python's repr, which
        # DuckDB reads as an identifier when the path holds a single quote.
        compiled = rows.backend.compile(rows.expression)
        _copy(rows.backend.con, compiled, path, None, None, rows.compression)
    else:
        rows.backend.to_parquet(rows.expression, path, compression=rows.compression)


def _copy(
    connection: duckdb.DuckDBPyConnection,
    select: str,
    path: Path,
    params: Mapping[str, object] | None,
    row_group_rows: int | None,
    compression: str,
) -> None:
    if not compression.isidentifier():
        raise ValueError(f"not a compression codec: {compression!r}")
    options = f"FORMAT parquet, COMPRESSION {compression}"
    if row_group_rows is not None:
        options += f", ROW_GROUP_SIZE {int(row_group_rows)}"
    connection.execute(f"COPY ({select}) TO {sql_path(path)} ({options})", params)


def _sync_file(path: Path) -> str:
    """Flush the file to disk; returns its SHA-256, read in the same pass."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        os.fsync(handle.fileno())
    return digest.hexdigest()


def _sync_folder(folder: Path) -> None:
    """Make the folder's entries (a rename into it, a new subfolder) durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_folder(folder: Path) -> None:
    """Create `folder` and any missing parents, each one synced into its parent."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        _sync_folder(new.parent)
