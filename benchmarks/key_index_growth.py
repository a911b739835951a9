"""What a month's keys cost the event key index as the index grows, on SQLite and PostgreSQL
(run by hand: it loads both cores).

    .venv/bin/python benchmarks/key_index_growth.py --keys 2000000 --months 4

A file's ingest adds its keys to `event_keys` through `store.event_keys.add` (the quick way:
sorted by `key_hash`, in one transaction). The index is keyed by a hash, so a month's keys
land all over it. Each month here adds `--keys` new keys (their hashes made by DuckDB with
`event_keys.key_sql`, as the ingest makes them) to a store migrated to the newest revision
that already holds the months before, and times the transaction, commit included (on SQLite
the commit copies its log into the database file: SQLite's automatic checkpoint). What it
wrote is read from the store: on SQLite the log's pages before the commit's checkpoint
(`PRAGMA wal_checkpoint(PASSIVE)` reports them as it copies them), on PostgreSQL the bytes of write-ahead log between
`pg_current_wal_lsn()` before and after.

A thousand keys are added first, unmeasured, so that the first month does not pay for the
code path's first run. The ratio printed is each month's time against the first month's (the same number of keys
onto an empty index): a cost that followed the batch would stay near 1. Results go to
benchmarks/results/key_index_growth.json and .md (`--results NAME` to write elsewhere).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Engine, text

from decisions_load import ADMIN_URL, create_database, drop_database
from kaimen.store import event_keys
from kaimen.store.database import open_store

ROOT = Path(__file__).resolve().parent


def month_keys(month: int, count: int) -> pa.Table:
    """`count` keys of events no earlier month has, with their hashes, in key_hash order."""
    key_hash, key_check = event_keys.key_sql("'bench'", "event_id")
    return (
        duckdb.connect()
        .sql(
            f"SELECT {key_hash} AS key_hash, {key_check} AS key_check, "
            "CAST(hash(event_id) >> 1 AS BIGINT) AS content_hash "
            f"FROM (SELECT 'm{month}-' || i AS event_id FROM range({count}) t(i)) "
            "ORDER BY key_hash"
        )
        .to_arrow_table()
    )


def postgres_wal_lsn(engine: Engine) -> int:
    with engine.connect() as store:
        lsn = str(store.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def add_month(engine: Engine, keys: pa.Table) -> dict[str, Any]:
    """Add one month's keys in one transaction; seconds and what the store wrote."""
    postgres = engine.dialect.name == "postgresql"
    before = postgres_wal_lsn(engine) if postgres else 0
    if not postgres:
        with engine.connect() as store:  # an empty log to start from
            store.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
    started = time.perf_counter()
    with engine.begin() as store:
        if not postgres:
            # The log's pages are counted before the commit's own checkpoint copies them.
            store.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        event_keys.add(store, keys)
    written: dict[str, Any]
    if postgres:
        seconds = time.perf_counter() - started
        written = {"wal_mib": round((postgres_wal_lsn(engine) - before) / 2**20, 1)}
    else:
        with engine.connect() as store:
            # PASSIVE reports the log's pages (and copies them); TRUNCATE then empties it.
            _, pages, _ = store.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            store.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
            store.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")
        seconds = time.perf_counter() - started  # the checkpoint is the commit's own work
        written = {"wal_pages": int(pages), "wal_mib": round(pages * 4096 / 2**20, 1)}
    return {"seconds": round(seconds, 2), **written}


def measure(backend: str, options: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    database = None
    if backend == "postgresql":
        database, url = create_database(options.admin_url, "kaimen_key_index_growth")
    else:
        url = f"sqlite:///{work / 'kaimen.sqlite'}"
    engine = open_store(url)
    months = []
    try:
        # The code path once (its first run pays for imports and the driver's set-up).
        with engine.begin() as store:
            event_keys.add(store, month_keys(-1, 1_000))
        for month in range(options.months):
            keys = month_keys(month, options.keys)
            result = {"month": month, "keys_before": month * options.keys}
            result |= add_month(engine, keys)
            months.append(result)
            print(f"{backend}: {result}", flush=True)
    finally:
        engine.dispose()
        if database is not None:
            drop_database(options.admin_url, database)
    first = months[0]["seconds"]
    for result in months:
        result["ratio_to_first"] = round(result["seconds"] / first, 2)
    return months


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=2_000_000, help="new keys a month")
    parser.add_argument("--months", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--work", type=Path, default=ROOT / "work-key-index")
    parser.add_argument("--results", default="key_index_growth")
    options = parser.parse_args()
    work = options.work.resolve()
    results: dict[str, Any] = {}
    for backend in [b.strip() for b in options.backends.split(",") if b.strip()]:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            results[backend] = measure(backend, options, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    output = {"keys_a_month": options.keys, "measured_at": measured, "results": results}
    (ROOT / "results" / f"{options.results}.json").write_text(json.dumps(output, indent=2) + "\n")
    lines = [
        "# A month's keys against the event key index as it grows",
        "",
        f"{options.keys:,} new keys a month through `event_keys.add` (sorted by key_hash, one "
        f"transaction, commit and checkpoint included); {measured}. "
        "`python benchmarks/key_index_growth.py` (see its docstring).",
        "",
        "| store | month | keys before | seconds | ratio to the first month | log written |",
        "|---|---|---|---|---|---|",
    ]
    for backend, months in results.items():
        for r in months:
            written = (
                f"{r['wal_pages']:,} pages ({r['wal_mib']} MiB)"
                if "wal_pages" in r
                else f"{r['wal_mib']} MiB"
            )
            lines.append(
                f"| {backend} | {r['month']} | {r['keys_before']:,} | {r['seconds']} | "
                f"{r['ratio_to_first']}x | {written} |"
            )
    (ROOT / "results" / f"{options.results}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
