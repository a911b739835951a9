"""The earlier months of a benchmark world written straight into the lake (run by hand).

`kaimen ingest` judges every row, deduplicates it against the key index and fills that index:
at 100 million events, months of it would take hours, and none of it is what the monthly
batch measures. The simulator's events are valid and unique by construction, so here each
earlier month is written as `kaimen ingest` of that month's file would leave it, through
the project's own code for every part that stays: `lake.writer.write_months` writes the
month's lake file (lake schema and casts, sorted by person and time, zstd, placed
atomically), `lake_manifest.record_batch` lists it as one file batch, `audit.append` notes
it, and `refresh_summaries` (what `kaimen lake summarise` runs) summarises it before the
next month arrives. The one difference: the event key index stays empty. The batch never
reads it (it only decides what a new ingest already holds), and the last month's events,
ingested by `kaimen ingest` in the benchmark, have keys no earlier month has; run
`kaimen lake index-keys` on a world to fill it when that matters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from kaimen.domain.events import SCHEMA_VERSION
from kaimen.engines.embedded import connect, ibis_connection
from kaimen.features.summary_build import refresh_summaries
from kaimen.lake.schema import PARTITION
from kaimen.lake.sql_paths import sql_path
from kaimen.lake.writer import write_months
from kaimen.store import audit, lake_manifest
from kaimen.store.database import open_store

ACTOR = "cli"


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def write_earlier_months(home: Path, events: Path, last: str) -> list[str]:
    """Every month of `events` before `last` into `home`'s lake, listed and summarised month
    by month; returns the months written."""
    lake_root = home / "lake"
    engine = open_store(f"sqlite:///{home / 'kaimen.sqlite'}")
    connection = connect(memory_limit="8GB", temp_directory=lake_root / "_spill")
    backend = ibis_connection()
    source = f"read_parquet({sql_path(events)})"
    months = [
        str(row[0])
        for row in connection.execute(
            f"SELECT DISTINCT strftime(occurred_at, '%Y-%m') AS m FROM {source} "
            "WHERE m < $last ORDER BY m",
            {"last": last},
        ).fetchall()
    ]
    for month in months:
        now = dt.datetime.now(dt.UTC)
        # As `kaimen ingest` of the month's file leaves it: the version sent by no one is the
        # current one, and the month is that of occurred_at (event_rules).
        rows_sql = (
            f"SELECT *, CAST({SCHEMA_VERSION} AS SMALLINT) AS schema_version, "
            f"'{month}' AS {PARTITION} FROM {source} "
            f"WHERE occurred_at >= TIMESTAMPTZ '{month}-01 00:00:00+00' "
            f"AND occurred_at < TIMESTAMPTZ '{_next_month(month)}-01 00:00:00+00'"
        )
        (written,) = write_months(connection, rows_sql, [month], lake_root)
        name = f"events-{month}.parquet"
        with engine.begin() as store:
            batch_id = lake_manifest.record_batch(
                store,
                channel="file",
                received_at=now,
                events_total=written.rows,
                events_new=written.rows,
                files=[lake_manifest.FileRecord(month, written.path, written.rows, written.sha256)],
                # No file was sent: the batch is named after what it wrote.
                file_sha256=hashlib.sha256(f"{name}:{written.sha256}".encode()).hexdigest(),
                file_name=name,
            )
            audit.append(
                store,
                ACTOR,
                "events.ingested",
                details={
                    "batch_id": batch_id,
                    "total": written.rows,
                    "new": written.rows,
                    "duplicate": 0,
                },
                now=now,
            )
        refresh_summaries(engine, backend, lake_root, now)
        print(f"  wrote and summarised {month}: {written.rows:,} events", flush=True)
    connection.close()
    engine.dispose()
    return months
