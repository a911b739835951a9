"""The world `spark_vs_duckdb.py` measures (built once, by hand, then cached).

    flock /work/heavy.lock .venv/bin/python benchmarks/spark_world.py --people 200000 \
        --work /path/to/cache

Built with the project's own commands, as `monthly_batch.py` does: a model trained on a small
24-month world, then the big world simulated, enrolled, and every month but the last ingested
and summarised month by month. The last month's files are kept aside under `last-month/`, so
each measurement starts from a copy of `world/` and ingests them itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kaimen.store import model_registry
from kaimen.store.database import open_store

KAIMEN = Path(sys.executable).parent / "kaimen"
LAST = "2026-10"

SPLIT_BY_MONTH = """
import sys, duckdb
source, target = sys.argv[1], sys.argv[2]
duckdb.connect(config={"memory_limit": "6GB"}).execute(
    f"COPY (SELECT *, strftime(occurred_at, '%Y-%m') AS m FROM read_parquet('{source}')) "
    f"TO '{target}' (FORMAT parquet, PARTITION_BY (m), COMPRESSION lz4)"
)
"""


def run(args: list[str], env: dict[str, str]) -> str:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    print(f"  {' '.join(args[1:3])}: {time.perf_counter() - started:.1f} s", flush=True)
    return done.stdout


def home(path: Path) -> dict[str, str]:
    env = {**os.environ, "KAIMEN_HOME": str(path), "KAIMEN_ENGINE": "duckdb"}
    env.pop("KAIMEN_DATABASE_URL", None)
    return env


def build(people: int, months: int, train_people: int, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    train, world, sim = work / "train", work / "world", work / "sim"
    run(
        [
            str(KAIMEN),
            "simulate",
            "--people",
            str(train_people),
            "--months",
            "24",
            "--seed",
            "5",
            "--out",
            str(train / "sim"),
            "--last-month",
            LAST,
        ],
        home(train),
    )
    run([str(KAIMEN), "enrol", "--file", str(train / "sim" / "people.csv")], home(train))
    run([str(KAIMEN), "ingest", str(train / "sim" / "events.parquet")], home(train))
    run([str(KAIMEN), "train", "--as-of", LAST], home(train))
    with open_store(f"sqlite:///{train / 'kaimen.sqlite'}").connect() as store:
        model = model_registry.champion(store)
    assert model is not None

    run(
        [
            str(KAIMEN),
            "simulate",
            "--people",
            str(people),
            "--months",
            str(months),
            "--seed",
            "7",
            "--out",
            str(sim),
            "--last-month",
            LAST,
        ],
        home(world),
    )
    run(
        [sys.executable, "-c", SPLIT_BY_MONTH, str(sim / "events.parquet"), str(work / "monthly")],
        home(world),
    )
    run([str(KAIMEN), "enrol", "--file", str(sim / "people.csv")], home(world))
    directories = sorted((work / "monthly").iterdir())
    for directory in directories[:-1]:
        for part in sorted(directory.glob("*.parquet")):
            run([str(KAIMEN), "ingest", str(part)], home(world))
        run([str(KAIMEN), "lake", "summarise"], home(world))
    shutil.copytree(directories[-1], work / "last-month")
    # The model's file is kept inside the cache, and registered as the world's champion.
    kept = work / "model" / Path(model.path).name
    kept.parent.mkdir(parents=True)
    shutil.copy2(model.path, kept)
    engine = open_store(f"sqlite:///{world / 'kaimen.sqlite'}")
    with engine.begin() as store:
        model_registry.register(
            store,
            model_registry.ModelRecord(
                model.version,
                model.kind,
                str(kept),
                hashlib.sha256(kept.read_bytes()).hexdigest(),
                model.trained_at,
                model.as_of,
                model.metrics,
                True,
            ),
        )
    events = json.loads((sim / "simulation.json").read_text())["events"]
    shutil.rmtree(sim)
    shutil.rmtree(work / "monthly")
    shutil.rmtree(train)
    (work / "world.json").write_text(
        json.dumps({"people": people, "months": months, "events": events, "last": LAST}) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--train-people", type=int, default=20_000)
    parser.add_argument("--work", type=Path, required=True)
    options = parser.parse_args()
    build(options.people, options.months, options.train_people, options.work.resolve())


if __name__ == "__main__":
    main()
