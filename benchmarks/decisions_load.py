"""POST /v1/decisions under load, over loopback, against 1,000,000 scored people (run by hand).

    .venv/bin/python benchmarks/decisions_load.py --people 1000000 --concurrency 16 \
        --warmup 15 --duration 120

About five minutes at 1,000,000 people (setup ~70 s, the load, then ~1 minute of profiling).

What it builds (not timed as part of the load, but each step's wall time is reported):

1. A fresh PostgreSQL database `kaimen_bench_<random>` made through `--admin-url` (dropped
   at the end unless `--keep`), or a SQLite file with `--backend sqlite`, in a scratch
   KAIMEN_HOME.
2. A small simulated world run through kaimen's own pipeline, as the tests do (see
   tests/scoring/test_monthly_score.py `_world`): `simulate` -> `enrol_file` -> `ingest_file`
   -> `train` -> `score_month` for the last full month. Its people are really enrolled (with
   identities) and its snapshots are really published (with the score_runs row and audit entry).
3. Replication to `--people`: person ids continue the simulator's numbering (S0011-00000000,
   S0011-00000001, ...) so the load generator can pick any of them at random; person i gets a
   `people` row (the birth date of template person i mod n, enrolled now, active) and a copy of
   that template's published snapshot (score, band, thin-file flag, five dimensions, reasons,
   points) under the same model version and month. The score_runs row's `people` count is set
   to the new total, so the month reads as one publication of everyone. Bulk inserts: COPY
   through psycopg on PostgreSQL, executemany in batches of 20,000 on SQLite; all constraints
   and foreign keys stay enforced. Replicated people get no `identities` rows (nothing on the
   decision path reads them; enrolling a million through hashing and encryption would add
   minutes for nothing measured here) and no audit entry.
4. A partner with an API key (scope `decisions`, through kaimen.store.partners), a `decision`
   consent for a random `--consent-share` (default 90%) of everyone (half of those also share
   the score), bulk inserted the same way, then VACUUM ANALYZE, as autovacuum would have done
   on a store that has been live for a while. The remaining people get the 404 an unknown
   person gets, so both paths are measured.

Then `kaimen serve` starts as a subprocess (KAIMEN_HOME, KAIMEN_DATABASE_URL,
KAIMEN_ADMIN_TOKEN, KAIMEN_SECRET_KEY in its environment), the partner publishes an offer
(`--min-score`, default 650) over HTTP, and benchmarks/decisions_load_client.py, a separate
process, sends decisions from `--concurrency` keep-alive connections for `--warmup` seconds
(discarded) and then `--duration` seconds (measured), for people chosen uniformly at random.
CPU time of the client, the server and the PostgreSQL backends over the measured window is
read from /proc, so the results show where the shared cores went, and pg_stat_database gives
sessions opened and transactions per request. Afterwards the store must hold exactly one new
`decisions` row and one new `access_log` row per 200 answer; any 5xx, connection error,
unexpected body or mismatch fails the run (results are still written, with "ok": false, and
the exit status is 1). Then the same client loads `GET /healthz` for `--baseline-duration`
seconds: the HTTP stack's own cost, as a yardstick.

Last, with the server stopped, the request path is profiled in this process against the same
database: the statements per decision, authenticate and decide timed apart and together (with
and without the pool's pre-ping, with a new connection per checkout, with synchronous_commit
off) including the PostgreSQL backends' CPU, and cProfile of `deciding.decide`. Results go to
benchmarks/results/decisions_load.json and .md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import http.client
import io
import json
import os
import platform
import pstats
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from sqlalchemy.pool import NullPool

from kaimen import __version__
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.scoring.batch import score_month
from kaimen.scoring.training import train
from kaimen.sharing import deciding
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


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"kaimen_bench_{secrets.token_hex(6)}"
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


def wait_healthy(port: int, server: subprocess.Popen[bytes], server_log: Path) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < 120:
        if server.poll() is not None:
            raise SystemExit(
                f"kaimen serve exited ({server.returncode}):\n{server_log.read_text()}"
            )
        try:
            if call(port, "GET", "/healthz", "-")[0] == 200:
                return round(time.perf_counter() - started, 2)
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"kaimen serve not healthy within 120 s:\n{server_log.read_text()}")


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


class Tracked:
    """An engine whose PostgreSQL backends' CPU is counted: every backend it checks out is
    read (to the nanosecond) when a measured stretch begins and ends, or when it is closed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.baseline: dict[int, float] = {}
        self.backend_seconds = 0.0
        if engine.dialect.name == "postgresql":  # SQLite has no server process to read
            event.listen(engine, "checkout", self._checkout)
            event.listen(engine, "close", self._close)

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A backend first seen now was born during the stretch: its whole life counts.
        self.baseline.setdefault(dbapi_connection.info.backend_pid, 0.0)

    def _close(self, dbapi_connection: Any, _record: Any) -> None:
        # Emitted just before the close, while the backend can still be read.
        pid = dbapi_connection.info.backend_pid
        self.backend_seconds += backend_cpu_ns(pid) - self.baseline.pop(pid, 0.0)

    def begin(self) -> None:
        self.baseline = {pid: backend_cpu_ns(pid) for pid in self.baseline}

    def end(self) -> None:
        for pid, before in self.baseline.items():
            self.backend_seconds += max(0.0, backend_cpu_ns(pid) - before)


def authenticate(engine: Engine, key: str) -> None:
    """What auth.identify does for a partner key: its own connection, one lookup."""
    with engine.connect() as store:
        if partners.authenticate(store, key) is None:
            raise SystemExit("the partner key no longer authenticates")


def decide(engine: Engine, offer_id: int, person: str) -> None:
    deciding.decide(engine, PARTNER, offer_id, person, f"partner:{PARTNER}")


def profile(
    url: str, key: str, offer_id: int, consented: list[str], iterations: int
) -> dict[str, Any]:
    """The request path in process, against the same store, one call at a time: what the
    server does per decision apart from HTTP, JSON and the thread hops.

    Variants run in interleaved rounds of 25 calls, so that the other work on the machine
    weighs on each alike. Wall and CPU time are this process's; backend CPU is PostgreSQL's.
    """
    server_like = Tracked(connect(url))  # exactly the server's engine
    engine = server_like.engine
    statements: list[str] = []
    pings = [0]
    ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return ping(dbapi_connection)

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split())[:90])

    for person in consented[:20]:  # warm the pool and the statement caches
        authenticate(engine, key)
        decide(engine, offer_id, person)
    event.listen(engine, "before_cursor_execute", record)
    pings[0] = 0
    authenticate(engine, key)
    decide(engine, offer_id, consented[0])
    event.remove(engine, "before_cursor_execute", record)
    results: dict[str, Any] = {
        "iterations": iterations,
        "per_request": {"statements": statements, "pool_pre_pings": pings[0]},
    }

    def both(tracked: Tracked) -> Callable[[str], None]:
        def work(person: str) -> None:
            authenticate(tracked.engine, key)
            decide(tracked.engine, offer_id, person)

        return work

    variants: dict[str, tuple[Tracked, Callable[[str], None]]] = {
        "authenticate": (server_like, lambda _person: authenticate(engine, key)),
        "decide": (server_like, lambda person: decide(engine, offer_id, person)),
        "authenticate_and_decide": (server_like, both(server_like)),
    }
    extra: list[Tracked] = []
    if engine.dialect.name == "postgresql":
        extra = [
            # No pre-ping: one round trip (and one implicit transaction) less per checkout.
            Tracked(create_engine(url)),
            # What a pool smaller than the concurrency degrades to.
            Tracked(create_engine(url, poolclass=NullPool, pool_pre_ping=True)),
            # Measurement only, not a recommendation: a decision must be durable once answered.
            Tracked(
                create_engine(
                    url, pool_pre_ping=True, connect_args={"options": "-c synchronous_commit=off"}
                )
            ),
        ]
        for name, tracked in zip(
            (
                "authenticate_and_decide_without_pre_ping",
                "authenticate_and_decide_fresh_connection_per_checkout",
                "authenticate_and_decide_synchronous_commit_off",
            ),
            extra,
            strict=True,
        ):
            variants[name] = (tracked, both(tracked))
    for _tracked, work in variants.values():  # each engine's pool and caches warm
        for person in consented[:5]:
            work(person)
    totals = {name: [0.0, 0.0, 0.0] for name in variants}  # wall, CPU, backend CPU
    rng = random.Random(5)
    chunk = 25
    for _ in range(max(1, iterations // chunk)):
        for name, (tracked, work) in variants.items():
            people = [rng.choice(consented) for _ in range(chunk)]
            tracked.backend_seconds = 0.0
            tracked.begin()
            wall, cpu = time.perf_counter(), time.process_time()
            for person in people:
                work(person)
            totals[name][0] += time.perf_counter() - wall
            totals[name][1] += time.process_time() - cpu
            tracked.end()
            totals[name][2] += tracked.backend_seconds
    calls = max(1, iterations // chunk) * chunk
    results["paths"] = {
        name: {
            "wall_ms": round(wall / calls * 1000, 3),
            "cpu_ms": round(cpu / calls * 1000, 3),
            "postgresql_backend_cpu_ms": round(backend / calls * 1000, 3),
        }
        for name, (wall, cpu, backend) in totals.items()
    }
    results["calls_per_path"] = calls
    for tracked in extra:
        tracked.engine.dispose()

    profiler = cProfile.Profile()
    people = [rng.choice(consented) for _ in range(iterations)]
    profiler.enable()
    for person in people:
        decide(engine, offer_id, person)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    # kaimen's own functions and the driver's waits and commits, by cumulative time (wall).
    stats.sort_stats("cumulative").print_stats(r"kaimen/|psycopg/connection.py", 16)
    results["cprofile_decide_cumulative"] = _profile_lines(buffer.getvalue())
    buffer.seek(0)
    buffer.truncate()
    stats.sort_stats("tottime").print_stats(10)
    results["cprofile_decide_top_tottime"] = _profile_lines(buffer.getvalue())
    engine.dispose()
    return results


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


# --- report ----------------------------------------------------------------------------------


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decisions_load.json").write_text(json.dumps(results, indent=2) + "\n")
    load, store, cpu = results["load"], results["store"], results["cpu"]
    lat = load["latency"]
    setup = results["setup_seconds"]
    server = results["server"]
    verify = results["verification"]
    prof = results.get("profile", {})
    lines = [
        "# POST /v1/decisions under load",
        "",
        f"{'OK' if results['ok'] else 'FAILED: ' + '; '.join(results['failures'])}. "
        f"{results['measured_at']}; `{results['command']}`.",
        "",
        f"{store['people']:,} scored people on {store['backend']} "
        f"({results['machine']['database_version']}), {load['concurrency']} concurrent "
        f"keep-alive clients in a separate process over loopback, {load['warmup_s']:g} s "
        f"warm-up then {load['duration_s']:g} s measured. **{results['machine']['cpus']} cores, "
        "shared by the load client, the server, PostgreSQL and other engineers' test runs** "
        f"(load average before the run: {results['machine']['loadavg_before']}).",
        "",
        "| requests/s | p50 | p90 | p99 | p99.9 | max | mean |",
        "|---|---|---|---|---|---|---|",
        f"| {load['requests_per_second']:,} | {lat['p50_ms']} ms | {lat['p90_ms']} ms | "
        f"{lat['p99_ms']} ms | {lat['p99_9_ms']} ms | {lat['max_ms']} ms | {lat['mean_ms']} ms |",
        "",
        "| answer | requests in the window | p50 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (("200 (decided)", "latency_200"), ("404 (no consent)", "latency_404")):
        s = load[key]
        lines.append(
            f"| {label} | {s['count']:,} | {s['p50_ms']} ms | {s['p99_ms']} ms | "
            f"{s['p99_9_ms']} ms | {s['max_ms']} ms |"
        )
    total_200 = load["status_total"].get("200", 0)
    lines += [
        "",
        f"Status codes, whole run (warm-up, window, drain): {load['status_total']}; "
        f"errors: {load['errors'] or 'none'}. Of the {total_200:,} decisions, "
        f"{load['approved_total']:,} approved (offer minimum {store['offer_min_score']}).",
        "",
        f"Store check: {verify['decisions_added']:,} decisions rows and "
        f"{verify['access_log_added']:,} access-log rows added for {total_200:,} answers "
        f"with 200: {'equal, nothing lost or counted twice' if verify['ok'] else 'MISMATCH'}.",
        "",
        "## Where the CPU went (measured window)",
        "",
        "| process | cores | CPU ms per request |",
        "|---|---|---|",
    ]
    postgresql = store["backend"] == "postgresql"
    rows = [
        ("kaimen serve (one uvicorn process)", "server_process"),
        (
            f"PostgreSQL backends of the benchmark database ({cpu['postgresql_backends_seen']} "
            "seen; sampled every 100 ms, a lower bound)",
            "postgresql_backends",
        ),
        ("load client", "load_client"),
        (
            "everything else: other engineers' test runs, this script's sampler (~1.5% of a "
            "core), PostgreSQL's shared processes and CPU of backends missed by the sampling",
            "everything_else_on_the_machine",
        ),
        ("whole machine", "machine_busy"),
    ]
    for label, key in rows if postgresql else [r for r in rows if "PostgreSQL" not in r[0]]:
        lines.append(f"| {label} | {cpu[key]['cores']} | {cpu[key]['ms_per_request']} |")
    base = results.get("healthz_baseline")
    if base:
        lines += [
            "",
            f"Yardstick: `GET /healthz` (no credentials, no database) from the same client at "
            f"the same concurrency: {base['requests_per_second']:,} requests/s, p50 "
            f"{base['latency']['p50_ms']} ms, p99 {base['latency']['p99_ms']} ms; server CPU "
            f"{base['cpu']['server_process']['ms_per_request']} ms per request "
            f"({base['cpu']['server_process']['cores']} cores), "
            f"everything else on the machine {base['cpu']['everything_else_on_the_machine']['cores']} cores.",
        ]
    lines += [
        "",
        "## The server",
        "",
        f"`kaimen serve`: {server['uvicorn_workers']} uvicorn worker process, "
        f"{server['event_loop']} event loop, {server['http']} HTTP parser, access log on "
        f"(to a file); {server['threads_at_window_end']} OS threads at the end of the window "
        f"(AnyIO thread pool limit {server['threadpool_limit']}); SQLAlchemy QueuePool "
        f"{server['pool_size']} + {server['pool_overflow']} overflow, pre-ping "
        f"{'on' if server['pool_pre_ping'] else 'off'}.",
    ]
    database = results.get("postgresql")
    if database:
        lines += [
            "",
            f"PostgreSQL's own counters (pg_stat_database) over the whole load, "
            f"{database['requests']:,} requests: "
            f"{database['sessions_opened_per_1000_requests']} new sessions (connections) per "
            f"1,000 requests, {database['transactions_per_request']} transactions per request, "
            f"{database['active_ms_per_request']} ms executing statements per request, buffer "
            f"hit ratio {database['buffer_hit_ratio']}.",
        ]
    lines += [
        "",
        "## Setup (not timed in the load)",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {name} | {seconds} |" for name, seconds in setup.items()),
        "",
        f"{store['template_people']:,}-person world through kaimen's pipeline (model "
        f"`{store['model_version']}`, month {store['month']}; {store['template_thin_files']} "
        f"thin files), replicated to {store['people']:,} people rows and snapshots "
        f"({store['thin_files']:,} thin); {store['consented']:,} `decision` consents "
        f"({store['share_score']:,} sharing the score). See the script's docstring.",
    ]
    if prof:
        per = prof["per_request"]
        lines += [
            "",
            "## The request path in process (server stopped, one call at a time)",
            "",
            f"Per decision: {len(per['statements'])} SQL statements and "
            f"{per['pool_pre_pings']} pool pre-pings (each an empty query `;`: a round trip and, to PostgreSQL, a transaction) over two "
            "connection checkouts:",
            "",
            *(f"- `{s}`" for s in per["statements"]),
            "",
            f"Mean per call over {prof['calls_per_path']} calls each, variants interleaved:",
            "",
            "| path | wall ms | CPU ms in Python | PostgreSQL backend CPU ms |",
            "|---|---|---|---|",
        ]
        labels = {
            "authenticate": "authenticate the key (own connection, as auth.identify)",
            "decide": "deciding.decide",
            "authenticate_and_decide": "both, as the server does",
            "authenticate_and_decide_without_pre_ping": "both, pool without pre-ping",
            "authenticate_and_decide_fresh_connection_per_checkout": (
                "both, a new connection per checkout (a pool smaller than the concurrency)"
            ),
            "authenticate_and_decide_synchronous_commit_off": (
                "both, synchronous_commit=off (measurement only: decisions must be durable)"
            ),
        }
        for name, row in prof["paths"].items():
            lines.append(
                f"| {labels[name]} | {row['wall_ms']} | {row['cpu_ms']} | "
                f"{row['postgresql_backend_cpu_ms']} |"
            )
        lines += [
            "",
            f"cProfile of {prof['iterations']} `deciding.decide` calls (wall time): kaimen's "
            "functions and the driver's waits, by cumulative time",
            "",
            "```",
            *prof["cprofile_decide_cumulative"],
            "```",
            "",
            "and the top by own time:",
            "",
            "```",
            *prof["cprofile_decide_top_tottime"],
            "```",
        ]
    (RESULTS / "decisions_load.md").write_text("\n".join(lines) + "\n")


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument(
        "--template-people", type=int, default=2_000, help="size of the simulated world"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds, not measured")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--consent-share", type=float, default=0.9)
    parser.add_argument("--min-score", type=int, default=650, help="the offer's minimum")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL to create the db in")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile-iterations", type=int, default=500)
    parser.add_argument(
        "--baseline-duration", type=float, default=15.0, help="seconds of GET /healthz load"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "work-decisions")
    parser.add_argument("--keep", action="store_true", help="keep the database and the folder")
    options = parser.parse_args()
    if options.people < options.template_people:
        raise SystemExit("--people must be at least --template-people")
    if not 0 < options.consent_share <= 1:
        raise SystemExit("--consent-share must be in (0, 1]")

    work = options.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    home = work / "home"
    home.mkdir(parents=True)
    loadavg_before = Path("/proc/loadavg").read_text().split()[:3]
    database: str | None = None
    admin_url: str | None = None
    if options.backend == "postgresql":
        admin_url = options.admin_url
        database, url = create_database(admin_url)
        log(f"database {database}")
    else:
        url = f"sqlite:///{home / 'kaimen.sqlite'}"
    secret = new_secret()
    admin_token = secrets.token_urlsafe(32)
    month = last_full_month(dt.date.today())
    prefix = f"S{options.seed % 10_000:04d}-"
    server: subprocess.Popen[bytes] | None = None
    try:
        setup: dict[str, float] = {}
        started = time.perf_counter()
        engine, version, world_steps = build_world(
            home,
            url,
            IdentityVault(decode_secret(secret)),
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
        consented_sample = [
            g[0] for g in random.Random(3).sample(granted, min(5_000, len(granted)))
        ]
        del granted  # a million tuples the parent no longer needs
        with timed(setup, "VACUUM ANALYZE" if options.backend == "postgresql" else "ANALYZE"):
            vacuum_analyze(engine, url)
        setup["total"] = round(time.perf_counter() - started, 2)
        with engine.connect() as store:
            snapshot_count = store.execute(
                select(func.count()).select_from(score_snapshots)
            ).scalar_one()
            thin = store.execute(
                select(func.count())
                .select_from(score_snapshots)
                .where(score_snapshots.c.thin_file.is_(True))
            ).scalar_one()
            database_version = store.execute(
                text(
                    "SELECT version()"
                    if options.backend == "postgresql"
                    else "SELECT 'SQLite ' || sqlite_version()"
                )
            ).scalar_one()
        if snapshot_count != options.people:
            raise SystemExit(f"{snapshot_count:,} snapshots, expected {options.people:,}")
        log(f"setup done in {setup['total']} s: {snapshot_count:,} published snapshots")

        port = free_port()
        server_log = work / "server.log"
        env = {
            **os.environ,
            "KAIMEN_HOME": str(home),
            "KAIMEN_DATABASE_URL": url,
            "KAIMEN_ADMIN_TOKEN": admin_token,
            "KAIMEN_SECRET_KEY": secret,
        }
        with server_log.open("wb") as sink:
            server = subprocess.Popen(
                [str(KAIMEN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        startup = wait_healthy(port, server, server_log)
        log(f"kaimen serve healthy on port {port} after {startup} s (pid {server.pid})")
        status, offer = call(
            port,
            "POST",
            "/v1/offers",
            key,
            {
                "name": f"deposit waived from {options.min_score}",
                "purpose": "car rental",
                "min_score": options.min_score,
            },
        )
        if status != 201:
            raise SystemExit(f"publishing the offer failed: {status} {offer}")
        offer_id = int(offer["offer_id"])
        before = count_rows(engine)
        stats_before = database_stats(admin_url, database)
        load, samples = run_load(
            port,
            key,
            offer_id,
            options,
            prefix,
            server.pid,
            database,
            work / "client.json",
        )
        # Idle backends flush their statistics about a second after going idle.
        time.sleep(2 if database else 0)
        stats_after = database_stats(admin_url, database)
        after = count_rows(engine)
        # The HTTP stack alone under the same client, as a yardstick for the server's CPU per
        # decision: uvicorn, FastAPI routing and a threadpool hop, no credentials, no database.
        healthz, healthz_samples = run_load(
            port,
            "",
            offer_id,
            options,
            prefix,
            server.pid,
            None,
            work / "client-healthz.json",
            target="healthz",
            warmup=3,
            duration=options.baseline_duration,
        )
        stop(server)
        server_exit = server.returncode
        server = None

        failures: list[str] = []
        total_200 = load["status_total"].get("200", 0)
        added = {name: after[name] - before[name] for name in before}
        verified = added["decisions"] == total_200 and added["access_log"] == total_200
        if not verified:
            failures.append(f"store has {added} new rows for {total_200} answers with 200")
        unexpected = {k: v for k, v in load["status_total"].items() if k not in ("200", "404")}
        if unexpected:
            failures.append(f"unexpected status codes {unexpected} (0 = connection error)")
        if load["unexpected_bodies"]:
            failures.append(f"unexpected bodies, e.g. {load['unexpected_bodies'][0]!r}")
        if load["status_window"].get("404", 0) == 0 or total_200 == 0:
            failures.append("both the 200 and the 404 paths should have been exercised")

        pool = connect(url).pool
        results: dict[str, Any] = {
            "ok": not failures,
            "failures": failures,
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": " ".join(
                [".venv/bin/python", "benchmarks/decisions_load.py", *sys.argv[1:]]
            ),
            "machine": {
                "cpus": os.cpu_count(),
                "shared": "client, server and PostgreSQL on the same cores, while other "
                "engineers ran test suites on the same machine",
                "loadavg_before": " ".join(loadavg_before),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "database_version": database_version.split(" on ")[0],
                "kaimen": __version__,
                "fastapi": fastapi.__version__,
                "starlette": starlette.__version__,
                "uvicorn": uvicorn.__version__,
                "sqlalchemy": sqlalchemy.__version__,
                "psycopg": psycopg.__version__,
            },
            "store": {
                "backend": options.backend,
                "people": options.people,
                "template_people": options.template_people,
                "template_thin_files": sum(1 for r in rows if r["thin_file"]),
                "thin_files": int(thin),
                "month": month,
                "model_version": version,
                "consented": consented_count,
                "share_score": sharing,
                "offer_id": offer_id,
                "offer_min_score": options.min_score,
            },
            "setup_seconds": setup,
            "server": {
                "uvicorn_workers": 1,
                "event_loop": "uvloop" if _installed("uvloop") else "asyncio",
                "http": "httptools" if _installed("httptools") else "h11",
                "threads_at_window_end": samples["server_threads"],
                "threadpool_limit": _threadpool_limit(),
                "pool_size": pool.size(),  # type: ignore[attr-defined]
                "pool_overflow": pool._max_overflow,  # type: ignore[attr-defined]
                "pool_pre_ping": pool._pre_ping,
                "startup_seconds": startup,
                "exit_status": server_exit,
            },
            "load": load,
            "cpu": cpu_budget(
                samples["start"],
                samples["end"],
                load["client_cpu_seconds_in_window"],
                sum(load["status_window"].values()),
            ),
            "verification": {
                "ok": verified,
                "before": before,
                "after": after,
                "decisions_added": added["decisions"],
                "access_log_added": added["access_log"],
            },
            "healthz_baseline": {
                "requests_per_second": healthz["requests_per_second"],
                "latency": healthz["latency"],
                "status_total": healthz["status_total"],
                "cpu": cpu_budget(
                    healthz_samples["start"],
                    healthz_samples["end"],
                    healthz["client_cpu_seconds_in_window"],
                    sum(healthz["status_window"].values()),
                ),
            },
            # Whole run (warm-up, window and drain), from pg_stat_database.
            "postgresql": database_per_request(
                stats_before, stats_after, sum(load["status_total"].values())
            ),
        }
        log("profiling the request path in process")
        results["profile"] = profile(
            url, key, offer_id, consented_sample, options.profile_iterations
        )
        engine.dispose()
        write_results(results)
        lat = load["latency"]
        log(
            f"{load['requests_per_second']} requests/s, p50 {lat['p50_ms']} ms, p99 "
            f"{lat['p99_ms']} ms, p99.9 {lat['p99_9_ms']} ms, max {lat['max_ms']} ms; "
            f"statuses {load['status_total']}; {failures or 'OK'}"
        )
        if failures:
            raise SystemExit(1)
    finally:
        try:
            if server is not None:
                stop(server)
        finally:  # the database goes even if stopping the server was interrupted
            if not options.keep:
                if database is not None and admin_url is not None:
                    drop_database(admin_url, database)
                shutil.rmtree(work, ignore_errors=True)
            elif database is not None:
                log(f"kept database {database} and {work}")


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
