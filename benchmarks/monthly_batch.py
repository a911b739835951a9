"""The monthly batch end to end against a bare DuckDB aggregation, on SQLite and PostgreSQL.

    PYTHONPATH=src .venv/bin/python benchmarks/monthly_batch.py --people 1000000 --months 14

One run: the world (every month but the last ingested and summarised, a champion scorecard
registered; see monthly_world.py) is built or reused from the cache, keyed by its
parameters. Then, for each store in turn, a fresh copy of it (the lake hard-linked, the
store copied; into a new PostgreSQL database for PostgreSQL) has the month before the last
scored (so the month is published on top of a published month), the last month's events
ingested, and `kaimen score --month LAST` run as a user would. That command is the monthly
batch end to end: summarise the new events, build every person's features, score and
publish. Its in-process time (the `score` step) is compared with a bare DuckDB per-person
aggregation over every lake file, run right after it: ratio = bare / batch, targets 0.5x
on SQLite and 0.35x on PostgreSQL (issue 10). Results go to benchmarks/results/
monthly_batch.json and .md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from sqlalchemy import create_engine, text

from kaimen.store.database import open_store
from monthly_world import (
    KAIMEN,
    LAST,
    World,
    build_world,
    kaimen_env,
    run,
    run_child,
    world_arguments,
)
from store_copy import copy_store

ROOT = Path(__file__).resolve().parent
PREVIOUS = "2026-09"
TARGETS = {"sqlite": 0.5, "postgresql": 0.35}
BATCH_STEPS = ("summarise", "features_and_scores", "publish", "score")
# Parts of the publish step: the rows written, then the score-change alerts; the rest of
# the step is the connections' points, the audit row and the commit.
PUBLISH_PARTS = ("publish_rows", "score_change_alerts")

BARE_AGGREGATION = """
import sys, duckdb
files = sys.argv[1:]
rows = duckdb.connect(config={"memory_limit": "6GB"}).execute(
    "SELECT person_id, count(*), sum(amount), count(*) FILTER (WHERE status = 'late') "
    "FROM read_parquet(?) GROUP BY person_id", [files]
).fetchall()
print(f"{len(rows)} people")
"""


def fresh_copy(world: World, home: Path) -> None:
    """The world's home at `home`: lake files hard-linked (they are never changed in place,
    only added or replaced by new files), everything else copied."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for entry in world.home.iterdir():
        if entry.name == "lake":
            subprocess.run(["cp", "-al", str(entry), str(home / "lake")], check=True)
        elif entry.is_dir():
            shutil.copytree(entry, home / entry.name)
        else:
            shutil.copy2(entry, home / entry.name)


BENCH_DATABASE = "h_batch_bench"


def drop_database(admin: str, database: str) -> None:
    server = create_engine(f"{admin}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    server.dispose()


def postgres_store(home: Path, admin: str, database: str) -> str:
    """A new PostgreSQL database `database` holding a copy of `home`'s SQLite store."""
    drop_database(admin, database)
    server = create_engine(f"{admin}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    server.dispose()
    url = f"{admin}/{database}"
    target = open_store(url)
    source = open_store(f"sqlite:///{home / 'kaimen.sqlite'}")
    counts = copy_store(source, target)
    with target.connect() as connection:
        connection.execute(text("ANALYZE"))
    target.dispose()
    source.dispose()
    (home / "kaimen.sqlite").unlink()
    print(f"  copied the store to PostgreSQL: {counts['people']:,} people", flush=True)
    return url


def last_runs(home: Path) -> dict[str, float]:
    """The batch steps' durations as `kaimen score` recorded them."""
    out = {}
    for step in (*BATCH_STEPS, *PUBLISH_PARTS):
        path = home / "step-runs" / f"{step}.json"
        if path.exists():
            out[step] = round(json.loads(path.read_text())["duration_seconds"], 2)
    return out


def measure(world: World, backend: str, work: Path, admin: str, database: str) -> dict[str, object]:
    home = work / backend
    fresh_copy(world, home)
    env = kaimen_env(home)
    # As installed: pip compiles a package's modules to bytecode. Without it every lazy import
    # inside the batch (the profile's holiday calendars, the drivers...) was compiled from
    # source inside the measured step. The bytecode goes under the run's folder, never into
    # the environment; the unmeasured month before warms it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    if backend == "postgresql":
        env["KAIMEN_DATABASE_URL"] = postgres_store(home, admin, database)
    seconds, _, _ = run([str(KAIMEN), "score", "--month", PREVIOUS], env)
    print(f"  {PREVIOUS} scored (not measured): {seconds} s", flush=True)
    ingest = 0.0
    for part in world.last:
        ingest += run([str(KAIMEN), "ingest", str(part)], env)[0]
    files = sorted(str(p) for p in (home / "lake" / "events").glob("*/*.parquet"))
    events = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()
    assert events is not None
    # The copy of the store and the ingest leave gigabytes for the kernel to write back: done
    # before each measured command, so neither pays for what came before it.
    os.sync()
    load_before = os.getloadavg()
    command = run_child([str(KAIMEN), "score", "--month", LAST], env)
    wall, peak, output = command.seconds, command.peak_mib, command.output
    steps = last_runs(home)
    os.sync()
    ceiling = run_child([sys.executable, "-c", BARE_AGGREGATION, *files], env)
    bare, bare_peak = ceiling.seconds, ceiling.peak_mib
    load_after = os.getloadavg()
    batch = steps["score"]
    # What the step spent outside its three parts: loading the model, reading the people,
    # the exclusions and the court listings, listing the summaries.
    steps["other"] = round(batch - sum(steps.get(s, 0.0) for s in BATCH_STEPS[:3]), 2)
    steps["publish_commit_and_rest"] = round(
        steps.get("publish", 0.0) - sum(steps.get(s, 0.0) for s in PUBLISH_PARTS), 2
    )
    result: dict[str, object] = {
        "events_in_lake": int(events[0]),
        "ingest_last_month_seconds": round(ingest, 2),
        "batch_seconds": batch,
        "steps_seconds": steps,
        "kaimen_score_command_wall_seconds": wall,
        "kaimen_score_peak_rss_mib": peak,
        "bare_aggregation_seconds": bare,
        "bare_aggregation_peak_rss_mib": bare_peak,
        "kaimen_score_command_cpu_seconds": command.cpu_seconds,
        "bare_aggregation_cpu_seconds": ceiling.cpu_seconds,
        "cpu_ratio": round(ceiling.cpu_seconds / command.cpu_seconds, 3),
        "ratio": round(bare / batch, 3),
        "ratio_with_command_start": round(bare / wall, 3),
        "target": TARGETS[backend],
        "meets_target": bare / batch >= TARGETS[backend],
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "score_output": output.splitlines()[-3:],
    }
    print(
        f"{backend}: batch {batch} s {steps} (command {wall} s, peak {peak:,} MiB); "
        f"bare aggregation {bare} s; ratio {result['ratio']}x, target {TARGETS[backend]}x; "
        f"CPU {command.cpu_seconds} s against {ceiling.cpu_seconds} s",
        flush=True,
    )
    return result


def median_run(measured: list[dict[str, object]]) -> dict[str, object]:
    """The run with the median ratio (the lower middle one of an even number), with every
    run's ratio, batch and ceiling beside it: the box is shared, and one run moves by a
    twentieth from the next."""
    ordered = sorted(measured, key=lambda r: float(str(r["ratio"])))
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs"] = [
        {
            "ratio": r["ratio"],
            "batch_seconds": r["batch_seconds"],
            "bare_aggregation_seconds": r["bare_aggregation_seconds"],
        }
        for r in measured
    ]
    return chosen


def publish_parts(backend: str, result: dict[str, object]) -> str:
    steps = result["steps_seconds"]
    assert isinstance(steps, dict)
    return (
        f"{backend} rows {steps.get('publish_rows')}, score-change alerts "
        f"{steps.get('score_change_alerts')}, the rest and the commit "
        f"{steps.get('publish_commit_and_rest')}"
    )


def report(world: World, results: dict[str, dict[str, object]]) -> list[str]:
    first = next(iter(results.values()))
    lines = [
        "# The monthly batch",
        "",
        f"{world.people:,} people, {first['events_in_lake']:,} events in the lake over "
        f"{world.months} simulated months; {os.cpu_count()} cores, DuckDB {duckdb.__version__}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Run with "
        "`PYTHONPATH=src python benchmarks/monthly_batch.py "
        f"--people {world.people} --months {world.months}`.",
        "",
        f"The batch is `kaimen score --month {LAST}` on a store where {PREVIOUS} is published "
        "and the last month's events were just ingested: summarise the new events, features "
        "for everyone, score (the scorecard inside the same DuckDB query) and publish in one "
        "transaction. Its time is the command's own `score` step (the command's Python start "
        "is shown apart). The ceiling is a bare DuckDB per-person aggregation over every lake "
        "file, run right after it in the same run. Commands run with their modules compiled "
        "to bytecode, as an installed package has them (warmed by the unmeasured month).",
        "",
        "| store | batch (s) | summarise | features and scores | publish | other "
        "| command wall (s) | bare aggregation (s) | ratio | target | CPU s, command / bare "
        "| load avg before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        steps = r["steps_seconds"]
        assert isinstance(steps, dict)
        lines.append(
            f"| {backend} | {r['batch_seconds']} | {steps.get('summarise')} | "
            f"{steps.get('features_and_scores')} | {steps.get('publish')} | "
            f"{steps.get('other')} | "
            f"{r['kaimen_score_command_wall_seconds']} | {r['bare_aggregation_seconds']} | "
            f"**{r['ratio']}x** | {r['target']}x "
            f"{'met' if r['meets_target'] else 'NOT met'} | "
            f"{r['kaimen_score_command_cpu_seconds']} / {r['bare_aggregation_cpu_seconds']} | "
            f"{r['load_average_before_after']} |"
        )
    repeated = {b: r["runs"] for b, r in results.items() if len(r["runs"]) > 1}
    if repeated:
        lines += [
            "",
            "Each store was measured "
            f"{len(next(iter(repeated.values())))} times, interleaved; the table shows the run "
            "with the median ratio. Every run in order (batch / bare aggregation, ratio): "
            + "; ".join(
                f"{b} "
                + ", ".join(
                    f"{run['batch_seconds']} / {run['bare_aggregation_seconds']} s {run['ratio']}x"
                    for run in every
                )
                for b, every in repeated.items()
            )
            + ".",
        ]
    lines += [
        "",
        "The publish step in parts (s): "
        + "; ".join(publish_parts(backend, r) for backend, r in results.items())
        + ".",
        "",
        "Ingesting the last month (not part of the batch): "
        + ", ".join(f"{b} {r['ingest_last_month_seconds']} s" for b, r in results.items())
        + ". Building the world once: "
        + ", ".join(f"{k} {v['seconds']} s" for k, v in world.build_steps.items())
        + ".",
    ]
    return lines


def main() -> None:
    parser = world_arguments(__doc__)
    parser.add_argument("--work", type=Path, default=Path("/work/scratch-batch/runs"))
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--results", default="monthly_batch")
    parser.add_argument("--database", default=BENCH_DATABASE, help="PostgreSQL database to use")
    parser.add_argument(
        "--keep", action="store_true", help="keep the stores measured (to study them after)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of each store, interleaved (sqlite, postgresql, sqlite...); the run with the "
        "median ratio is reported, every run's ratio listed beside it",
    )
    options = parser.parse_args()
    if options.repeats < 1:
        parser.error("--repeats must be at least 1")
    world = build_world(options.cache, options.people, options.months, options.train_people)
    backends = options.backends.split(",")
    runs: dict[str, list[dict[str, object]]] = {backend: [] for backend in backends}
    for _ in range(options.repeats):
        for backend in backends:
            runs[backend].append(
                measure(world, backend, options.work.resolve(), options.postgres, options.database)
            )
    results = {backend: median_run(measured) for backend, measured in runs.items()}
    output = {
        "people": world.people,
        "months": world.months,
        "events_simulated": world.events,
        "model": world.model,
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "world_build_steps": world.build_steps,
        "results": results,
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / f"{options.results}.json").write_text(json.dumps(output, indent=2) + "\n")
    lines = report(world, results)
    (ROOT / "results" / f"{options.results}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if options.keep:
        return
    shutil.rmtree(options.work, ignore_errors=True)
    if "postgresql" in results:
        drop_database(options.postgres, options.database)


if __name__ == "__main__":
    main()
