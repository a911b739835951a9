"""The monthly batch at scale (run by hand): 1,000,000 people and over 100 million events.

    .venv/bin/python benchmarks/monthly_batch.py --people 1000000 --months 14

Every step runs as its own process (the `kaimen` commands, or a few lines of Python), so each
peak memory figure is that step's alone. Events arrive as one file per month, as they would
in production, and are summarised month by month. The model is trained on a separate
24-month world (training needs 16 months of history) and registered here. The last month is
then measured: ingest, summarise (reads only the new events), build_features, score and
publish, and a bare DuckDB aggregation over every lake file for comparison. Results go to
benchmarks/results/monthly_batch.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from kaimen.store import model_registry
from kaimen.store.database import open_store

ROOT = Path(__file__).resolve().parent
KAIMEN = Path(sys.executable).parent / "kaimen"
LAST = "2026-10"

FEATURES_ONLY = """
import sys, time
from pathlib import Path
from kaimen.engines.embedded import ibis_connection
from kaimen.features.build import build_features
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.store.database import open_store
home = Path(sys.argv[1])
engine = open_store(f"sqlite:///{home / 'kaimen.sqlite'}")
table = build_features(ibis_connection(), summary_paths(engine, home / "lake"), sys.argv[2])
print(f"{table.num_rows} people")
"""

SPLIT_BY_MONTH = """
import sys, duckdb
source, target = sys.argv[1], sys.argv[2]
duckdb.connect().execute(
    f"COPY (SELECT *, strftime(occurred_at, '%Y-%m') AS m FROM read_parquet('{source}')) "
    f"TO '{target}' (FORMAT parquet, PARTITION_BY (m), COMPRESSION lz4)"
)
"""

BARE_AGGREGATION = """
import sys, duckdb
files = sys.argv[1:]
rows = duckdb.connect().execute(
    "SELECT person_id, count(*), sum(amount), count(*) FILTER (WHERE status = 'late') "
    "FROM read_parquet(?) GROUP BY person_id", [files]
).fetchall()
print(f"{len(rows)} people")
"""


def run(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a child; (seconds, its own peak RSS in MiB, its output)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = round(time.perf_counter() - started, 2)
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")
    return seconds, round(usage.ru_maxrss / 1024), output.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--train-people", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=ROOT / "work-batch")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    work = options.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    steps: dict[str, dict[str, float]] = {}

    def step(name: str, args: list[str], env: dict[str, str]) -> str:
        seconds, peak, output = run(args, env)
        steps[name] = {"seconds": seconds, "peak_rss_mib": peak}
        print(
            f"{name}: {seconds} s, peak {peak:,} MiB  {output.splitlines()[-1] if output else ''}",
            flush=True,
        )
        return output

    def kaimen(home: Path) -> dict[str, str]:
        env = {**os.environ, "KAIMEN_HOME": str(home)}
        env.pop("KAIMEN_DATABASE_URL", None)
        return env

    # A model, trained on a smaller 24-month world.
    small = kaimen(work / "train")
    for args in (
        [
            "simulate",
            "--people",
            str(options.train_people),
            "--months",
            "24",
            "--seed",
            "5",
            "--out",
            str(work / "train" / "sim"),
            "--last-month",
            LAST,
        ],
        ["enrol", "--file", str(work / "train" / "sim" / "people.csv")],
        ["ingest", str(work / "train" / "sim" / "events.parquet")],
        ["train", "--as-of", LAST],
    ):
        run([str(KAIMEN), *args], small)
    trained_store = open_store(f"sqlite:///{work / 'train' / 'kaimen.sqlite'}")
    with trained_store.connect() as store:
        model = model_registry.champion(store)
    assert model is not None
    assert model.metrics.out_of_time is not None
    print(f"model {model.version}: out-of-time AUC {model.metrics.out_of_time.auc}")

    # The big world.
    big = kaimen(work)
    step(
        "simulate",
        [
            str(KAIMEN),
            "simulate",
            "--people",
            str(options.people),
            "--months",
            str(options.months),
            "--seed",
            "7",
            "--out",
            str(work / "sim"),
            "--last-month",
            LAST,
        ],
        big,
    )
    events = json.loads((work / "sim" / "simulation.json").read_text())["events"]
    step(
        "split into monthly files",
        [
            sys.executable,
            "-c",
            SPLIT_BY_MONTH,
            str(work / "sim" / "events.parquet"),
            str(work / "monthly"),
        ],
        big,
    )
    step("enrol", [str(KAIMEN), "enrol", "--file", str(work / "sim" / "people.csv")], big)
    months = sorted((work / "monthly").iterdir())
    started = time.perf_counter()
    peak = 0
    for directory in months[:-1]:
        for part in sorted(directory.glob("*.parquet")):
            peak = max(peak, run([str(KAIMEN), "ingest", str(part)], big)[1])
        peak = max(peak, run([str(KAIMEN), "lake", "summarise"], big)[1])
        print(f"  ingested and summarised {directory.name}", flush=True)
    steps["ingest and summarise the earlier months"] = {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": peak,
    }
    engine = open_store(f"sqlite:///{work / 'kaimen.sqlite'}")
    with engine.begin() as store:
        model_registry.register(
            store,
            model_registry.ModelRecord(
                model.version,
                "scorecard",
                model.path,
                hashlib.sha256(Path(model.path).read_bytes()).hexdigest(),
                dt.datetime.now(dt.UTC),
                LAST,
                model.metrics,
                True,
            ),
        )
    before = (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{work}/lake/events/*/*.parquet')")
        .fetchone()[0]
    )
    for part in sorted(months[-1].glob("*.parquet")):
        step("ingest the last month", [str(KAIMEN), "ingest", str(part)], big)
    files = sorted(str(p) for p in (work / "lake" / "events").glob("*/*.parquet"))
    total_in_lake = (
        duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0]
    )
    new_events = int(total_in_lake) - int(before)
    step("summarise the last month", [str(KAIMEN), "lake", "summarise"], big)
    step(
        "build_features (whole population)",
        [sys.executable, "-c", FEATURES_ONLY, str(work), LAST],
        big,
    )
    step(
        "score and publish (features again + scoring)", [str(KAIMEN), "score", "--month", LAST], big
    )
    step(
        "bare DuckDB aggregation over every lake file",
        [sys.executable, "-c", BARE_AGGREGATION, *files],
        big,
    )

    refresh = steps["summarise the last month"]["seconds"]
    features = steps["build_features (whole population)"]["seconds"]
    scoring = steps["score and publish (features again + scoring)"]["seconds"]
    bare = steps["bare DuckDB aggregation over every lake file"]["seconds"]
    output = {
        "people": options.people,
        "months": options.months,
        "events": events,
        "events_in_lake": int(total_in_lake),
        "last_month_events": new_events,
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "model": model.version,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "steps": steps,
        "summarise_new_month_events_per_second": round(new_events / refresh),
        "history_events_per_second_through_build_features": round(
            total_in_lake / (refresh + features)
        ),
        "scoring_people_per_second": round(options.people / scoring),
        "bare_aggregation_events_per_second": round(total_in_lake / bare),
        "ratio_pipeline_to_bare_aggregation": round(bare / (refresh + features), 2),
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "monthly_batch.json").write_text(json.dumps(output, indent=2) + "\n")
    lines = [
        "# The monthly batch",
        "",
        f"{options.people:,} people, {int(total_in_lake):,} events in the lake over {options.months} "
        f"months ({new_events:,} arriving in the last month); {os.cpu_count()} cores, "
        f"DuckDB {duckdb.__version__}; {output['measured_at']}. Each step is its own process.",
        "",
        "| step | seconds | peak memory |",
        "|---|---|---|",
        *[f"| {k} | {v['seconds']} | {v['peak_rss_mib']:,} MiB |" for k, v in steps.items()],
        "",
        f"- summarising the new month reads only its events: {output['summarise_new_month_events_per_second']:,} events/s",
        f"- the month's features (summarise + build_features) cover all {int(total_in_lake):,} events of "
        f"history at {output['history_events_per_second_through_build_features']:,} events/s",
        f"- scoring and publishing (including building the features again): {output['scoring_people_per_second']:,} people/s",
        f"- a bare DuckDB aggregation over every lake file runs at {output['bare_aggregation_events_per_second']:,} "
        f"events/s; the pipeline's throughput is {output['ratio_pipeline_to_bare_aggregation']}x that",
    ]
    (ROOT / "results" / "monthly_batch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
