"""Writing accepted events into the lake as new, immutable files."""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kaimen.lake.schema import LAKE_SCHEMA, PARTITION

EVENTS_DIR = "events"
ROW_GROUP_ROWS = 256 * 1024


@dataclass(frozen=True)
class WrittenFile:
    """A file now in the lake; `path` is relative to the lake root."""

    month: str
    path: str
    rows: int
    sha256: str


def _write_atomically(target: Path, payload: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(target)


def write_events(root: Path, events: pa.Table) -> list[WrittenFile]:
    """Write `events` (lake columns plus `month`) as one new file per month.

    Rows are sorted by person and time inside each file, so per-person aggregation reads
    clustered data. A file becomes visible to readers only when the store lists it, so a
    crash here leaves at most an unlisted file behind, never a half-visible batch.
    """
    if events.num_rows == 0:
        return []
    ordered = events.sort_by(
        [(PARTITION, "ascending"), ("person_id", "ascending"), ("occurred_at", "ascending")]
    )
    months = ordered.column(PARTITION)
    written: list[WrittenFile] = []
    for month in pc.unique(months).to_pylist():
        part = ordered.filter(pc.equal(months, month)).select(LAKE_SCHEMA.names).cast(LAKE_SCHEMA)
        sink = pa.BufferOutputStream()
        pq.write_table(
            part,
            sink,
            compression="zstd",
            row_group_size=ROW_GROUP_ROWS,
            write_statistics=True,
        )
        payload = sink.getvalue().to_pybytes()
        relative = f"{EVENTS_DIR}/{PARTITION}={month}/part-{uuid.uuid4().hex}.parquet"
        _write_atomically(root / relative, payload)
        written.append(
            WrittenFile(month, relative, part.num_rows, hashlib.sha256(payload).hexdigest())
        )
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
