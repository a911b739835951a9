"""The world the monthly batch benchmark runs on, built once and kept (run by hand).

    .venv/bin/python benchmarks/monthly_world.py --people 1000000 --months 14 \
        --cache /work/scratch-batch/worlds

A world is a KAIMEN_HOME (SQLite store and lake) holding every month but the last, listed
and summarised month by month as they would arrive, with a champion scorecard registered
(trained on a separate 24-month world: training needs 16 months of history), and the last
month's event file beside it, not yet ingested. People are enrolled with `kaimen enrol`;
the earlier months are written straight into the lake as `kaimen ingest` would leave them
(lake_direct.py: an hour at 100,000 people through `kaimen ingest`, minutes this way). It
is kept under the cache folder, keyed by its parameters, so the benchmark can measure the
last month again and again without paying for the build.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kaimen.store import model_registry
from kaimen.store.database import open_store
from lake_direct import write_earlier_months

KAIMEN = Path(sys.executable).parent / "kaimen"
LAST = "2026-10"
SEED = 7
TRAIN_SEED = 5

LAST_MONTH_FILE = """
import sys, duckdb
source, target, last = sys.argv[1], sys.argv[2], sys.argv[3]
connection = duckdb.connect(config={"memory_limit": "6GB", "threads": 2})
connection.execute("SET TimeZone = 'UTC'")
connection.execute(
    f"COPY (SELECT * FROM read_parquet('{source}') "
    f"WHERE occurred_at >= TIMESTAMPTZ '{last}-01 00:00:00+00') TO '{target}' "
    "(FORMAT parquet, COMPRESSION lz4)"
)
"""


@dataclass(frozen=True)
class World:
    """A built world: `home` before the last month, `last` the last month's event files."""

    folder: Path
    people: int
    months: int
    events: int
    model: str
    build_steps: dict[str, dict[str, float]]

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def last(self) -> list[Path]:
        return sorted((self.folder / "monthly" / f"m={LAST}").glob("*.parquet"))


@dataclass(frozen=True)
class Child:
    """A finished child: wall seconds, its own CPU seconds (user + system, every thread),
    peak RSS in MiB and its output. The CPU time says what the work cost when the box is
    shared and the wall time says more about the neighbours."""

    seconds: float
    cpu_seconds: float
    peak_mib: int
    output: str


def run_child(args: list[str], env: dict[str, str]) -> Child:
    """Run a child to its end; a failure stops the benchmark with the child's output."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = round(time.perf_counter() - started, 2)
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")
    cpu = round(usage.ru_utime + usage.ru_stime, 2)
    return Child(seconds, cpu, round(usage.ru_maxrss / 1024), output.strip())


def run(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a child; (seconds, its own peak RSS in MiB, its output)."""
    child = run_child(args, env)
    return child.seconds, child.peak_mib, child.output


def kaimen_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "KAIMEN_HOME": str(home)}
    env.pop("KAIMEN_DATABASE_URL", None)
    return env


def world_key(people: int, months: int, train_people: int) -> str:
    return f"people{people}-months{months}-train{train_people}-seed{SEED}-last{LAST}"


def load_world(folder: Path) -> World | None:
    marker = folder / "world.json"
    if not marker.exists():
        return None
    meta = json.loads(marker.read_text())
    return World(
        folder,
        meta["people"],
        meta["months"],
        meta["events"],
        meta["model"],
        meta["build_steps"],
    )


def register_champion(model: model_registry.ModelRecord, trained_in: Path, home: Path) -> None:
    """The champion trained in the small home, copied into the big home's models and made
    its champion there (registry paths are relative to their home)."""
    artifact = model_registry.artifact_path(model.path, trained_in)
    copied = home / "models" / artifact.name
    copied.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifact, copied)
    with open_store(f"sqlite:///{home / 'kaimen.sqlite'}").begin() as store:
        model_registry.register(
            store,
            model_registry.ModelRecord(
                model.version,
                "scorecard",
                model_registry.stored_path(copied, home),
                hashlib.sha256(copied.read_bytes()).hexdigest(),
                dt.datetime.now(dt.UTC),
                LAST,
                model.metrics,
                True,
            ),
        )


def build_world(cache: Path, people: int, months: int, train_people: int) -> World:
    """The cached world for these parameters, built first if it is not there yet."""
    folder = (cache / world_key(people, months, train_people)).resolve()
    if (world := load_world(folder)) is not None:
        print(f"reusing the world in {folder}", flush=True)
        return world
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    steps: dict[str, dict[str, float]] = {}

    def step(name: str, args: list[str], env: dict[str, str]) -> str:
        seconds, peak, output = run(args, env)
        steps[name] = {"seconds": seconds, "peak_rss_mib": peak}
        last_line = output.splitlines()[-1] if output else ""
        print(f"{name}: {seconds} s, peak {peak:,} MiB  {last_line}", flush=True)
        return output

    train = kaimen_env(folder / "train")
    sim = folder / "train" / "sim"
    for args in (
        [
            "simulate",
            "--people",
            str(train_people),
            "--months",
            "24",
            "--seed",
            str(TRAIN_SEED),
            "--out",
            str(sim),
            "--last-month",
            LAST,
        ],
        ["enrol", "--file", str(sim / "people.csv")],
        ["ingest", str(sim / "events.parquet")],
        ["train", "--as-of", LAST],
    ):
        run([str(KAIMEN), *args], train)
    with open_store(f"sqlite:///{folder / 'train' / 'kaimen.sqlite'}").connect() as store:
        model = model_registry.champion(store)
    assert model is not None
    shutil.rmtree(sim)

    home = folder / "home"
    big = kaimen_env(home)
    step(
        "simulate",
        [
            str(KAIMEN),
            "simulate",
            "--people",
            str(people),
            "--months",
            str(months),
            "--seed",
            str(SEED),
            "--out",
            str(folder / "sim"),
            "--last-month",
            LAST,
        ],
        big,
    )
    events = json.loads((folder / "sim" / "simulation.json").read_text())["events"]
    (folder / "monthly" / f"m={LAST}").mkdir(parents=True)
    step(
        "the last month's event file",
        [
            sys.executable,
            "-c",
            LAST_MONTH_FILE,
            str(folder / "sim" / "events.parquet"),
            str(folder / "monthly" / f"m={LAST}" / "events.parquet"),
            LAST,
        ],
        big,
    )
    step("enrol", [str(KAIMEN), "enrol", "--file", str(folder / "sim" / "people.csv")], big)
    started = time.perf_counter()
    write_earlier_months(home, folder / "sim" / "events.parquet", LAST)
    steps["write and summarise the earlier months"] = {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    shutil.rmtree(folder / "sim")
    register_champion(model, folder / "train", home)
    meta = {
        "people": people,
        "months": months,
        "events": events,
        "model": model.version,
        "build_steps": steps,
    }
    (folder / "world.json").write_text(json.dumps(meta, indent=2) + "\n")
    world = load_world(folder)
    assert world is not None
    return world


def world_arguments(description: str | None) -> argparse.ArgumentParser:
    """A command line taking the world's parameters and where worlds are kept."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--train-people", type=int, default=20_000)
    parser.add_argument("--cache", type=Path, default=Path("/work/scratch-batch/worlds"))
    return parser


def main() -> None:
    options = world_arguments(__doc__).parse_args()
    world = build_world(options.cache, options.people, options.months, options.train_people)
    print(f"world in {world.folder}: {world.events:,} events, model {world.model}")


if __name__ == "__main__":
    main()
