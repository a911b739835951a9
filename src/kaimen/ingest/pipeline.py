"""The steps every batch goes through, whichever door it came in by."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.errors import BatchRejected, RowError
from kaimen.ingest.deduplication import Deduplicated, deduplicate, lake_keys
from kaimen.ingest.event_rules import check_events, typed_events
from kaimen.lake.schema import PARTITION
from kaimen.store import lake_manifest, people


@dataclass(frozen=True)
class IngestReport:
    """What happened to a batch: every event is either new or a duplicate."""

    total: int
    new: int
    duplicate: int
    batch_id: int | None = None
    replayed_file: bool = False


def with_receipt_time(raw: pa.Table, now: dt.datetime) -> pa.Table:
    """Events without recorded_at were recorded when kaimen received them."""
    index = raw.schema.get_field_index("recorded_at")
    filled = pc.fill_null(raw.column(index), now.isoformat())
    return raw.set_column(index, "recorded_at", filled)


def validate(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    raw: pa.Table,
    structural: list[RowError],
    now: dt.datetime,
    what: str,
) -> pa.Table:
    """Typed events, or `BatchRejected` listing every problem of every row."""
    with engine.connect() as store:
        enrolled = people.active_birth_dates(store)
    errors = structural + check_events(connection, raw, enrolled, now)
    if errors:
        raise BatchRejected(errors, what)
    return typed_events(connection, raw)


def against_lake(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    root: Path,
    typed: pa.Table,
    extra_known: pa.Table | None = None,
    what: str = "batch",
) -> Deduplicated:
    """Deduplicate `typed` against itself, the lake months it touches and `extra_known`."""
    months = pc.unique(typed.column(PARTITION)).to_pylist()
    with engine.connect() as store:
        files = lake_manifest.files(store, months)
    known = lake_keys(connection, root, files, typed)
    if extra_known is not None and extra_known.num_rows:
        known = pa.concat_tables([known, extra_known.cast(known.schema)])
    result = deduplicate(connection, typed, known)
    if result.errors:
        raise BatchRejected(result.errors, what)
    return result
