"""The monthly batch at scale (run by hand): 1,000,000 people and over 100 million events.

    .venv/bin/python benchmarks/monthly_batch.py --people 1000000 --months 14

Events arrive as one file per month, as they would in production. The model is trained on a
separate, smaller 24-month world (training needs 16 months of history) and registered here.
Measured: the last month's incremental summary refresh (reads only the new events), the
population's `build_features`, scoring and publishing, each with peak memory, and a bare
DuckDB aggregation over the same lake files for comparison. Results go to
benchmarks/results/monthly_batch.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import time
from pathlib import Path

import duckdb

from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.features.build import build_features
from kaimen.features.summary_build import refresh_summaries
from kaimen.ingest.file_ingest import ingest_file
from kaimen.scoring.batch import score_month
from kaimen.scoring.training import summary_paths, train
from kaimen.simulate.run import simulate
from kaimen.store import lake_manifest, model_registry, summary_manifest
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault

ROOT = Path(__file__).resolve().parent
LAST = "2026-10"
VAULT = IdentityVault(bytes(range(32)))


def peak_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def timed(label: str, results: dict[str, dict[str, float]], action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = action()
    seconds = round(time.perf_counter() - started, 2)
    results[label] = {"seconds": seconds, "peak_rss_mib": peak_mib()}
    print(f"{label}: {seconds} s (peak so far {peak_mib():,} MiB)", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--train-people", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=ROOT / "work-batch")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    shutil.rmtree(options.work, ignore_errors=True)
    work = options.work
    results: dict[str, dict[str, float]] = {}
    now = dt.datetime.now(dt.UTC)

    # A model, trained on a smaller 24-month world.
    small = open_store(f"sqlite:///{work / 'train' / 'kaimen.sqlite'}")
    simulate(options.train_people, 24, 5, work / "train" / "sim", LAST)
    enrol_file(small, VAULT, work / "train" / "sim" / "people.csv", "bench", now=now)
    ingest_file(
        small, work / "train" / "lake", work / "train" / "sim" / "events.parquet", "bench", now=now
    )
    trained = train(
        small, ibis_connection(), work / "train" / "lake", work / "models", LAST, "bench", now=now
    )
    print(f"model {trained.version}: out-of-time AUC {trained.metrics['out_of_time']['auc']}")

    # The big world: one file per month.
    summary = timed(
        "simulate",
        results,
        lambda: simulate(options.people, options.months, 7, work / "sim", LAST),
    )
    events = summary.events
    connection = duckdb.connect()
    monthly = work / "monthly"
    connection.execute(
        f"COPY (SELECT *, strftime(occurred_at, '%Y-%m') AS m FROM read_parquet('{work / 'sim' / 'events.parquet'}')) "
        f"TO '{monthly}' (FORMAT parquet, PARTITION_BY (m), COMPRESSION lz4)"
    )
    engine = open_store(f"sqlite:///{work / 'kaimen.sqlite'}")
    timed(
        "enrol",
        results,
        lambda: enrol_file(engine, VAULT, work / "sim" / "people.csv", "bench", now=now),
    )
    lake = work / "lake"
    backend = ibis_connection()
    month_dirs = sorted(monthly.iterdir())
    started = time.perf_counter()
    for directory in month_dirs[:-1]:
        for part in sorted(directory.glob("*.parquet")):
            ingest_file(engine, lake, part, "bench", now=now)
        refresh_summaries(engine, backend, lake, now)
        print(f"  ingested and summarised {directory.name}", flush=True)
    results["ingest_and_summarise_earlier_months"] = {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": peak_mib(),
    }
    last_parts = sorted(month_dirs[-1].glob("*.parquet"))
    timed(
        "ingest_last_month",
        results,
        lambda: [ingest_file(engine, lake, p, "bench", now=now) for p in last_parts],
    )
    with engine.connect() as store:
        new_files = [p for _, p in summary_manifest.unsummarised(store)]
    new_events = int(
        connection.execute(
            f"SELECT count(*) FROM read_parquet([{', '.join(repr(str(lake / p)) for p in new_files)}])"
        ).fetchone()[0]
    )
    timed(
        "summaries_refresh_last_month",
        results,
        lambda: refresh_summaries(engine, backend, lake, now),
    )
    paths = summary_paths(engine, lake)
    features = timed("build_features", results, lambda: build_features(backend, paths, LAST))
    # Register the trained model with this store.
    with engine.begin() as store:
        model_registry.register(
            store,
            model_registry.ModelRecord(
                trained.version,
                "scorecard",
                str(trained.path),
                hashlib.sha256(trained.path.read_bytes()).hexdigest(),
                now,
                LAST,
                trained.metrics,
                True,
            ),
        )
    report = timed(
        "score_and_publish",
        results,
        lambda: score_month(engine, backend, lake, LAST, "bench", now=now),
    )
    with engine.connect() as store:
        files = [str(lake / p) for p in lake_manifest.files(store)]
    file_list = "[" + ", ".join(repr(f) for f in files) + "]"
    timed(
        "bare_duckdb_aggregation_all_events",
        results,
        lambda: connection.execute(
            f"SELECT person_id, count(*), sum(amount), count(*) FILTER (WHERE status = 'late') "
            f"FROM read_parquet({file_list}) GROUP BY person_id"
        ).fetchall(),
    )
    refresh_events_per_s = new_events / results["summaries_refresh_last_month"]["seconds"]
    bare_events_per_s = events / results["bare_duckdb_aggregation_all_events"]["seconds"]
    monthly_run = (
        results["summaries_refresh_last_month"]["seconds"] + results["build_features"]["seconds"]
    )
    output = {
        "people": options.people,
        "months": options.months,
        "events": events,
        "last_month_events": new_events,
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "steps": results,
        "people_scored": report.people,
        "model": trained.version,
        "features_rows": features.num_rows,
        "summary_refresh_events_per_second": round(refresh_events_per_s),
        "monthly_features_seconds": round(monthly_run, 2),
        "history_events_per_second_through_monthly_features": round(events / monthly_run),
        "scoring_people_per_second": round(report.people / results["score_and_publish"]["seconds"]),
        "bare_aggregation_events_per_second": round(bare_events_per_s),
        # The pipeline's throughput over the history it covers, as a share of a bare scan's.
        "ratio_pipeline_to_bare_aggregation": round(
            results["bare_duckdb_aggregation_all_events"]["seconds"] / monthly_run, 2
        ),
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "monthly_batch.json").write_text(json.dumps(output, indent=2) + "\n")
    lines = [
        "# The monthly batch",
        "",
        f"{options.people:,} people, {events:,} events over {options.months} months "
        f"({new_events:,} in the last month); {os.cpu_count()} cores, DuckDB {duckdb.__version__}; "
        f"{output['measured_at']}.",
        "",
        "| step | seconds | peak memory (process so far) |",
        "|---|---|---|",
        *[f"| {k} | {v['seconds']} | {v['peak_rss_mib']:,} MiB |" for k, v in results.items()],
        "",
        f"- summary refresh of the new month: {output['summary_refresh_events_per_second']:,} events/s",
        f"- the month's features (refresh + build_features) cover all {events:,} events of history at "
        f"{output['history_events_per_second_through_monthly_features']:,} events/s",
        f"- scoring and publishing: {output['scoring_people_per_second']:,} people/s",
        f"- bare DuckDB aggregation over every lake file: {output['bare_aggregation_events_per_second']:,} events/s; "
        f"the monthly pipeline's throughput is {output['ratio_pipeline_to_bare_aggregation']}x that of the bare scan",
    ]
    (ROOT / "results" / "monthly_batch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
