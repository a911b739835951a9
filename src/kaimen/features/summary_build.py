"""Keeping the monthly summaries up to date: summarise the lake files not yet summarised."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
from sqlalchemy import Engine

from kaimen.engines import spark
from kaimen.engines.parquet_files import SPARK, read_parquet
from kaimen.features.exclusions import with_people_redone
from kaimen.features.summaries import summarise
from kaimen.lake.atomic_parquet import DuckDBRows, IbisRows, Rows, WrittenRows, write_parquet
from kaimen.lake.schema import PARTITION
from kaimen.lake.sql_paths import sql_path
from kaimen.lake.writer import exclusive
from kaimen.store import summary_manifest
from kaimen.telemetry.steps import note_step, timed_step

SUMMARIES_DIR = "summaries"
# Summaries are written once and read by every month's features after (the whole history
# each time), so they are compressed for reading: Snappy decodes faster than the lake's
# zstd, for files less than twice the size and a fraction of the events' (the 1M world's
# 14 months, 15.6M rows: 220 against 125 MB; the features query 2.86-3.01 s against
# 2.98-3.11 s, 5.5-5.7 against 5.8-6.0 s of CPU; a month's summary written in 0.35 against
# 0.4 s).
SUMMARY_COMPRESSION = "snappy"


def _summary_file() -> str:
    return f"{SUMMARIES_DIR}/part-{uuid.uuid4().hex}.parquet"


@dataclass(frozen=True)
class SummaryReport:
    lake_files: int
    rows: int
    path: str | None


@timed_step("summarise")
def refresh_summaries(
    engine: Engine, backend: ibis.BaseBackend, lake_root: Path, now: dt.datetime | None = None
) -> SummaryReport:
    """Summarise every lake file no summary covers yet into one new summary file.

    Its cost follows the new events only. The new file is listed in the store in the same
    transaction that marks its lake files summarised, so a crash summarises them again
    rather than twice.
    """
    now = now or dt.datetime.now(dt.UTC)
    # Under the lake's lock: an opt-out rewrites lake files and deletes the old ones, and a
    # summary read from a file it is replacing would bring the person's rows back.
    with exclusive(lake_root):
        with engine.connect() as store:
            pending = summary_manifest.unsummarised(store)
        if not pending:
            return SummaryReport(0, 0, None)
        events = read_parquet(backend, [lake_root / path for _, path in pending])
        if PARTITION in events.columns:
            events = events.drop(PARTITION)
        placed = write_parquet(lake_root, _summary_file(), _rows(backend, summarise(events)))
        with engine.begin() as store:
            summary_manifest.record(
                store, placed.path, placed.rows, [file_id for file_id, _ in pending], now
            )
    note_step(lake_files=len(pending), rows=placed.rows)
    return SummaryReport(len(pending), placed.rows, placed.path)


def _rows(backend: ibis.BaseBackend, expression: ibis.Table) -> Rows:
    """The summary rows, written by the engine that computed them."""
    if backend.name == SPARK:
        return WrittenRows(lambda path: spark.write_parquet(backend, expression, path))
    return IbisRows(backend, expression, SUMMARY_COMPRESSION)


def rewrite_summary_without(
    connection: duckdb.DuckDBPyConnection, lake_root: Path, path: str, person_id: str
) -> tuple[str, int]:
    """A copy of summary file `path` without `person_id`'s rows, in the same order and
    columns (written as summaries are now); returns its path (relative to the lake root) and row count. The old file stays
    until the caller has listed the new one, then the caller deletes it."""
    # No ORDER BY: DuckDB keeps the rows in file order, so the copy differs only by removal.
    rows = DuckDBRows(
        connection,
        f"SELECT * FROM read_parquet({sql_path(lake_root / path)}, hive_partitioning = false) "
        "WHERE person_id <> $person",
        {"person": person_id},
        compression=SUMMARY_COMPRESSION,
    )
    placed = write_parquet(lake_root, _summary_file(), rows)
    return placed.path, placed.rows


def rewrite_summary_redone(
    backend: ibis.BaseBackend,
    lake_root: Path,
    path: str,
    covered: Sequence[Path],
    concerned: ibis.Table,
) -> tuple[str, int]:
    """A copy of summary file `path` with the rows of the people in `concerned` (a table of
    the backend's, with `person_id`) made again from `covered`, the lake files it summarises
    as they are now (after events left them); returns its path and row count. Everyone
    else's rows are copied as they are. The old file stays until the caller has listed the
    new one, then the caller deletes it."""
    s = read_parquet(backend, [lake_root / path])
    events = read_parquet(backend, covered)
    if PARTITION in events.columns:
        events = events.drop(PARTITION)
    rows = with_people_redone(s, events, concerned)
    placed = write_parquet(lake_root, _summary_file(), _rows(backend, rows))
    return placed.path, placed.rows
