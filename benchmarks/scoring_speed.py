"""Scoring speed (run by hand): one person in-process, and the whole population in the engine.

    .venv/bin/python benchmarks/scoring_speed.py --people 20000000

A real card is trained on a simulated world (3,000 people, 24 months). Its feature table at
the last month is resampled (rows drawn with replacement) to `--people` rows, so the values
and their missing rates are the ones the card meets in production.

- Single: `CardScorer.raw` on one person's feature dict, timed call by call
  (perf_counter_ns) over `--single` people after a warm-up; p50, p99, p99.9 and max.
- Batch: the card compiled to one SQL expression (`score_expression`, one CASE per
  characteristic) and run by DuckDB over an in-memory table, materialising every person's
  raw score (CREATE TABLE ... AS). Best of `--repeats`; people per second.
- Agreement: the engine's scores against NumPy's `raw_score` for every row, and the single
  path against both for the sampled people. Any difference fails the run.

Results go to benchmarks/results/scoring_speed.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pyarrow as pa

from kaimen.engines.embedded import connect, ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.features.build import build_features
from kaimen.ingest.file_ingest import ingest_file
from kaimen.model.card_scorer import CardScorer
from kaimen.model.scorecard import Scorecard, raw_score, score_expression
from kaimen.scoring.batch import load_model
from kaimen.scoring.datasets import feature_arrays
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.training import train
from kaimen.simulate.run import simulate
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault

ROOT = Path(__file__).resolve().parent
LAST = "2026-10"
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def trained_world(work: Path) -> tuple[Scorecard, pa.Table]:
    """A card trained on a small simulated world, and that world's features at LAST."""
    engine = open_store(f"sqlite:///{work / 'kaimen.sqlite'}")
    simulate(3_000, 24, 7, work / "sim", LAST)
    enrol_file(engine, IdentityVault(bytes(range(32))), work / "sim" / "people.csv", "bench")
    ingest_file(engine, work / "lake", work / "sim" / "events.parquet", "bench", now=NOW)
    backend = ibis_connection()
    train(engine, backend, work / "lake", work / "models", LAST, "bench", now=NOW)
    _, model = load_model(engine, lake_root=work / "lake")
    assert isinstance(model, Scorecard)
    features = build_features(backend, summary_paths(engine, work / "lake"), LAST)
    return model, features


def resample(features: pa.Table, names: tuple[str, ...], people: int, seed: int) -> pa.Table:
    arrays = feature_arrays(features)
    rows = np.random.default_rng(seed).integers(0, features.num_rows, size=people)
    columns = {"person_id": pa.array(np.arange(people, dtype=np.int64))}
    columns |= {name: pa.array(arrays[name][rows], from_pandas=True) for name in names}
    return pa.table(columns)


def single(card: Scorecard, table: pa.Table, count: int) -> dict[str, float]:
    people = table.slice(0, count).to_pylist()
    scorer = CardScorer(card)
    for person in people[:1_000]:  # warm-up
        scorer.raw(person)
    timings = np.empty(len(people), dtype=np.int64)
    clock = time.perf_counter_ns
    for i, person in enumerate(people):
        started = clock()
        scorer.raw(person)
        timings[i] = clock() - started
    micro = timings / 1_000
    return {
        "people": len(people),
        "p50_us": round(float(np.percentile(micro, 50)), 2),
        "p99_us": round(float(np.percentile(micro, 99)), 2),
        "p99_9_us": round(float(np.percentile(micro, 99.9)), 2),
        "max_us": round(float(micro.max()), 2),
    }


def batch(card: Scorecard, table: pa.Table, repeats: int) -> tuple[dict[str, float], np.ndarray]:
    connection: duckdb.DuckDBPyConnection = connect()
    connection.register("arrow_features", table)
    connection.execute("CREATE TABLE features AS SELECT * FROM arrow_features")
    connection.unregister("arrow_features")
    schema = {"person_id": "int64", **dict.fromkeys(card.names, "float64")}
    unbound = ibis.table(ibis.schema(schema), name="features")
    expression = unbound.select("person_id", score_expression(card, unbound))
    sql = ibis.to_sql(expression, dialect="duckdb")
    best = float("inf")
    for _ in range(repeats):
        connection.execute("DROP TABLE IF EXISTS scores")
        started = time.perf_counter()
        connection.execute(f"CREATE TABLE scores AS {sql}")
        best = min(best, time.perf_counter() - started)
    engine_scores = (
        connection.execute("SELECT raw_score FROM scores ORDER BY person_id").fetchnumpy()[
            "raw_score"
        ]
    ).astype(np.int64)
    return (
        {
            "people": table.num_rows,
            "seconds": round(best, 3),
            "people_per_second": round(table.num_rows / best),
            "threads": int(connection.execute("SELECT current_setting('threads')").fetchone()[0]),
        },
        engine_scores,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20_000_000)
    parser.add_argument("--single", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaimen-scoring-speed-") as work:
        card, features = trained_world(Path(work))
    table = resample(features, card.names, args.people, seed=1)
    single_figures = single(card, table, args.single)
    batch_figures, engine_scores = batch(card, table, args.repeats)
    numpy_scores = raw_score(card, feature_arrays(table))
    disagreements = int((engine_scores != numpy_scores).sum())
    scorer = CardScorer(card)
    sample = table.slice(0, args.single).to_pylist()
    single_disagreements = sum(int(scorer.raw(p) != numpy_scores[i]) for i, p in enumerate(sample))
    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}",
        "duckdb": duckdb.__version__,
        "card": {"version": card.version, "characteristics": len(card.names)},
        "single": single_figures,
        "batch": batch_figures,
        "agreement": {
            "engine_vs_numpy_differences": disagreements,
            "single_vs_numpy_differences": single_disagreements,
            "rows_compared": int(numpy_scores.size),
        },
    }
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "scoring_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    s, b = single_figures, batch_figures
    (out / "scoring_speed.md").write_text(
        f"# Scoring speed\n\n`.venv/bin/python benchmarks/scoring_speed.py --people "
        f"{args.people}`; {result['machine']}, DuckDB {result['duckdb']}; {result['date']}.\n"
        f"Card {card.version}, {len(card.names)} characteristics.\n\n"
        "| path | figure |\n|---|---|\n"
        f"| one person in-process (`CardScorer.raw`), {s['people']:,} calls | p50 "
        f"{s['p50_us']} µs, p99 {s['p99_us']} µs, p99.9 {s['p99_9_us']} µs, max "
        f"{s['max_us']} µs |\n"
        f"| whole population in DuckDB (`score_expression`), {b['people']:,} people | "
        f"{b['seconds']} s, **{b['people_per_second']:,} people/s** ({b['threads']} threads) |\n"
        f"| engine vs NumPy `raw_score`, all rows | {disagreements} differences |\n"
        f"| single vs NumPy, {len(sample):,} people | {single_disagreements} differences |\n"
    )
    print(json.dumps(result, indent=2))
    if disagreements or single_disagreements:
        raise SystemExit("the scoring paths disagree")


if __name__ == "__main__":
    main()
