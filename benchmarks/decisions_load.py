"""POST /v1/decisions under load, side by side with its ceiling, on SQLite and PostgreSQL
(run by hand, under `flock /work/heavy.lock`: it loads both cores).

    .venv/bin/python benchmarks/decisions_load.py --people 100000 --duration 30 \
        --backends sqlite,postgresql --database-prefix kaimen_bench

About four minutes a backend at 100,000 people (setup, three 30 s runs, a short profile).

The ceiling is a bare FastAPI app served by uvicorn exactly as `kaimen serve` serves kaimen
(benchmarks/hello_world_server.py: one process, `log_config=None`, `access_log=False`), whose
`POST /v1/decisions` answers a constant JSON object. The same client
(benchmarks/decisions_load_client.py, its own process: `--concurrency` keep-alive
connections sending requests back to back for random people) loads it and kaimen, in turns on
each backend: hello-world, kaimen, hello-world (`--rounds` kaimen runs, each between two
hello-world runs), `--warmup` seconds discarded then `--duration` seconds measured each. The
ratios (kaimen's requests per second over the hello-world runs' mean, and p99 over their
mean p99) are printed with their targets (issue 10: at least 0.5x, p99 within 3x).

Each backend's store is built as the tests build theirs, then replicated:

1. A fresh PostgreSQL database `<--database-prefix>_<random>` (dropped at the end unless
   `--keep`), or an SQLite file, in `--work`.
2. A small simulated world through kaimen's own pipeline (`simulate` -> `enrol_file` ->
   `ingest_file` -> `train` -> `score_month` for the last full month).
3. Replication to `--people`: person i gets a `people` row and a copy of template person
   (i mod n)'s published snapshot under the same model and month (COPY on PostgreSQL,
   executemany on SQLite; every constraint enforced). No `identities` rows: nothing on the
   decision path reads them.
4. A partner with an API key (scope `decisions`) and a `decision` consent for a random
   `--consent-share` of everyone (half of them sharing the score), then (VACUUM) ANALYZE. The
   others get the 404 an unknown person gets, so both paths are measured.

After every kaimen run the store must hold exactly one new `decisions` row and one new
`access_log` row per 200 answer, one `access_log` row per 404 (the person sees the attempt
without consent), and nothing new after a hello-world run; any 5xx, 429, connection error,
unexpected body or mismatch fails the run (results are still written, with "ok": false, and
the exit status is 1). The rate limits are counted on every request, set out of the load's
reach. CPU time of the server process, the PostgreSQL backends, the client and the whole
machine over each window is read from /proc, with the load average before each run. Last, with the servers stopped, the decision is timed and profiled in
this process against the same store (pool checkouts per decision counted by a pool event,
statements by SQLite's trace). Results go to benchmarks/results/decisions_load.json and .md
(`--results NAME`: NAME.json and NAME.md instead, so a trial run leaves the record alone).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import http.client
import io
import json
import os
import platform
import pstats
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi
import psycopg
import sqlalchemy
import starlette
import uvicorn
from psycopg.types.json import Json
from sqlalchemy import JSON, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import make_url

from kaimen import __version__
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.scoring.batch import score_month
from kaimen.scoring.training import train
from kaimen.sharing import deciding, decision_batches
from kaimen.sharing.rate_limits import LimitSettings, PartnerLimits
from kaimen.simulate.run import last_full_month, simulate
from kaimen.store import partners
from kaimen.store.database import connect, open_store
from kaimen.store.identity_vault import IdentityVault, decode_secret, new_secret
from kaimen.store.tables import (
    access_log,
    consents,
    decisions,
    people,
    score_runs,
    score_snapshots,
)

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
KAIMEN = Path(sys.executable).parent / "kaimen"
CLIENT = ROOT / "decisions_load_client.py"
HELLO = ROOT / "hello_world_server.py"
THROUGHPUT_TARGET = 0.5  # issue 10: at least half the hello-world's requests per second
P99_TARGET = 3.0  # and a p99 within three times its p99
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACTOR = "benchmark"
PARTNER = "bench-lender"
ID_DIGITS = 8  # the simulator's person ids: S<seed:04d>-<index:08d>
SNAPSHOT_COLUMNS = (
    "person_id",
    "month",
    "model_version",
    "score",
    "band",
    "thin_file",
    "credit_history",
    "behaviour",
    "capacity",
    "identity",
    "connections",
    "reasons",
    "points",
)
SQLITE_BATCH = 20_000
TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def timed(steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    log(f"{name} ...")
    yield
    steps[name] = round(time.perf_counter() - started, 2)
    log(f"{name}: {steps[name]} s")


def libpq(url: str) -> str:
    """The SQLAlchemy URL as psycopg wants it (no `+psycopg`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as error:
        raise SystemExit(f"cannot create a database through {admin_url}: {error}") from None
    finally:
        admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- setup -----------------------------------------------------------------------------------


def build_world(
    home: Path, url: str, vault: IdentityVault, size: int, seed: int, month: str
) -> tuple[Engine, str, dict[str, float]]:
    """The small world through kaimen's own pipeline; (engine, model version, step seconds)."""
    steps: dict[str, float] = {}
    now = dt.datetime.now(dt.UTC)
    sim, lake = home / "sim", home / "lake"
    with timed(steps, f"simulate {size:,} people x 24 months"):
        simulate(size, 24, seed, sim, month)
    engine = open_store(url)
    with timed(steps, "enrol_file"):
        enrol_file(engine, vault, sim / "people.csv", ACTOR, now=now)
    with timed(steps, "ingest_file"):
        ingest_file(engine, lake, sim / "events.parquet", ACTOR, now=now)
    with timed(steps, "train"):
        report = train(engine, ibis_connection(), lake, home / "models", month, ACTOR, now=now)
    with timed(steps, f"score_month {month}"):
        scored = score_month(engine, ibis_connection(), lake, month, ACTOR, now=now)
    if scored.model_version != report.champion:
        raise SystemExit(f"scored with {scored.model_version}, champion is {report.champion}")
    return engine, scored.model_version, steps


def templates(engine: Engine, month: str, version: str) -> list[dict[str, Any]]:
    """The published snapshots of the small world, with each person's birth date, by id."""
    query = (
        select(score_snapshots, people.c.birth_date)
        .join(people, people.c.person_id == score_snapshots.c.person_id)
        .where(score_snapshots.c.month == month, score_snapshots.c.model_version == version)
        .order_by(score_snapshots.c.person_id)
    )
    with engine.connect() as store:
        return [dict(row._mapping) for row in store.execute(query)]


def person_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:0{ID_DIGITS}d}"


def replicated(
    rows: list[dict[str, Any]], prefix: str, total: int, now: dt.datetime
) -> tuple[Iterator[tuple[Any, ...]], Iterator[tuple[Any, ...]]]:
    """(people rows, snapshot rows) for persons len(rows)..total-1, as tuples in column order."""

    def people_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(len(rows), total):
            yield (person_id(prefix, i), rows[i % len(rows)]["birth_date"], now, "active")

    def snapshot_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(len(rows), total):
            template = rows[i % len(rows)]
            yield (person_id(prefix, i), *(template[c] for c in SNAPSHOT_COLUMNS[1:]))

    return people_rows(), snapshot_rows()


def consent_rows(
    prefix: str, total: int, share: float, seed: int, now: dt.datetime
) -> tuple[list[tuple[Any, ...]], int]:
    """A `decision` consent for a random `share` of everyone (half of them sharing the score);
    (rows as person_id, partner_id, purpose, share_score, granted_at; how many share)."""
    rng = random.Random(seed)
    rows = []
    for i in range(total):
        if rng.random() < share:
            rows.append((person_id(prefix, i), PARTNER, "decision", int(rng.random() < 0.5), now))
    return rows, sum(r[3] for r in rows)


PEOPLE_COLUMNS = ("person_id", "birth_date", "enrolled_at", "status")
CONSENT_COLUMNS = ("person_id", "partner_id", "purpose", "share_score", "granted_at")


def bulk_postgres(url: str, table: Any, columns: tuple[str, ...], rows: Any) -> None:
    """COPY rows into `table` in one transaction (constraints and foreign keys checked)."""
    json_columns = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)}
    with psycopg.connect(libpq(url)) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Json(v) if i in json_columns else v for i, v in enumerate(row)])
        connection.commit()


def bulk_sqlite(engine: Engine, table: Any, columns: tuple[str, ...], rows: Any) -> None:
    """executemany in batches: SQLAlchemy's insert handles the column types (UTC datetimes)."""
    with engine.begin() as store:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) == SQLITE_BATCH:
                store.execute(insert(table), batch)
                batch = []
        if batch:
            store.execute(insert(table), batch)


def load_rows(engine: Engine, url: str, table: Any, columns: tuple[str, ...], rows: Any) -> None:
    if engine.dialect.name == "postgresql":
        bulk_postgres(url, table, columns, rows)
    else:
        bulk_sqlite(engine, table, columns, rows)


def vacuum_analyze(engine: Engine, url: str) -> None:
    """Fresh statistics and visibility maps, as autovacuum gives a store that has been live."""
    if engine.dialect.name == "postgresql":
        with psycopg.connect(libpq(url), autocommit=True) as connection:
            for table in ("people", "score_snapshots", "score_runs", "consents", "api_keys"):
                connection.execute(f"VACUUM ANALYZE {table}")
    else:
        with engine.begin() as store:
            store.execute(text("ANALYZE"))


def count_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as store:
        return {
            t.name: int(store.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (decisions, access_log)
        }


# --- server and load -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def wait_ready(
    port: int, server: subprocess.Popen[bytes], server_log: Path, method: str, path: str
) -> float:
    """Seconds until `method path` answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < 120:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}):\n{server_log.read_text()}")
        try:
            if call(port, method, path, "-")[0] == 200:
                return round(time.perf_counter() - started, 2)
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready within 120 s:\n{server_log.read_text()}")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone (FileNotFoundError, or ProcessLookupError mid-read)
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def backend_cpu_ns(pid: int) -> float:
    """CPU seconds of a single-threaded process (a PostgreSQL backend), to the nanosecond:
    /proc/PID/stat counts in 10 ms ticks, too coarse for a backend that lives a few ms."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except OSError:  # gone (FileNotFoundError, or ProcessLookupError mid-read)
        return 0.0


def process_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


class BackendSampler(threading.Thread):
    """CPU of the PostgreSQL backends serving one database, over a window.

    The server's pool opens and closes connections all the time (see the sessions count), and a
    backend that exits takes its CPU figure with it, so the backends are found by their process
    title every 100 ms and each one's last reading is kept. A backend born during the window
    counts from zero; whatever one spends after its last reading, or a backend that lives less
    than 100 ms, is missed: the total is a lower bound.
    """

    def __init__(self, database: str | None) -> None:
        super().__init__(name="backend-sampler", daemon=True)
        self.title = f" {database} " if database else None
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.retired = 0.0  # CPU of backends whose pid was later reused by a new one
        self.finished = threading.Event()

    def ours(self, pid: int) -> bool:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return title.startswith(b"postgres:") and (self.title or "").encode() in title

    def scan(self, at_start: bool = False) -> None:
        if self.title is None:
            return
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if not self.ours(pid):  # checked every time: pids are reused (pid_max is small)
                continue
            cpu = backend_cpu_ns(pid)
            if cpu == 0.0 and pid in self.last:
                continue  # exited since the listing: keep its last reading
            if cpu < self.last.get(pid, 0.0):  # a new backend of ours under a reused pid
                self.retired += self.last[pid] - self.first[pid]
                self.first[pid] = 0.0
            self.first.setdefault(pid, cpu if at_start else 0.0)
            self.last[pid] = cpu

    def run(self) -> None:
        while not self.finished.wait(0.1):
            self.scan()

    def start(self) -> None:
        self.scan(at_start=True)
        super().start()

    def stop(self) -> tuple[float, int]:
        """(CPU seconds in the window, backends seen)."""
        self.finished.set()
        self.join()
        self.scan()
        return self.retired + sum(self.last[p] - self.first[p] for p in self.last), len(self.last)


DATABASE_STATS = (
    "sessions",
    "xact_commit",
    "xact_rollback",
    "active_time",
    "tup_inserted",
    "blks_read",
    "blks_hit",
)


def database_stats(admin_url: str | None, database: str | None) -> dict[str, float]:
    """PostgreSQL's cumulative counters for the benchmark database (sessions opened,
    transactions, milliseconds spent executing statements, ...)."""
    if admin_url is None or database is None:
        return {}
    with psycopg.connect(libpq(admin_url), autocommit=True) as connection:
        row = connection.execute(
            f"SELECT {', '.join(DATABASE_STATS)} FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    assert row is not None
    return {name: float(value) for name, value in zip(DATABASE_STATS, row, strict=True)}


def database_per_request(
    before: dict[str, float], after: dict[str, float], requests: int
) -> dict[str, Any]:
    if not before or not requests:
        return {}
    added = {name: after[name] - before[name] for name in before}
    return {
        "requests": requests,
        "added": {name: round(value) for name, value in added.items()},
        "sessions_opened_per_1000_requests": round(added["sessions"] / requests * 1000, 1),
        "transactions_per_request": round(
            (added["xact_commit"] + added["xact_rollback"]) / requests, 2
        ),
        "active_ms_per_request": round(added["active_time"] / requests, 3),
        "buffer_hit_ratio": round(
            added["blks_hit"] / max(1.0, added["blks_hit"] + added["blks_read"]), 4
        ),
    }


def cpu_sample(server: int) -> dict[str, Any]:
    return {
        "server": process_cpu(server),
        "machine": machine_cpu(),
        "wall": time.perf_counter(),
    }


def cpu_budget(
    start: dict[str, Any], end: dict[str, Any], client_cpu: float, requests: int
) -> dict[str, Any]:
    """Where the cores went over the measured window, in cores and in ms per request."""
    wall = end["wall"] - start["wall"]
    server = end["server"] - start["server"]
    database = end.get("backends_cpu", 0.0)
    busy = end["machine"][0] - start["machine"][0]
    others = max(0.0, busy - server - database - client_cpu)

    def share(seconds: float) -> dict[str, float]:
        return {
            "cpu_seconds": round(seconds, 2),
            "cores": round(seconds / wall, 2),
            "ms_per_request": round(seconds / requests * 1000, 3) if requests else float("nan"),
        }

    return {
        "window_seconds": round(wall, 2),
        "cores": os.cpu_count(),
        "server_process": share(server),
        "postgresql_backends": share(database),
        "postgresql_backends_seen": end.get("backends_seen", 0),
        "load_client": share(client_cpu),
        "everything_else_on_the_machine": share(others),
        "machine_busy": share(busy),
    }


def run_load(
    port: int,
    key: str,
    offer_id: int,
    options: argparse.Namespace,
    prefix: str,
    server: int,
    database: str | None,
    out: Path,
    target: str = "decisions",
    warmup: float | None = None,
    duration: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the client process; (its results, CPU samples at the window's start and end)."""
    warmup = options.warmup if warmup is None else warmup
    duration = options.duration if duration is None else duration
    args = [
        sys.executable,
        str(CLIENT),
        f"--port={port}",
        f"--offer-id={offer_id}",
        f"--people={options.people}",
        f"--id-prefix={prefix}",
        f"--id-digits={ID_DIGITS}",
        f"--concurrency={options.concurrency}",
        f"--warmup={warmup}",
        f"--duration={duration}",
        f"--seed={options.seed}",
        f"--out={out}",
        f"--target={target}",
    ]
    # The key goes through the environment, not the command line (visible in ps).
    env = {**os.environ, "KAIMEN_BENCH_KEY": key}
    client = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    samples: dict[str, Any] = {}
    assert client.stdout is not None
    for line in client.stdout:
        marker = line.strip()
        if marker == "window-start":
            sampler = BackendSampler(database)
            sampler.start()
            samples["start"] = cpu_sample(server)
            log(f"measuring {target} for {duration} s")
        elif marker == "window-end":
            samples["end"] = cpu_sample(server)
            samples["end"]["backends_cpu"], samples["end"]["backends_seen"] = sampler.stop()
            samples["server_threads"] = process_threads(server)
            log("window closed; draining requests in flight")
    if client.wait() != 0:
        raise SystemExit(f"the load client failed ({client.returncode})")
    return json.loads(out.read_text()), samples


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- profile ---------------------------------------------------------------------------------


def profile(
    url: str, key: str, offer_id: int, consented: list[str], iterations: int
) -> dict[str, Any]:
    """The decision in this process, against the same store with the server stopped, one
    call at a time and then in batches as the server makes them: pool checkouts (counted by a
    pool event), the statements sent on SQLite (the driver's trace), mean wall and CPU
    milliseconds, and cProfile's top entries (one at a time)."""
    engine = connect(url)  # exactly the server's engine
    checkouts = [0]
    traced: list[str] = []
    tracing = [False]

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        checkouts[0] += 1
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(traced.append if tracing[0] else None)

    event.listen(engine, "checkout", on_checkout)
    rng = random.Random(5)
    for person in consented[:20]:  # the pool and the statement caches warm
        deciding.decide(engine, key, offer_id, person)
    checkouts[0] = 0
    tracing[0] = True
    deciding.decide(engine, key, offer_id, consented[0])
    tracing[0] = False
    results: dict[str, Any] = {
        "iterations": iterations,
        "checkouts_per_decision": checkouts[0],
        "sqlite_statements_per_decision": [" ".join(t.split())[:100] for t in traced],
    }
    people = [rng.choice(consented) for _ in range(iterations)]
    checkouts[0] = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for person in people:
        deciding.decide(engine, key, offer_id, person)
    results["decide_wall_ms"] = round((time.perf_counter() - wall) / iterations * 1000, 3)
    results["decide_cpu_ms"] = round((time.process_time() - cpu) / iterations * 1000, 3)
    results["checkouts_per_decision_timed"] = round(checkouts[0] / iterations, 3)
    profiler = cProfile.Profile()
    profiler.enable()
    for person in people:
        deciding.decide(engine, key, offer_id, person)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(14)
    results["cprofile_decide_top_tottime"] = _profile_lines(buffer.getvalue())
    # As the server decides: `BATCH` questions at once through `decision_batches`, in one
    # event loop (the first batch traced and counted, the others timed).
    checkouts[0] = 0
    traced.clear()
    tracing[0] = True
    asyncio.run(_asked_in_batches(engine, key, offer_id, people[:BATCH]))
    tracing[0] = False
    results["sqlite_statements_per_batch"] = _statement_counts(traced)
    results["checkouts_per_batch"] = checkouts[0]
    decided = iterations // BATCH * BATCH
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(_asked_in_batches(engine, key, offer_id, people[:decided]))
    results["batch_size"] = BATCH
    results["batched_wall_ms"] = round((time.perf_counter() - wall) / decided * 1000, 3)
    results["batched_cpu_ms"] = round((time.process_time() - cpu) / decided * 1000, 3)
    engine.dispose()
    return results


BATCH = 16  # as many as the load client has requests in flight


async def _asked_in_batches(engine: Engine, key: str, offer_id: int, people: list[str]) -> None:
    """`people`'s decisions, `BATCH` asked at once at a time, as the server asks them."""
    batches = decision_batches.batches_for(engine)
    try:
        for start in range(0, len(people), BATCH):
            chunk = people[start : start + BATCH]
            await asyncio.gather(*(batches.decide(key, offer_id, p) for p in chunk))
    finally:
        batches.close()


def _statement_counts(traced: list[str]) -> list[str]:
    """Each distinct statement's opening, with how many times it ran, in order."""
    counts: dict[str, int] = {}
    for statement in traced:
        # The trace shows each row's values: an insert is counted by its columns alone.
        opening = " ".join(statement.split()).split(" VALUES (")[0][:100]
        counts[opening] = counts.get(opening, 0) + 1
    return [f"{n} x {opening}" for opening, n in counts.items()]


def _profile_lines(text: str) -> list[str]:
    """The table of a pstats printout, paths shortened to the package."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    site = str(Path(sqlalchemy.__file__).parent.parent) + "/"
    source = str(Path(deciding.__file__).parent.parent.parent) + "/"
    return [
        line.replace(site, "").replace(source, "").rstrip()
        for line in lines[start:]
        if line.strip()
    ]


# --- one store -------------------------------------------------------------------------------


@dataclass
class Store:
    """A benchmark store, built and scored, with a partner, its key and consents."""

    backend: str
    url: str
    engine: Engine
    database: str | None
    key: str
    prefix: str
    consented_sample: list[str]
    facts: dict[str, Any]
    setup_seconds: dict[str, float]


def build_store(options: argparse.Namespace, backend: str, home: Path) -> Store:
    database: str | None = None
    if backend == "postgresql":
        database, url = create_database(options.admin_url, options.database_prefix)
        log(f"database {database}")
    else:
        url = f"sqlite:///{home / 'kaimen.sqlite'}"
    month = last_full_month(dt.date.today())
    prefix = f"S{options.seed % 10_000:04d}-"
    setup: dict[str, float] = {}
    started = time.perf_counter()
    engine, version, world_steps = build_world(
        home,
        url,
        IdentityVault(decode_secret(options.secret)),
        options.template_people,
        options.seed,
        month,
    )
    setup |= world_steps
    rows = templates(engine, month, version)
    expected = [person_id(prefix, i) for i in range(len(rows))]
    if [r["person_id"] for r in rows] != expected or len(rows) != options.template_people:
        raise SystemExit("the world's snapshots are not one per simulated person, in order")
    now = dt.datetime.now(dt.UTC)
    with timed(setup, f"replicate to {options.people:,} people (people rows)"):
        people_rows, snapshot_rows = replicated(rows, prefix, options.people, now)
        load_rows(engine, url, people, PEOPLE_COLUMNS, people_rows)
    with timed(setup, f"replicate to {options.people:,} people (snapshot rows)"):
        load_rows(engine, url, score_snapshots, SNAPSHOT_COLUMNS, snapshot_rows)
        with engine.begin() as store:
            store.execute(
                update(score_runs)
                .where(score_runs.c.month == month, score_runs.c.model_version == version)
                .values(people=options.people)
            )
    with timed(setup, "partner, API key and decision consents"):
        with engine.begin() as store:
            partners.add(store, PARTNER, "Benchmark Lender", now)
            _, key = partners.issue_key(store, PARTNER, ["decisions"], now)
        granted, sharing = consent_rows(
            prefix, options.people, options.consent_share, options.seed, now
        )
        load_rows(engine, url, consents, CONSENT_COLUMNS, granted)
    consented_count = len(granted)
    sample = [g[0] for g in random.Random(3).sample(granted, min(5_000, len(granted)))]
    del granted
    with timed(setup, "VACUUM ANALYZE" if backend == "postgresql" else "ANALYZE"):
        vacuum_analyze(engine, url)
    setup["total"] = round(time.perf_counter() - started, 2)
    with engine.connect() as store:
        snapshot_count = store.execute(
            select(func.count()).select_from(score_snapshots)
        ).scalar_one()
        database_version = store.execute(
            text(
                "SELECT version()"
                if backend == "postgresql"
                else "SELECT 'SQLite ' || sqlite_version()"
            )
        ).scalar_one()
    if snapshot_count != options.people:
        raise SystemExit(f"{snapshot_count:,} snapshots, expected {options.people:,}")
    log(f"{backend} store ready in {setup['total']} s: {snapshot_count:,} snapshots")
    facts = {
        "backend": backend,
        "database_version": database_version.split(" on ")[0],
        "people": options.people,
        "template_people": options.template_people,
        "month": month,
        "model_version": version,
        "consented": consented_count,
        "share_score": sharing,
        "offer_min_score": options.min_score,
    }
    return Store(backend, url, engine, database, key, prefix, sample, facts, setup)


# --- runs --------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int


def start_kaimen(store: Store, options: argparse.Namespace, home: Path, port: int) -> Server:
    server_log = home.parent / f"kaimen-{store.backend}.log"
    if options.rate_limit_storage != "memory://":  # what an earlier run counted
        PartnerLimits(LimitSettings(storage_uri=options.rate_limit_storage)).reset()
    env = {
        **os.environ,
        "KAIMEN_HOME": str(home),
        "KAIMEN_DATABASE_URL": store.url,
        "KAIMEN_ADMIN_TOKEN": options.admin_token,
        "KAIMEN_SECRET_KEY": options.secret,
        # Counted as always, out of reach: one key asks thousands of times a second, for
        # people drawn at random (a person drawn often could pass ten in a minute).
        "KAIMEN_RATE_LIMIT_PER_KEY": "1000000000/minute",
        "KAIMEN_RATE_LIMIT_PER_PERSON": "1000000/minute",
        "KAIMEN_RATE_LIMIT_STORAGE": options.rate_limit_storage,
    }
    with server_log.open("wb") as sink:
        process = subprocess.Popen(
            [str(KAIMEN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    started = wait_ready(port, process, server_log, "GET", "/healthz")
    log(f"kaimen serve ({store.backend}) ready on port {port} after {started} s")
    return Server("kaimen", process, port)


def start_hello(work: Path, port: int) -> Server:
    server_log = work / "hello.log"
    with server_log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(HELLO), "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    started = wait_ready(port, process, server_log, "POST", "/v1/decisions")
    log(f"hello-world ready on port {port} after {started} s")
    return Server("hello", process, port)


def measure(
    server: Server,
    store: Store,
    offer_id: int,
    options: argparse.Namespace,
    admin_url: str | None,
    out: Path,
) -> dict[str, Any]:
    """One load window against one server; for kaimen, with the store checked against the
    answers (one decision row and one access-log row per 200)."""
    target = "decisions" if server.name == "kaimen" else "hello"
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    before = count_rows(store.engine)
    stats_before = database_stats(admin_url, store.database) if target == "decisions" else {}
    load, samples = run_load(
        server.port,
        store.key,
        offer_id,
        options,
        store.prefix,
        server.process.pid,
        store.database if target == "decisions" else None,
        out,
        target=target,
    )
    time.sleep(2 if stats_before else 0)  # idle backends flush their statistics
    stats_after = database_stats(admin_url, store.database) if stats_before else {}
    after = count_rows(store.engine)
    answered = load["status_total"].get("200", 0)
    added = {name: after[name] - before[name] for name in before}
    failures: list[str] = []
    if target == "decisions":
        # Every 404 is a person without consent: the attempt is in their access log.
        refused = load["status_total"].get("404", 0)
        if added["decisions"] != answered or added["access_log"] != answered + refused:
            failures.append(
                f"store has {added} new rows for {answered} answers with 200 and {refused} 404s"
            )
        if load["status_window"].get("404", 0) == 0 or answered == 0:
            failures.append("both the 200 and the 404 paths should have been exercised")
        allowed = ("200", "404")
    else:
        if any(added.values()):
            failures.append(f"the hello-world run changed the store: {added}")
        allowed = ("200",)
    unexpected = {k: v for k, v in load["status_total"].items() if k not in allowed}
    if unexpected:
        failures.append(f"unexpected status codes {unexpected} (0 = connection error)")
    if load["unexpected_bodies"]:
        failures.append(f"unexpected bodies, e.g. {load['unexpected_bodies'][0]!r}")
    requests = sum(load["status_window"].values())
    result = {
        "target": target,
        "backend": store.backend,
        "loadavg_before": " ".join(loadavg),
        "load": load,
        "cpu": cpu_budget(
            samples["start"], samples["end"], load["client_cpu_seconds_in_window"], requests
        ),
        "server_threads": samples["server_threads"],
        "store_rows_added": added,
        "answers_200": answered,
        "failures": failures,
    }
    if stats_before:
        result["postgresql"] = database_per_request(
            stats_before, stats_after, sum(load["status_total"].values())
        )
    lat = load["latency"]
    log(
        f"{server.name} ({store.backend}): {load['requests_per_second']} req/s, p50 "
        f"{lat['p50_ms']} ms, p99 {lat['p99_ms']} ms; {failures or 'OK'}"
    )
    return result


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """kaimen against the hello-world runs around it: throughput and p99 ratios."""
    hello = [r for r in runs if r["target"] == "hello"]
    kaimen = [r for r in runs if r["target"] == "decisions"]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    ceiling_rps = mean([r["load"]["requests_per_second"] for r in hello])
    ceiling_p99 = mean([r["load"]["latency"]["p99_ms"] for r in hello])
    rps = mean([r["load"]["requests_per_second"] for r in kaimen])
    p99 = mean([r["load"]["latency"]["p99_ms"] for r in kaimen])
    throughput_ratio = round(rps / ceiling_rps, 3)
    p99_ratio = round(p99 / ceiling_p99, 2)
    return {
        "hello_requests_per_second": round(ceiling_rps, 1),
        "hello_p99_ms": round(ceiling_p99, 3),
        "kaimen_requests_per_second": round(rps, 1),
        "kaimen_p99_ms": round(p99, 3),
        "throughput_ratio": throughput_ratio,
        "throughput_target": THROUGHPUT_TARGET,
        "throughput_met": throughput_ratio >= THROUGHPUT_TARGET,
        "p99_ratio": p99_ratio,
        "p99_target": P99_TARGET,
        "p99_met": p99_ratio <= P99_TARGET,
        "server_cpu_ms_per_request": {
            "hello": round(mean([r["cpu"]["server_process"]["ms_per_request"] for r in hello]), 3),
            "kaimen": round(
                mean([r["cpu"]["server_process"]["ms_per_request"] for r in kaimen]), 3
            ),
        },
    }


# --- report ----------------------------------------------------------------------------------


def write_results(results: dict[str, Any], name: str = "decisions_load") -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    machine = results["machine"]
    lines = [
        "# POST /v1/decisions under load, against the bare FastAPI hello-world",
        "",
        f"{'OK' if results['ok'] else 'FAILED: ' + '; '.join(results['failures'])}. "
        f"{results['measured_at']}; `{results['command']}`.",
        "",
        f"{results['options']['people']:,} scored people per store, "
        f"{results['options']['concurrency']} concurrent keep-alive clients in a separate "
        f"process over loopback, {results['options']['warmup']:g} s warm-up then "
        f"{results['options']['duration']:g} s measured per run, the hello-world app and "
        "kaimen interleaved (hello, kaimen, ..., hello) on each backend. Both servers: one "
        f"uvicorn process, {machine['event_loop']} loop, {machine['http']} parser, "
        "`log_config=None`, `access_log=False`; kaimen's rate limits counted in "
        f"`{results['options']['rate_limit_storage']}`. **2 cores shared** by the client, the server, "
        "PostgreSQL and other helpers' work (load average at the start: "
        f"{machine['loadavg_start']}, at the end: {machine['loadavg_end']}).",
        "",
        "| backend | hello-world req/s | kaimen req/s | ratio (target >= "
        f"{THROUGHPUT_TARGET}) | hello p99 | kaimen p99 | p99 ratio (target <= {P99_TARGET}) "
        "| server CPU ms/request hello / kaimen |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, c in results["comparison"].items():
        cpu = c["server_cpu_ms_per_request"]
        lines.append(
            f"| {backend} | {c['hello_requests_per_second']:,} | "
            f"{c['kaimen_requests_per_second']:,} | **{c['throughput_ratio']}** "
            f"{'met' if c['throughput_met'] else 'NOT met'} | {c['hello_p99_ms']} ms | "
            f"{c['kaimen_p99_ms']} ms | **{c['p99_ratio']}** "
            f"{'met' if c['p99_met'] else 'NOT met'} | {cpu['hello']} / {cpu['kaimen']} |"
        )
    lines += [
        "",
        "## Every run, in order",
        "",
        "| # | backend | server | load avg before | req/s | p50 | p99 | p99.9 | statuses "
        "(window) | server cores | machine busy cores | rows added (decisions, access log) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, run in enumerate(results["runs"], 1):
        lat = run["load"]["latency"]
        added = run["store_rows_added"]
        lines.append(
            f"| {index} | {run['backend']} | {run['target']} | {run['loadavg_before']} | "
            f"{run['load']['requests_per_second']:,} | {lat['p50_ms']} | {lat['p99_ms']} | "
            f"{lat['p99_9_ms']} | {run['load']['status_window']} | "
            f"{run['cpu']['server_process']['cores']} | {run['cpu']['machine_busy']['cores']} | "
            f"{added['decisions']}, {added['access_log']} |"
        )
    lines += [
        "",
        "Store check after every kaimen run: exactly one new `decisions` row and one new "
        "`access_log` row per answer with status 200 (warm-up, window and drain counted), "
        "and one `access_log` row (the refused attempt) for a 404; "
        + (
            "held in every run."
            if all(not r["failures"] for r in results["runs"])
            else "**FAILED**, see the JSON."
        ),
    ]
    for backend, data in results["stores"].items():
        pg = next((r.get("postgresql") for r in results["runs"] if r.get("postgresql")), None)
        prof = data.get("profile", {})
        lines += [
            "",
            f"## {backend}",
            "",
            f"{data['facts']['database_version']}; {data['facts']['people']:,} people, "
            f"{data['facts']['consented']:,} `decision` consents "
            f"({data['facts']['share_score']:,} sharing the score); setup "
            f"{data['setup_seconds']['total']} s.",
        ]
        if backend == "postgresql" and pg:
            lines += [
                "",
                "pg_stat_database over a kaimen run: "
                f"{pg['transactions_per_request']} transactions per request, "
                f"{pg['sessions_opened_per_1000_requests']} new sessions per 1,000 requests, "
                f"{pg['active_ms_per_request']} ms executing statements per request.",
            ]
        if prof:
            lines += [
                "",
                f"In process, server stopped, {prof['iterations']} decisions one at a time: "
                f"{prof['decide_wall_ms']} ms wall, {prof['decide_cpu_ms']} ms CPU each; "
                f"{prof['checkouts_per_decision_timed']} pool checkouts per decision.",
            ]
            if prof["sqlite_statements_per_decision"]:
                lines += ["", "Statements one decision sends (SQLite trace):", ""]
                lines += [f"- `{t}`" for t in prof["sqlite_statements_per_decision"]]
            if "batched_cpu_ms" in prof:
                lines += [
                    "",
                    f"As the server decides, {prof['batch_size']} questions at once through "
                    f"`decision_batches`: {prof['batched_wall_ms']} ms wall, "
                    f"{prof['batched_cpu_ms']} ms CPU a decision; "
                    f"{prof['checkouts_per_batch']} pool checkouts a batch"
                    + (
                        " (PostgreSQL: the batches' own async connections)."
                        if backend == "postgresql"
                        else "."
                    ),
                ]
                if prof["sqlite_statements_per_batch"]:
                    lines += ["", "Statements one batch sends (SQLite trace):", ""]
                    lines += [f"- `{t}`" for t in prof["sqlite_statements_per_batch"]]
            lines += [
                "",
                "cProfile, top by own time:",
                "",
                "```",
                *prof["cprofile_decide_top_tottime"],
                "```",
            ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument(
        "--template-people", type=int, default=2_000, help="size of the simulated world"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds, not measured")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds a run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="kaimen runs per backend, each between two hellos"
    )
    parser.add_argument("--consent-share", type=float, default=0.9)
    parser.add_argument("--min-score", type=int, default=650, help="the offer's minimum")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL to create the db in")
    parser.add_argument("--database-prefix", default="kaimen_bench")
    parser.add_argument("--kaimen-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--hello-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile-iterations", type=int, default=500)
    parser.add_argument("--work", type=Path, default=ROOT / "work-decisions")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the folder")
    parser.add_argument(
        "--rate-limit-storage",
        default="memory://",
        help="kaimen's KAIMEN_RATE_LIMIT_STORAGE (redis://127.0.0.1:6379/12: as several "
        "server processes share their counts); the counts are forgotten before each run",
    )
    parser.add_argument(
        "--results",
        default="decisions_load",
        help="name of the results files in benchmarks/results (NAME.json, NAME.md)",
    )
    options = parser.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", options.results):
        raise SystemExit("--results is a file name without a folder")
    backends = [b.strip() for b in options.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        raise SystemExit("--backends takes sqlite and/or postgresql")
    if options.people < options.template_people:
        raise SystemExit("--people must be at least --template-people")
    if not 0 < options.consent_share <= 1:
        raise SystemExit("--consent-share must be in (0, 1]")
    options.secret = new_secret()
    options.admin_token = secrets.token_urlsafe(32)
    admin_url = options.admin_url if "postgresql" in backends else None

    work = options.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    loadavg_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    hello: Server | None = None
    kaimen: Server | None = None
    stores: list[Store] = []
    runs: list[dict[str, Any]] = []
    store_results: dict[str, Any] = {}
    comparison: dict[str, Any] = {}
    try:
        hello = start_hello(work, options.hello_port or free_port())
        for backend in backends:
            home = work / backend / "home"
            home.mkdir(parents=True)
            store = build_store(options, backend, home)
            stores.append(store)
            kaimen = start_kaimen(store, options, home, options.kaimen_port or free_port())
            status, offer = call(
                kaimen.port,
                "POST",
                "/v1/offers",
                store.key,
                {
                    "name": f"deposit waived from {options.min_score}",
                    "purpose": "car rental",
                    "min_score": options.min_score,
                },
            )
            if status != 201:
                raise SystemExit(f"publishing the offer failed: {status} {offer}")
            offer_id = int(offer["offer_id"])
            these: list[dict[str, Any]] = []
            sequence = [hello, kaimen] * options.rounds + [hello]
            for index, server in enumerate(sequence):
                out = work / f"client-{backend}-{index}-{server.name}.json"
                these.append(measure(server, store, offer_id, options, admin_url, out))
            runs += these
            comparison[backend] = compare(these)
            stop(kaimen.process)
            kaimen = None
            log(f"profiling the decision in process ({backend})")
            store_results[backend] = {
                "facts": store.facts,
                "setup_seconds": store.setup_seconds,
                "profile": profile(
                    store.url,
                    store.key,
                    offer_id,
                    store.consented_sample,
                    options.profile_iterations,
                ),
            }
            store.engine.dispose()
        stop(hello.process)
        hello = None
        failures = [f"{r['backend']} {r['target']}: {f}" for r in runs for f in r["failures"]]
        results: dict[str, Any] = {
            "ok": not failures,
            "failures": failures,
            "targets_met": all(c["throughput_met"] and c["p99_met"] for c in comparison.values()),
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": " ".join(["python", "benchmarks/decisions_load.py", *sys.argv[1:]]),
            "options": {
                k: v
                for k, v in vars(options).items()
                if k not in ("secret", "admin_token", "work", "admin_url")
            },
            "machine": {
                "cpus": os.cpu_count(),
                "loadavg_start": loadavg_start,
                "loadavg_end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "event_loop": "uvloop" if _installed("uvloop") else "asyncio",
                "http": "httptools" if _installed("httptools") else "h11",
                "threadpool_limit": _threadpool_limit(),
                "kaimen": __version__,
                "fastapi": fastapi.__version__,
                "starlette": starlette.__version__,
                "uvicorn": uvicorn.__version__,
                "sqlalchemy": sqlalchemy.__version__,
                "psycopg": psycopg.__version__,
            },
            "comparison": comparison,
            "runs": runs,
            "stores": store_results,
        }
        write_results(results, options.results)
        for backend, c in comparison.items():
            log(
                f"{backend}: kaimen {c['kaimen_requests_per_second']} req/s against hello-world "
                f"{c['hello_requests_per_second']}: {c['throughput_ratio']}x (target >= "
                f"{THROUGHPUT_TARGET}); p99 {c['kaimen_p99_ms']} ms against "
                f"{c['hello_p99_ms']} ms: {c['p99_ratio']}x (target <= {P99_TARGET})"
            )
        if failures:
            log(f"FAILED: {failures}")
            raise SystemExit(1)
    finally:
        try:
            for server in (kaimen, hello):
                if server is not None:
                    stop(server.process)
        finally:  # the databases go even if stopping a server was interrupted
            for store in stores:
                store.engine.dispose()
                if not options.keep and store.database is not None:
                    drop_database(options.admin_url, store.database)
            if not options.keep:
                shutil.rmtree(work, ignore_errors=True)
            else:
                log(f"kept {[s.database for s in stores if s.database]} and {work}")


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _threadpool_limit() -> int:
    """AnyIO's default thread limiter, which Starlette's run_in_threadpool uses."""
    import anyio
    import anyio.to_thread

    async def limit() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    return anyio.run(limit)


if __name__ == "__main__":
    main()
