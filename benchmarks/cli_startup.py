"""Command-line start-up (run by hand): `kaimen --help` and `kaimen show PERSON` against the
ceiling of `python -c "import typer"`, in the same run.

    .venv/bin/python benchmarks/cli_startup.py --runs 15

A small demo home is built first in a temporary folder (`kaimen demo --people 200 --months 18
--no-serve`), so `kaimen show` reads a real published score. Then each command is started
`--runs` times as a fresh process (`python -m kaimen ...`, the interpreter running this
script), the three commands taking turns so that a busy moment on the machine falls on all
of them alike. Reported per command: the median wall time and the median CPU time (user +
system) of the child process; the ratios are of the medians, wall time against wall time.
A fourth line imports only the two libraries `kaimen show` cannot do without (SQLAlchemy for
the store, pydantic-settings for the settings): the floor under its ratio.

Results go to benchmarks/results/cli_startup.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEMO_SEED = 2026
# What `kaimen demo` prints as its first person to try, for its default seed.
PERSON = f"S{DEMO_SEED % 10_000:04d}-00000001"
HELP_TARGET = 3.0
SHOW_TARGET = 5.0
CEILING, HELP, SHOW = "import typer", "kaimen --help", f"kaimen show {PERSON}"
FLOOR = "import sqlalchemy, pydantic_settings"


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def timed(command: list[str], env: dict[str, str], cwd: Path) -> Timing:
    """Run `command` once to its end; its wall time and the CPU time it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def build_demo(env: dict[str, str], cwd: Path) -> None:
    kaimen = [sys.executable, "-m", "kaimen"]
    subprocess.run(
        [*kaimen, "demo", "--people", "200", "--months", "18", "--no-serve"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def measure(runs: int, work: Path) -> dict[str, list[Timing]]:
    env = {**os.environ, "KAIMEN_HOME": str(work / ".kaimen")}
    env.pop("KAIMEN_DATABASE_URL", None)
    build_demo(env, work)
    kaimen = [sys.executable, "-m", "kaimen"]
    commands = {
        CEILING: [sys.executable, "-c", CEILING],
        HELP: [*kaimen, "--help"],
        SHOW: [*kaimen, "show", PERSON],
        FLOOR: [sys.executable, "-c", FLOOR],
    }
    for command in commands.values():  # warm the file cache and the bytecode
        timed(command, env, work)
    timings: dict[str, list[Timing]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            timings[name].append(timed(command, env, work))
    return timings


def summary(timings: dict[str, list[Timing]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "wall_s": statistics.median(t.wall for t in runs),
            "cpu_s": statistics.median(t.cpu for t in runs),
            "runs": len(runs),
        }
        for name, runs in timings.items()
    }


def write(medians: dict[str, dict[str, float]], runs: int) -> tuple[float, float]:
    ceiling = medians[CEILING]["wall_s"]
    help_ratio, show_ratio = (medians[name]["wall_s"] / ceiling for name in (HELP, SHOW))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    environment = (
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "cli_startup.json").write_text(
        json.dumps(
            {
                "when": when,
                "environment": environment,
                "runs": runs,
                "medians": medians,
                "ratios": {"help": help_ratio, "show": show_ratio},
                "targets": {"help": HELP_TARGET, "show": SHOW_TARGET},
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Command-line start-up",
        "",
        f"`.venv/bin/python benchmarks/cli_startup.py --runs {runs}`; {environment}; {when}.",
        "Each command started as a fresh process, the four taking turns; medians of "
        f"{runs} runs. `kaimen show` reads a demo home of 200 people (SQLite). The last line "
        "imports only the libraries `kaimen show` cannot do without: the floor under its ratio.",
        "",
        "| command | wall time | CPU time | wall against `import typer` | target |",
        "|---|---|---|---|---|",
    ]
    targets = {CEILING: "ceiling", HELP: f"<= {HELP_TARGET:.0f}x", SHOW: f"<= {SHOW_TARGET:.0f}x"}
    for name, figures in medians.items():
        ratio = figures["wall_s"] / ceiling
        target = targets.get(name, "-")
        lines.append(
            f"| `{name}` | {figures['wall_s'] * 1000:.0f} ms | {figures['cpu_s'] * 1000:.0f} ms "
            f"| **{ratio:.2f}x** | {target} |"
        )
    (ROOT / "results" / "cli_startup.md").write_text("\n".join(lines) + "\n")
    return help_ratio, show_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Starts of each command.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaimen-cli-startup-") as folder:
        medians = summary(measure(args.runs, Path(folder)))
    for name, figures in medians.items():
        print(
            f"{name}: {figures['wall_s'] * 1000:.0f} ms wall, {figures['cpu_s'] * 1000:.0f} ms CPU"
        )
    help_ratio, show_ratio = write(medians, args.runs)
    print(f"kaimen --help: {help_ratio:.2f}x import typer (target <= {HELP_TARGET:.0f}x)")
    print(f"kaimen show: {show_ratio:.2f}x import typer (target <= {SHOW_TARGET:.0f}x)")


if __name__ == "__main__":
    main()
