"""`kaimen ingest PATH`: a CSV, JSON Lines or Parquet file into the lake, all or nothing.

The file is read in chunks; each chunk is judged and typed in one engine pass and staged as
Parquet. Only when every chunk is clean are the staged rows deduplicated and written to the
lake, so memory stays bounded by the chunk size and the engine's memory limit, not the file.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from kaimen.domain.errors import BatchRejected, RowError
from kaimen.engines.embedded import connect
from kaimen.ingest.event_rules import INPUT_COLUMNS, check_chunk
from kaimen.ingest.pipeline import (
    MAX_REPORTED_ERRORS,
    IngestReport,
    file_records,
    load_people,
    months_in,
    opted_out_rows,
    settle,
    store_new_rows,
    unsealed_keys,
)
from kaimen.input_files import file_sha256, iter_input, locate
from kaimen.lake.schema import PARTITION
from kaimen.lake.sql_paths import sql_path
from kaimen.lake.writer import exclusive
from kaimen.store import audit, lake_manifest
from kaimen.telemetry.steps import note_step, timed_step

STAGING_DIR = "_staging"
SPILL_DIR = "_spill"


@timed_step("ingest_file")
def ingest_file(
    engine: Engine,
    lake_root: Path,
    path: Path,
    actor: str,
    now: dt.datetime | None = None,
    chunk_rows: int = 1_000_000,
    memory_limit: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Validate every row, then store the new events; a file seen before is a no-op.

    `progress` hears what is happening, e.g. "checked 3,000,000 rows", "deduplicating".
    """
    tell = progress or (lambda _message: None)
    now = now or dt.datetime.now(dt.UTC)
    sha256 = file_sha256(path)
    with engine.connect() as store:
        previous = lake_manifest.batch_for_file(store, sha256)
    if previous is not None:
        return IngestReport(
            previous.events_total, 0, previous.events_total, previous.batch_id, replayed_file=True
        )
    staging = lake_root / STAGING_DIR / uuid.uuid4().hex
    staging.parent.mkdir(parents=True, exist_ok=True)
    connection = connect(memory_limit=memory_limit, temp_directory=lake_root / SPILL_DIR)
    try:
        load_people(connection, engine)
        errors: list[RowError] = []
        checked_rows = 0
        for index, chunk in enumerate(iter_input(path, INPUT_COLUMNS, chunk_rows)):
            errors += chunk.errors
            checked = check_chunk(connection, chunk.table, now, max_errors=MAX_REPORTED_ERRORS)
            errors += checked.errors
            checked_rows += chunk.table.num_rows
            tell(f"checked {checked_rows:,} rows")
            if errors:
                if len(errors) >= MAX_REPORTED_ERRORS:
                    break
                continue  # keep judging, to list every bad row, but stage nothing more
            connection.execute(
                f"COPY (SELECT * EXCLUDE (problems) FROM {checked.table}) TO {sql_path(staging)} "
                f"(FORMAT parquet, PARTITION_BY ({PARTITION}), "
                f"FILENAME_PATTERN 'chunk{index:06d}_{{uuid}}', OVERWRITE_OR_IGNORE)"
            )
        if errors:
            raise BatchRejected(locate(path, errors[:MAX_REPORTED_ERRORS]), path.name)
        connection.execute("DROP TABLE IF EXISTS checked")
        if staging.exists():
            connection.execute(
                "CREATE OR REPLACE TEMP VIEW staged AS SELECT * FROM read_parquet("
                f"{sql_path(staging / '*' / '*.parquet')}, hive_partitioning = true, "
                "hive_types = {'month': VARCHAR})"
            )
        else:  # an empty file
            connection.execute(
                f"CREATE OR REPLACE TEMP TABLE staged AS SELECT * EXCLUDE (problems) "
                f"FROM {checked.table} LIMIT 0"
            )
        months = months_in(connection, "staged")
        tell("deduplicating")
        with exclusive(lake_root):
            departed = opted_out_rows(connection, engine, "staged")
            if departed:
                raise BatchRejected(locate(path, departed[:MAX_REPORTED_ERRORS]), path.name)
            result = settle(
                connection, engine, lake_root, "staged", path.name, unsealed_keys(engine)
            )
            tell(f"writing {result.new:,} new events")
            written = store_new_rows(connection, result, months, lake_root)
            with engine.begin() as store:
                batch_id = lake_manifest.record_batch(
                    store,
                    channel="file",
                    received_at=now,
                    events_total=result.total,
                    events_new=result.new,
                    files=file_records(written),
                    file_sha256=sha256,
                    file_name=path.name[:400],
                )
                audit.append(
                    store,
                    actor,
                    "events.ingested",
                    details={
                        "batch_id": batch_id,
                        "file_sha256": sha256,
                        "total": result.total,
                        "new": result.new,
                        "duplicate": result.duplicates,
                    },
                    now=now,
                )
    finally:
        connection.close()
        shutil.rmtree(staging, ignore_errors=True)
    note_step(total=result.total, new=result.new, duplicate=result.duplicates)
    return IngestReport(result.total, result.new, result.duplicates, batch_id)
