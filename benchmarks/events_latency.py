"""`POST /v1/events` latency for a 100-event batch as the population and the lake grow (by hand).

    flock /work/heavy.lock env PYTHONPATH=src .venv/bin/python benchmarks/events_latency.py \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/h_events_latency \
        --people 10000 1000000 --lake 1000000 100000000

The API is the real app (`create_app`) served in process through Starlette's TestClient (an
ASGI client: no sockets, no uvicorn), so what is measured is kaimen's own work per request.
For each store (SQLite, and PostgreSQL with --postgres) one store grows in steps, and each
step is measured in the same run:

1. the smallest population and lake;
2. the population grown to the largest (same lake);
3. the lake grown to the largest (same population).

People are inserted in bulk straight into `people` (what the event rules read; enrolment's
vault work is not what this measures). Lake events are generated with DuckDB and stored as
kaimen stores a file batch: `write_months` writes the sorted month files, and
`lake_manifest.record_batch` lists them in the transaction where `event_keys.add` indexes
their keys. Each measured request sends 100 new events about random enrolled people.

Target (issue 10): latency flat within 1.5x from the smallest to the largest population and
lake. Results: benchmarks/results/events_latency.json and .md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.engines.embedded import connect
from kaimen.ingest.deduplication import CONTENT_HASH_SQL, KEYS_SCHEMA
from kaimen.ingest.pipeline import file_records, months_in
from kaimen.lake.writer import write_months
from kaimen.store import event_keys, lake_manifest
from kaimen.store.tables import people

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "benchmark-admin-token-0123456789"
TARGET = 1.5
BATCH = 100
LAKE_CHUNK = 5_000_000
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FIRST_MONTH = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)


def person_id(i: int) -> str:
    return f"P{i:09d}"


def add_people(engine: Engine, start: int, stop: int) -> None:
    """People start..stop-1, active, born 1980, inserted in bulk through the driver."""
    rows = [(person_id(i), dt.date(1980, 1, 1), NOW, "active") for i in range(start, stop)]
    with engine.begin() as store:
        driver: Any = store.connection.driver_connection
        if engine.dialect.name == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(
                    "COPY people (person_id, birth_date, enrolled_at, status) FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            driver.executemany(
                "INSERT INTO people (person_id, birth_date, enrolled_at, status) "
                "VALUES (?, ?, ?, ?)",
                [
                    (p, b.isoformat(), n.replace(tzinfo=None).isoformat(" "), s)
                    for p, b, n, s in rows
                ],
            )


def add_lake(engine: Engine, lake_root: Path, start: int, stop: int, population: int) -> None:
    """Lake events start..stop-1 (payments over 24 months), stored as kaimen stores a file."""
    connection = connect(memory_limit="6GB", temp_directory=lake_root / "_spill")
    try:
        for first in range(start, stop, LAKE_CHUNK):
            last = min(stop, first + LAKE_CHUNK)
            connection.execute(
                f"""CREATE OR REPLACE TEMP TABLE generated AS
                SELECT 'bank-a' AS source, 'L' || i AS event_id,
                    'P' || lpad(CAST(hash(i) % {population} AS VARCHAR), 9, '0') AS person_id,
                    'payment' AS kind,
                    TIMESTAMPTZ '{FIRST_MONTH.isoformat()}' + to_seconds(hash(i * 7) % (730 * 86400)) AS occurred_at,
                    CAST(1 AS SMALLINT) AS schema_version,
                    CAST((hash(i * 13) % 100000) / 100 + 1 AS DECIMAL(18, 2)) AS amount,
                    'CNY' AS currency, 'groceries' AS merchant_category
                FROM range({first}, {last}) t(i)"""
            )
            connection.execute(
                """CREATE OR REPLACE TEMP TABLE batch AS
                SELECT source, event_id, person_id, kind, occurred_at, occurred_at AS recorded_at,
                    schema_version, amount, currency, merchant_category,
                    CAST(NULL AS DATE) AS due_date, CAST(NULL AS DATE) AS paid_date,
                    CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS partner,
                    CAST(NULL AS VARCHAR) AS item, CAST(NULL AS VARCHAR) AS deposit,
                    CAST(NULL AS VARCHAR) AS outcome, CAST(NULL AS VARCHAR) AS attribute,
                    CAST(NULL AS VARCHAR) AS value, CAST(NULL AS VARCHAR) AS friend_id,
                    CAST(NULL AS VARCHAR) AS action, CAST(NULL AS VARCHAR) AS case_number,
                    CAST(NULL AS VARCHAR) AS court, strftime(occurred_at, '%Y-%m') AS month
                FROM generated"""
            )
            written = write_months(
                connection, "SELECT * FROM batch", months_in(connection, "batch"), lake_root
            )
            keys = connection.sql(
                f"SELECT source, event_id, {CONTENT_HASH_SQL} AS content_hash FROM batch "
                "ORDER BY source, event_id"
            ).to_arrow_table()
            assert keys is not None
            with engine.begin() as store:
                lake_manifest.record_batch(
                    store,
                    channel="file",
                    received_at=NOW,
                    events_total=last - first,
                    events_new=last - first,
                    files=file_records(written),
                )
                event_keys.add(store, keys.cast(KEYS_SCHEMA))
            print(f"  lake: {last:,} events")
    finally:
        connection.close()


def measure(client: TestClient, population: int, requests: int, tag: str) -> dict[str, float]:
    """Seconds per request of `requests` batches of BATCH new events (after a warm-up)."""
    chooser = random.Random(7)
    timings: list[float] = []
    for n in range(requests + 5):
        events = [
            {
                "source": "shop",
                "event_id": f"{tag}-{n}-{k}",
                "person_id": person_id(chooser.randrange(population)),
                "kind": "payment",
                "occurred_at": (NOW - dt.timedelta(days=1 + k % 300)).isoformat(),
                "amount": "12.50",
                "currency": "CNY",
                "merchant_category": "groceries",
            }
            for k in range(BATCH)
        ]
        started = time.perf_counter()
        answer = client.post(
            "/v1/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        elapsed = time.perf_counter() - started
        if answer.status_code != 200 or answer.json()["new"] != BATCH:
            raise SystemExit(f"unexpected answer {answer.status_code}: {answer.text[:500]}")
        if n >= 5:
            timings.append(elapsed)
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings) * 1000, 1),
        "p90_ms": round(timings[int(len(timings) * 0.9) - 1] * 1000, 1),
        "requests": len(timings),
    }


def run_store(
    name: str, url: str | None, work: Path, people_steps: list[int], lake_steps: list[int],
    requests: int,
) -> dict[str, Any]:  # fmt: skip
    home = work / f"home-{name}"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(
        home=home,
        database_url=url,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
        admin_token=TOKEN,
    )
    workspace = settings.workspace()
    engine, lake_root = workspace.engine, settings.lake_root
    steps: list[dict[str, Any]] = []
    small_people, big_people = people_steps[0], people_steps[-1]
    small_lake, big_lake = lake_steps[0], lake_steps[-1]
    plan = [
        ("smallest", small_people, small_lake),
        ("more people", big_people, small_lake),
        ("bigger lake", big_people, big_lake),
    ]
    have_people = have_lake = 0
    for label, want_people, want_lake in plan:
        started = time.perf_counter()
        if want_people > have_people:
            add_people(engine, have_people, want_people)
            have_people = want_people
        if want_lake > have_lake:
            add_lake(engine, lake_root, have_lake, want_lake, small_people)
            have_lake = want_lake
        setup = round(time.perf_counter() - started, 1)
        with engine.connect() as store:
            enrolled = store.execute(select(func.count()).select_from(people)).scalar_one()
            indexed = event_keys.count(store)
        app = create_app(settings)
        with TestClient(app) as client:
            timing = measure(client, have_people, requests, f"{name}-{len(steps)}")
        app.state.workspace.engine.dispose()
        step = {
            "step": label,
            "people": enrolled,
            "lake_events": have_lake,
            "indexed_keys": indexed,
            "setup_seconds": setup,
            **timing,
        }
        print(f"{name}: {step}")
        steps.append(step)
    base = steps[0]["median_ms"]
    return {
        "steps": steps,
        "people_ratio": round(steps[1]["median_ms"] / base, 2),
        "lake_ratio": round(steps[2]["median_ms"] / steps[1]["median_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument("--lake", type=int, nargs=2, default=[1_000_000, 100_000_000])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--postgres", help="a PostgreSQL URL of a database this may recreate")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kaimen-events-latency"))
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)
    stores: dict[str, str | None] = {"sqlite": None}
    if options.postgres:
        from benchmarks.ingest_speed import recreate

        recreate(options.postgres)
        stores["postgresql"] = options.postgres
    load_before = os.getloadavg()
    measured = {
        name: run_store(name, url, options.work, options.people, options.lake, options.requests)
        for name, url in stores.items()
    }
    load_after = os.getloadavg()
    results = {
        "client": "in-process ASGI (Starlette TestClient), no uvicorn",
        "batch_events": BATCH,
        "target_ratio": TARGET,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "stores": measured,
    }
    lines = [
        "# `POST /v1/events` latency (100 new events a request) as people and the lake grow\n",
        f"In-process ASGI client (Starlette TestClient, no uvicorn), {options.requests} requests "
        f"a step after 5 warm-up; {os.cpu_count()} cores; {results['measured_at']}; load "
        f"average before {load_before[0]:.2f}, after {load_after[0]:.2f}.\n",
        "| store | step | people | lake events | indexed keys | median ms | p90 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in measured.items():
        for step in result["steps"]:
            lines.append(
                f"| {name} | {step['step']} | {step['people']:,} | {step['lake_events']:,} | "
                f"{step['indexed_keys']:,} | {step['median_ms']} | {step['p90_ms']} |"
            )
    lines += ["", "| store | people ratio | lake ratio | target | met |", "|---|---|---|---|---|"]
    for name, result in measured.items():
        worst = max(result["people_ratio"], result["lake_ratio"])
        lines.append(
            f"| {name} | {result['people_ratio']}x | {result['lake_ratio']}x | "
            f"within {TARGET}x | {'yes' if worst <= TARGET else 'no'} |"
        )
        print(f"{name}: people {result['people_ratio']}x, lake {result['lake_ratio']}x "
              f"(target within {TARGET}x)")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "events_latency.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "events_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
