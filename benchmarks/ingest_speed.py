"""`kaimen ingest` of a ~5.4M-event Parquet file against DuckDB's sorted rewrite of it (by hand).

    flock /work/heavy.lock env PYTHONPATH=src .venv/bin/python benchmarks/ingest_speed.py \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/h_events_bench

Simulates a population (`kaimen simulate`, ~5.4M events over 24 months), enrols it, then in
the same run, each in its own child process:

- the ceiling: DuckDB alone reading the file and writing it sorted (person, time, source,
  event id) as zstd Parquet, one file per month; run before and after kaimen, the faster kept;
- `kaimen ingest FILE` on a fresh SQLite store (and on PostgreSQL with --postgres): judge every
  row, deduplicate, write the sorted month files, index the keys, all or nothing;
- what maintaining the key index alone costs: the keys of the lake kaimen wrote inserted
  by `event_keys.add` into an empty index (INSERTs of 1,000 rows each on SQLite, binary COPY on PostgreSQL).

Target (issue 10): kaimen at least 0.75x the ceiling. Results: benchmarks/results/ingest_speed.*
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
TARGET = 0.75
EVENTS_PER_PERSON_MONTH = 7.3

# Each child times its work alone, not the interpreter's start-up and imports (which this
# box's PYTHONDONTWRITEBYTECODE makes cost seconds), and prints it last.
CEILING = """
import sys, time, duckdb
source, out, memory = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.perf_counter()
c = duckdb.connect(config={"memory_limit": memory})
c.execute("SET TimeZone = 'UTC'")
c.execute(f"CREATE TEMP TABLE e AS SELECT *, strftime(occurred_at, '%Y-%m') AS month "
          f"FROM read_parquet('{source}')")
for (month,) in c.execute("SELECT DISTINCT month FROM e ORDER BY 1").fetchall():
    c.execute(f"COPY (SELECT * EXCLUDE (month) FROM e WHERE month = '{month}' "
              "ORDER BY person_id, occurred_at, source, event_id) "
              f"TO '{out}/month={month}.parquet' (FORMAT parquet, COMPRESSION zstd, "
              "ROW_GROUP_SIZE 262144)")
print(f"{time.perf_counter() - started:.2f}")
"""

KAIMEN_INGEST = """
import sys, time
from pathlib import Path
from kaimen.config import Settings
from kaimen.ingest.file_ingest import ingest_file
import pyarrow as pa
ws = Settings().workspace()
pa.array([1])  # pyarrow imports pandas on first use: once a process, not part of the work
started = time.perf_counter()
report = ingest_file(ws.engine, ws.lake_root, Path(sys.argv[1]), "benchmark")
seconds = time.perf_counter() - started
print(f"new {report.new:,}, duplicate {report.duplicate:,}, replayed {report.replayed_file}")
print(f"{seconds:.2f}")
"""

INDEX_ONLY = """
import sys, time, duckdb
from kaimen.store.database import connect, migrate
from kaimen.store import event_keys
from kaimen.ingest.deduplication import CONTENT_HASH_SQL
source, url = sys.argv[1], sys.argv[2]
c = duckdb.connect()
c.execute("SET TimeZone = 'UTC'")
key_hash, key_check = event_keys.key_sql()
keys = c.sql(f"SELECT source, event_id, {CONTENT_HASH_SQL} AS content_hash, "
             f"{key_hash} AS key_hash, {key_check} AS key_check FROM "
             f"read_parquet('{source}/**/*.parquet') ORDER BY key_hash").to_arrow_table()
engine = connect(url)
migrate(engine)
started = time.perf_counter()
with engine.begin() as store:
    event_keys.add(store, keys)
print(f"{time.perf_counter() - started:.2f}")
"""


def child(
    step: str, args: list[str], env: dict[str, str], timed: bool = True
) -> dict[str, float | str]:
    """Run a child process; wall seconds, peak RSS (MiB) and its output."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if status != 0:
        raise SystemExit(f"{step} failed ({status}):\n{output}")
    print(
        f"{step}: {seconds:.1f} s, peak {usage.ru_maxrss / 1024:.0f} MiB  {output.strip()[-200:]}"
    )
    return {
        "wall_seconds": round(seconds, 2),
        "seconds": float(output.split()[-1]) if timed else round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "output": output.strip()[-200:],
    }


def _clear(work: Path, keep: Path) -> None:
    """Remove everything in `work` but `keep` (the simulation, reusable with --reuse)."""
    for old in work.glob("*"):
        if old.is_dir() and old not in (keep, work / "pycache"):
            shutil.rmtree(old, ignore_errors=True)
        elif old.is_file():
            old.unlink()


def recreate(url: str) -> None:
    """Drop and create the PostgreSQL database named by `url` (the benchmark's own)."""
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_400_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", help="a PostgreSQL URL of a database this may recreate")
    parser.add_argument("--memory", default="6GB", help="DuckDB memory limit of the ceiling")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kaimen-ingest-speed"))
    parser.add_argument("--reuse", action="store_true", help="keep a simulation from before")
    parser.add_argument(
        "--results", default="ingest_speed", help="name of the results files (.md, .json)"
    )
    parser.add_argument(
        "--stores", default="sqlite,postgresql", help="which stores to run, comma-separated"
    )
    options = parser.parse_args()

    python = sys.executable
    people = max(100, math.ceil(options.events / (options.months * EVENTS_PER_PERSON_MONTH)))
    sim = options.work / "sim"
    base_env = {k: v for k, v in os.environ.items() if k != "KAIMEN_DATABASE_URL"}
    # Bytecode cached outside the shared environment, so no child compiles what another did.
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    base_env["PYTHONPYCACHEPREFIX"] = str(options.work / "pycache")
    kaimen = [python, "-m", "kaimen"]
    _clear(options.work, keep=sim)
    if not (options.reuse and (sim / "events.parquet").exists()):
        shutil.rmtree(sim, ignore_errors=True)
        child(
            "simulate",
            [*kaimen, "simulate", "--people", str(people), "--months", str(options.months),
             "--seed", str(options.seed), "--out", str(sim), "--last-month", "2026-10"],
            {**base_env, "KAIMEN_HOME": str(options.work / "simhome")},
            timed=False,
        )  # fmt: skip
    events_file = sim / "events.parquet"
    events = pq.read_metadata(events_file).num_rows
    load_before = os.getloadavg()

    def ceiling(label: str) -> dict[str, float | str]:
        out = options.work / f"ceiling-{label}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return child(
            f"ceiling ({label})",
            [python, "-c", CEILING, str(events_file), str(out), options.memory],
            base_env,
        )

    first = ceiling("before")
    wanted = options.stores.split(",")
    stores: dict[str, str] = {"sqlite": ""} if "sqlite" in wanted else {}
    if options.postgres and "postgresql" in wanted:
        stores["postgresql"] = options.postgres
    runs: dict[str, dict[str, object]] = {}
    for name, url in stores.items():
        home = options.work / f"home-{name}"
        env = {**base_env, "KAIMEN_HOME": str(home)}
        if url:
            recreate(url)
            env["KAIMEN_DATABASE_URL"] = url
        child(
            f"enrol ({name})",
            [*kaimen, "enrol", "--file", str(sim / "people.csv")],
            env,
            timed=False,
        )
        ingest = child(
            f"kaimen ingest ({name})", [python, "-c", KAIMEN_INGEST, str(events_file)], env
        )
        replay = child(f"replay ({name})", [python, "-c", KAIMEN_INGEST, str(events_file)], env)
        index_url = url or f"sqlite:///{options.work / 'index-only.sqlite'}"
        if url:
            recreate(url)
        index = child(
            f"index alone ({name})",
            [python, "-c", INDEX_ONLY, str(home / "lake" / "events"), index_url],
            base_env,
        )
        runs[name] = {
            "ingest": ingest,
            "replay": replay,
            "index_insert_seconds": float(str(index["output"]).split()[-1]),
        }
    second = ceiling("after")
    load_after = os.getloadavg()
    best = min(float(first["seconds"]), float(second["seconds"]))
    results: dict[str, object] = {
        "events": events,
        "people": people,
        "file_mib": round(events_file.stat().st_size / 2**20, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "ceiling": {"before": first, "after": second, "best_seconds": best},
        "target_ratio": TARGET,
        "stores": {},
    }
    lines = [
        "# Ingest speed: `kaimen ingest` against DuckDB's sorted rewrite of the same file\n",
        f"{events:,} events ({results['file_mib']} MiB Parquet) from {people:,} people; "
        f"{os.cpu_count()} cores, DuckDB {duckdb.__version__}; {results['measured_at']}; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}.\n",
        f"Ceiling: DuckDB reads the file and writes it sorted as zstd Parquet per month: "
        f"{first['seconds']} s before, {second['seconds']} s after kaimen; {best} s kept.\n",
        "| store | kaimen ingest s | events/s | ratio to ceiling | target | met | key index alone s | replay s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    stored: dict[str, object] = {}
    for name, run in runs.items():
        ingest = run["ingest"]
        assert isinstance(ingest, dict)
        seconds = float(ingest["seconds"])
        ratio = round(best / seconds, 3)
        stored[name] = {**run, "ratio": ratio, "met": ratio >= TARGET}
        replay = run["replay"]
        assert isinstance(replay, dict)
        lines.append(
            f"| {name} | {seconds} | {round(events / seconds):,} | {ratio}x | {TARGET}x | "
            f"{'yes' if ratio >= TARGET else 'no'} | {run['index_insert_seconds']} | "
            f"{replay['seconds']} | {ingest['peak_rss_mib']:,} |"
        )
        print(f"{name}: ratio {ratio}x (target {TARGET}x)")
    results["stores"] = stored
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{options.results}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{options.results}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _clear(options.work, keep=sim)


if __name__ == "__main__":
    main()
