"""Simulation, enrolment and ingestion throughput at scale (run by hand, not in CI).

    .venv/bin/python benchmarks/throughput.py --events 10000000

Runs the real `kaimen` commands in child processes against a fresh KAIMEN_HOME and records,
for each step, wall time, throughput and the child's peak resident memory. Results go to
benchmarks/results/throughput.json and .md.
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
import pyarrow
import pyarrow.parquet as pq

from kaimen.simulate.run import simulate as simulate_in_process

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
KAIMEN = Path(sys.executable).parent / "kaimen"
EVENTS_PER_PERSON_MONTH = 7.3  # a little under the simulator's average, so the target is met


def run(step: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one kaimen command; wall seconds and peak RSS (MiB) of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen([str(KAIMEN), *args], env=env, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if status != 0:
        raise SystemExit(f"{step} failed ({status}):\n{output}")
    print(f"{step}: {seconds:.1f} s, peak {usage.ru_maxrss / 1024:.0f} MiB\n  {output.strip()}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000, help="events to simulate")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=ROOT / "work", help="scratch folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    options = parser.parse_args()

    people = max(100, math.ceil(options.events / (options.months * EVENTS_PER_PERSON_MONTH)))
    shutil.rmtree(options.work, ignore_errors=True)
    home, sim = options.work / "home", options.work / "sim"
    env = {**os.environ, "KAIMEN_HOME": str(home)}
    env.pop("KAIMEN_DATABASE_URL", None)

    simulate = run(
        "simulate",
        [
            "simulate",
            "--people",
            str(people),
            "--months",
            str(options.months),
            "--seed",
            str(options.seed),
            "--out",
            str(sim),
            "--last-month",
            "2026-10",
        ],
        env,
    )
    events = json.loads((sim / "simulation.json").read_text())["events"]
    enrol = run("enrol", ["enrol", "--file", str(sim / "people.csv")], env)
    ingest = run("ingest", ["ingest", str(sim / "events.parquet")], env)
    replay = run("replay", ["ingest", str(sim / "events.parquet")], env)

    # The same events as a second file (different bytes, same content): every one a duplicate.
    copy = sim / "events-again.parquet"
    table = pq.read_table(sim / "events.parquet")
    pq.write_table(table.slice(0, min(events, 1_000_000)), copy)
    duplicates = run("duplicates (1M-event file)", ["ingest", str(copy)], env)
    del table
    # Last: the parent's memory grows here, and children forked after would inherit it.
    # The generator itself, without the command's interpreter start-up and imports.
    started = time.perf_counter()
    simulate_in_process(people, options.months, options.seed, options.work / "sim2", "2026-10")
    in_process = {"seconds": round(time.perf_counter() - started, 2)}
    in_process["events_per_second"] = round(events / in_process["seconds"])
    print(f"simulate in process: {in_process['seconds']} s")
    shutil.rmtree(options.work / "sim2", ignore_errors=True)

    simulate["events_per_second"] = round(events / simulate["seconds"])
    enrol["people_per_second"] = round(people / enrol["seconds"])
    ingest["events_per_second"] = round(events / ingest["seconds"])
    duplicates["events_per_second"] = round(min(events, 1_000_000) / duplicates["seconds"])
    results = {
        "events": events,
        "people": people,
        "months": options.months,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
        },
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "simulate": simulate,
        "simulate_in_process": in_process,
        "enrol": enrol,
        "ingest_parquet": ingest,
        "replay_same_file": replay,
        "ingest_duplicates_other_file": duplicates,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = [
        (
            "simulate: the `kaimen simulate` command",
            simulate,
            f"{simulate['events_per_second']:,} events/s",
        ),
        (
            "simulate: the generator in process (no start-up)",
            {**in_process, "peak_rss_mib": simulate["peak_rss_mib"]},
            f"{in_process['events_per_second']:,} events/s",
        ),
        (
            "enrol (validate, hash, encrypt, insert)",
            enrol,
            f"{enrol['people_per_second']:,} people/s",
        ),
        (
            "ingest Parquet (validate, dedupe, write lake)",
            ingest,
            f"{ingest['events_per_second']:,} events/s",
        ),
        ("replay the same file (recognised by hash)", replay, "no-op"),
        (
            "1M already-stored events in another file",
            duplicates,
            f"{duplicates['events_per_second']:,} events/s",
        ),
    ]
    table_md = "| step | seconds | throughput | peak memory |\n|---|---|---|---|\n" + "".join(
        f"| {name} | {r['seconds']} | {rate} | {r['peak_rss_mib']:,} MiB |\n"
        for name, r, rate in rows
    )
    (RESULTS / "throughput.md").write_text(
        f"# Throughput\n\n{events:,} events from {people:,} people over {options.months} months; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}; "
        f"{results['measured_at']}.\n\n{table_md}"
    )
    print(table_md)
    if not options.keep:
        shutil.rmtree(options.work, ignore_errors=True)


if __name__ == "__main__":
    main()
