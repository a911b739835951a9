"""`kaimen ingest PATH`: a CSV, JSON Lines or Parquet file into the lake, all or nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from kaimen.engines.embedded import connect
from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.ingest.pipeline import IngestReport, against_lake, validate, with_receipt_time
from kaimen.input_files import read_input
from kaimen.lake.writer import exclusive, write_events
from kaimen.store import audit, lake_manifest


def ingest_file(
    engine: Engine, lake_root: Path, path: Path, actor: str, now: dt.datetime | None = None
) -> IngestReport:
    """Validate every row, then store the new events; a file seen before is a no-op."""
    now = now or dt.datetime.now(dt.UTC)
    parsed = read_input(path, INPUT_COLUMNS)
    with engine.connect() as store:
        previous = lake_manifest.batch_for_file(store, parsed.sha256)
    if previous is not None:
        return IngestReport(
            previous.events_total, 0, previous.events_total, previous.batch_id, replayed_file=True
        )
    raw = with_receipt_time(parsed.table, now)
    connection = connect()
    try:
        typed = validate(connection, engine, raw, parsed.errors, now, parsed.name)
        with exclusive(lake_root):
            result = against_lake(connection, engine, lake_root, typed, what=parsed.name)
            written = write_events(lake_root, result.new)
            with engine.begin() as store:
                batch_id = lake_manifest.record_batch(
                    store,
                    channel="file",
                    received_at=now,
                    events_total=typed.num_rows,
                    events_new=result.new.num_rows,
                    files=[
                        lake_manifest.FileRecord(f.month, f.path, f.rows, f.sha256) for f in written
                    ],
                    file_sha256=parsed.sha256,
                    file_name=parsed.name[:400],
                )
                audit.append(
                    store,
                    actor,
                    "events.ingested",
                    details={
                        "batch_id": batch_id,
                        "file_sha256": parsed.sha256,
                        "total": typed.num_rows,
                        "new": result.new.num_rows,
                        "duplicate": result.duplicates,
                    },
                    now=now,
                )
    finally:
        connection.close()
    return IngestReport(typed.num_rows, result.new.num_rows, result.duplicates, batch_id)
