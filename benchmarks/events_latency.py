"""`POST /v1/events` latency for a 100-event batch as the population and the lake grow (by hand).

    flock /work/heavy.lock env PYTHONPATH=src .venv/bin/python benchmarks/events_latency.py \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/h_events_latency \
        --people 10000 1000000 --lake 1000000 100000000 --work /big/disk/events-latency

The API is the real app (`create_app`) served in process through Starlette's TestClient (an
ASGI client: no sockets, no uvicorn), so what is measured is kaimen's own work per request.
For each store kind (SQLite, and PostgreSQL with --postgres) three stores are built, one per
step:

1. the smallest population and lake;
2. the population grown to the largest (same lake);
3. the lake grown to the largest (same population).

and measured in the same run, interleaved: each round sends one request to each of the
three (in an order that rotates), so load from other work on a shared machine falls on every
step alike instead of on whichever step happened to run during it. (Measuring the steps one
after another on one growing store, as this script did before, compared a quiet minute with
a busy one: the same store gave 95 ms and 253 ms in two runs.)

People are inserted in bulk straight into `people` (what the event rules read; enrolment's
vault work is not what this measures). Lake events are generated once with DuckDB and stored
as kaimen stores a file batch: `write_months` writes the sorted month files (under
`--work`/lake, hard-linked into each store's lake), and each store lists them with
`lake_manifest.record_batch` in the transaction where `event_keys.add` indexes their keys
(in key_hash order, as file ingest sends them). After building, the store's writes are flushed (a
PostgreSQL CHECKPOINT, a SQLite WAL checkpoint) so the first requests do not pay for the
build. Each measured request sends 100 new events about random enrolled people.

With --reuse, a lake and stores already built in `--work` (and the PostgreSQL databases
`<name>_1..3`) with the wanted sizes are measured again as they are: a repeat of the
measurement without the build.

Target (issue 10): latency flat within 1.5x from the smallest to the largest population and
lake. Results: benchmarks/results/events_latency.json and .md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.engines.embedded import connect
from kaimen.ingest.deduplication import CONTENT_HASH_SQL
from kaimen.ingest.pipeline import months_in
from kaimen.lake.writer import write_months
from kaimen.store import event_keys, lake_manifest
from kaimen.store.tables import people

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "benchmark-admin-token-0123456789"
TARGET = 1.5
BATCH = 100
WARMUP = 5
LAKE_CHUNK = 5_000_000
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FIRST_MONTH = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
STEPS = ("smallest", "more people", "bigger lake")


def person_id(i: int) -> str:
    return f"P{i:09d}"


@dataclass(frozen=True)
class LakeChunk:
    """Events start..stop-1 as written once: their month files and their sorted keys."""

    start: int
    stop: int
    files: list[lake_manifest.FileRecord]
    keys: Path


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


def _write_chunk(
    connection: duckdb.DuckDBPyConnection, lake: Path, start: int, stop: int, population: int
) -> LakeChunk:
    """Events start..stop-1 (payments over 24 months about `population` people) as month
    files under `lake`, and their keys (in key_hash order, as file ingest indexes them) as Parquet."""
    connection.execute(
        f"""CREATE OR REPLACE TEMP TABLE batch AS
        SELECT *, strftime(occurred_at, '%Y-%m') AS month FROM (
            SELECT 'bank-a' AS source, 'L' || i AS event_id,
                'P' || lpad(CAST(hash(i) % {population} AS VARCHAR), 9, '0') AS person_id,
                'payment' AS kind,
                TIMESTAMPTZ '{FIRST_MONTH.isoformat()}'
                    + to_seconds(hash(i * 7) % (730 * 86400)) AS occurred_at,
                occurred_at AS recorded_at, CAST(1 AS SMALLINT) AS schema_version,
                CAST((hash(i * 13) % 100000) / 100 + 1 AS DECIMAL(18, 2)) AS amount,
                'CNY' AS currency, 'groceries' AS merchant_category,
                CAST(NULL AS DATE) AS due_date, CAST(NULL AS DATE) AS paid_date,
                CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS partner,
                CAST(NULL AS VARCHAR) AS item, CAST(NULL AS VARCHAR) AS deposit,
                CAST(NULL AS VARCHAR) AS outcome, CAST(NULL AS VARCHAR) AS attribute,
                CAST(NULL AS VARCHAR) AS value, CAST(NULL AS VARCHAR) AS friend_id,
                CAST(NULL AS VARCHAR) AS action, CAST(NULL AS VARCHAR) AS case_number,
                CAST(NULL AS VARCHAR) AS court
            FROM range({start}, {stop}) t(i))"""
    )
    written = write_months(connection, "SELECT * FROM batch", months_in(connection, "batch"), lake)
    keys = lake.parent / "keys" / f"{start:012d}-{stop:012d}.parquet"
    keys.parent.mkdir(parents=True, exist_ok=True)
    key_hash, key_check = event_keys.key_sql()
    connection.execute(
        f"COPY (SELECT source, event_id, {CONTENT_HASH_SQL} AS content_hash, "
        f"{key_hash} AS key_hash, {key_check} AS key_check FROM batch "
        f"ORDER BY key_hash) TO '{keys}' (FORMAT parquet, COMPRESSION zstd)"
    )
    files = [lake_manifest.FileRecord(f.month, f.path, f.rows, f.sha256) for f in written]
    return LakeChunk(start, stop, files, keys)


def build_lake(work: Path, bounds: list[int], population: int, reuse: bool) -> list[LakeChunk]:
    """The lake written once for every store: chunks between consecutive `bounds`."""
    lake, listing = work / "lake", work / "lake.json"
    if reuse and listing.exists():
        saved = json.loads(listing.read_text())
        if saved["bounds"] == bounds and saved["population"] == population:
            return [
                LakeChunk(
                    c["start"],
                    c["stop"],
                    [lake_manifest.FileRecord(*f) for f in c["files"]],
                    Path(c["keys"]),
                )
                for c in saved["chunks"]
            ]
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(work / "keys", ignore_errors=True)
    chunks: list[LakeChunk] = []
    connection = connect(memory_limit="6GB", temp_directory=work / "_spill")
    try:
        for start, stop in itertools.pairwise(bounds):
            chunks.append(_write_chunk(connection, lake, start, stop, population))
            print(f"  lake: {stop:,} events", flush=True)
    finally:
        connection.close()
    listing.write_text(
        json.dumps(
            {
                "bounds": bounds,
                "population": population,
                "chunks": [
                    {
                        "start": c.start,
                        "stop": c.stop,
                        "files": [[f.month, f.path, f.rows, f.sha256] for f in c.files],
                        "keys": str(c.keys),
                    }
                    for c in chunks
                ],
            }
        )
    )
    return chunks


def add_lake(engine: Engine, lake_root: Path, shared: Path, chunks: list[LakeChunk]) -> None:
    """List `chunks` in the store as kaimen stores a file batch: the files (hard links to
    the shared lake's) in the manifest, their keys indexed in the same transaction."""
    for chunk in chunks:
        for file in chunk.files:
            target = lake_root / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(shared / file.path, target)
        keys = pq.read_table(chunk.keys).cast(event_keys.HASHED_SCHEMA)
        with engine.begin() as store:
            lake_manifest.record_batch(
                store,
                channel="file",
                received_at=NOW,
                events_total=chunk.stop - chunk.start,
                events_new=chunk.stop - chunk.start,
                files=chunk.files,
            )
            event_keys.add(store, keys)
        print(f"  store: {chunk.stop:,} events indexed", flush=True)


def flush(engine: Engine) -> None:
    """Write the build's pages out now, not during the first measured requests."""
    with engine.connect() as store:
        if engine.dialect.name == "postgresql":
            store.execute(text("CHECKPOINT"))
        else:
            store.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        store.commit()


def sizes(engine: Engine) -> tuple[int, int]:
    """(people enrolled, keys indexed) in the store."""
    with engine.connect() as store:
        enrolled = store.execute(select(func.count()).select_from(people)).scalar_one()
        return int(enrolled), event_keys.count(store)


def measure(
    clients: list[TestClient], populations: list[int], requests: int, tag: str
) -> list[dict[str, float]]:
    """Seconds per request of `requests` batches of BATCH new events to each client, one
    request to each in every round (after WARMUP rounds), the order rotating per round."""
    chooser = random.Random(7)
    timings: list[list[float]] = [[] for _ in clients]
    for n in range(requests + WARMUP):
        for i in [(n + k) % len(clients) for k in range(len(clients))]:
            events = [
                {
                    "source": "shop",
                    "event_id": f"{tag}-{i}-{n}-{k}",
                    "person_id": person_id(chooser.randrange(populations[i])),
                    "kind": "payment",
                    "occurred_at": (NOW - dt.timedelta(days=1 + k % 300)).isoformat(),
                    "amount": "12.50",
                    "currency": "CNY",
                    "merchant_category": "groceries",
                }
                for k in range(BATCH)
            ]
            started = time.perf_counter()
            answer = clients[i].post(
                "/v1/events",
                json={"events": events},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            elapsed = time.perf_counter() - started
            if answer.status_code != 200 or answer.json()["new"] != BATCH:
                raise SystemExit(f"unexpected answer {answer.status_code}: {answer.text[:500]}")
            if n >= WARMUP:
                timings[i].append(elapsed)
    measured = []
    for series in timings:
        series.sort()
        measured.append(
            {
                "median_ms": round(statistics.median(series) * 1000, 1),
                "p90_ms": round(series[int(len(series) * 0.9) - 1] * 1000, 1),
                "requests": len(series),
            }
        )
    return measured


def run_store(
    name: str, url: str | None, work: Path, people_steps: list[int], chunks: list[LakeChunk],
    small_chunks: int, requests: int, reuse: bool,
) -> dict[str, Any]:  # fmt: skip
    """Build (or, with `reuse`, find) the three steps' stores of one kind and measure them."""
    small_people, big_people = people_steps
    plan = [
        (small_people, chunks[:small_chunks]),
        (big_people, chunks[:small_chunks]),
        (big_people, chunks),
    ]
    settings_of: list[Settings] = []
    built: list[dict[str, Any]] = []
    for number, (want_people, want_chunks) in enumerate(plan, start=1):
        home = work / f"home-{name}-{number}"
        step_url = f"{url}_{number}" if url else None
        settings = Settings(
            home=home,
            database_url=step_url,
            secret_key=base64.b64encode(bytes(range(32))).decode(),
            admin_token=TOKEN,
        )
        settings_of.append(settings)
        want_events = want_chunks[-1].stop
        started = time.perf_counter()
        if reuse and home.exists():
            engine = settings.workspace().engine
            enrolled, indexed = sizes(engine)
            if enrolled == want_people and indexed >= want_events:
                engine.dispose()
                built.append({"setup_seconds": None})
                continue
            engine.dispose()
        shutil.rmtree(home, ignore_errors=True)
        if step_url:
            from benchmarks.ingest_speed import recreate

            recreate(step_url)
        engine = settings.workspace().engine
        add_people(engine, 0, want_people)
        add_lake(engine, settings.lake_root, work / "lake", want_chunks)
        flush(engine)
        engine.dispose()
        built.append({"setup_seconds": round(time.perf_counter() - started, 1)})
        print(f"{name}: built {STEPS[number - 1]} in {built[-1]['setup_seconds']} s", flush=True)
    apps = [create_app(settings) for settings in settings_of]
    clients = [TestClient(app) for app in apps]
    for client in clients:
        client.__enter__()
    try:
        populations = []
        for app in apps:
            populations.append(sizes(app.state.workspace.engine)[0])
        timings = measure(clients, populations, requests, f"{name}-{time.time_ns()}")
    finally:
        for client in clients:
            client.__exit__(None, None, None)
    steps: list[dict[str, Any]] = []
    for number, app in enumerate(apps):
        enrolled, indexed = sizes(app.state.workspace.engine)
        app.state.workspace.engine.dispose()
        step = {
            "step": STEPS[number],
            "people": enrolled,
            "lake_events": plan[number][1][-1].stop,
            "indexed_keys": indexed,
            **built[number],
            **timings[number],
        }
        print(f"{name}: {step}", flush=True)
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
    parser.add_argument("--postgres", help="a PostgreSQL URL: this may recreate <its name>_1..3")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kaimen-events-latency"))
    parser.add_argument("--reuse", action="store_true", help="measure stores built before again")
    parser.add_argument("--stores", default="sqlite,postgresql", help="which kinds to measure")
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)
    small_lake, big_lake = options.lake
    bounds = [0, small_lake, *range(small_lake + LAKE_CHUNK, big_lake, LAKE_CHUNK), big_lake]
    stores: dict[str, str | None] = {}
    if "sqlite" in options.stores:
        stores["sqlite"] = None
    if options.postgres and "postgresql" in options.stores:
        stores["postgresql"] = options.postgres
    load_before = os.getloadavg()
    started = time.perf_counter()
    chunks = build_lake(options.work, bounds, options.people[0], options.reuse)
    lake_seconds = round(time.perf_counter() - started, 1)
    measured: dict[str, Any] = {}
    load_at_measure: dict[str, list[float]] = {}
    for name, url in stores.items():
        measured[name] = run_store(
            name, url, options.work, options.people, chunks, 1, options.requests, options.reuse
        )
        load_at_measure[name] = [round(x, 2) for x in os.getloadavg()]
    load_after = os.getloadavg()
    results = {
        "client": "in-process ASGI (Starlette TestClient), no uvicorn",
        "order": "three stores a kind (one a step), measured interleaved round by round",
        "batch_events": BATCH,
        "target_ratio": TARGET,
        "lake_build_seconds": lake_seconds,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "load_before": [round(x, 2) for x in load_before],
            "load_after_each_store": load_at_measure,
            "load_after": [round(x, 2) for x in load_after],
        },
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "stores": measured,
    }
    loads = ", ".join(f"{n} {v[0]:.2f}" for n, v in load_at_measure.items())
    lines = [
        "# `POST /v1/events` latency (100 new events a request) as people and the lake grow\n",
        f"In-process ASGI client (Starlette TestClient, no uvicorn); one store a step, the "
        f"three measured interleaved ({options.requests} rounds of one request each after "
        f"{WARMUP} warm-up); {os.cpu_count()} cores; {results['measured_at']}; load average "
        f"before {load_before[0]:.2f}, after measuring {loads}.\n",
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
