"""Command-line start-up (run by hand): `kaimen --help` and `kaimen show PERSON` against the
ceiling of `python -c "import typer"`, in the same run.

    .venv/bin/python benchmarks/cli_startup.py --runs 15

A small demo home is built first in a temporary folder (`kaimen demo --people 600 --months 18
--no-serve`), so `kaimen show` reads a real published score. Then each command is started
`--runs` times as a fresh process (`python -m kaimen ...`, the interpreter running this
script), the commands taking turns so that a busy moment on the machine falls on all of
them alike. Reported per command: the median wall time and the median CPU time (user +
system) of the child process; the ratios are of the medians, wall time against wall time.
A last line imports only what `kaimen show` cannot do without: Typer with the adapters it
loads (Pydantic) once it parses an argument, the settings and the sqlite3 driver: the floor
under its ratio.

Every command runs twice over: with bytecode, as a package installed by pip runs (pip
compiles it; here it goes to a private cache, `PYTHONPYCACHEPREFIX`, so the shared venv is
not written), and compiling every module from source, as a process with
`PYTHONDONTWRITEBYTECODE=1` and a venv without `__pycache__` runs. The targets are judged
with bytecode.

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
# Since `kaimen show` reads through the driver: Typer, the settings (Pydantic) and sqlite3.
FLOOR = "import typer, typer._adapters, pydantic_settings, sqlite3"
MODES = {"bytecode": "with bytecode", "source": "compiled from source"}


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
        [*kaimen, "demo", "--people", "600", "--months", "18", "--no-serve"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def environment_for(mode: str, work: Path) -> dict[str, str]:
    env = {**os.environ, "KAIMEN_HOME": str(work / ".kaimen")}
    env.pop("KAIMEN_DATABASE_URL", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if mode == "bytecode":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "bytecode")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def measure(runs: int, work: Path) -> dict[str, dict[str, list[Timing]]]:
    build_demo(environment_for("source", work), work)
    kaimen = [sys.executable, "-m", "kaimen"]
    commands = {
        CEILING: [sys.executable, "-c", CEILING],
        HELP: [*kaimen, "--help"],
        SHOW: [*kaimen, "show", PERSON],
        FLOOR: [sys.executable, "-c", FLOOR],
    }
    envs = {mode: environment_for(mode, work) for mode in MODES}
    for env in envs.values():  # warm the file cache and write the bytecode
        for command in commands.values():
            timed(command, env, work)
    timings: dict[str, dict[str, list[Timing]]] = {
        mode: {name: [] for name in commands} for mode in MODES
    }
    for _ in range(runs):
        for mode, env in envs.items():
            for name, command in commands.items():
                timings[mode][name].append(timed(command, env, work))
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


def ratios(medians: dict[str, dict[str, float]]) -> dict[str, float]:
    wall, cpu = medians[CEILING]["wall_s"], medians[CEILING]["cpu_s"]
    return {
        "help": medians[HELP]["wall_s"] / wall,
        "show": medians[SHOW]["wall_s"] / wall,
        # On a busy machine a short process waits for a core about as long as a longer one:
        # the wall ratio then flatters the longer one, the CPU ratio less so.
        "help_cpu": medians[HELP]["cpu_s"] / cpu,
        "show_cpu": medians[SHOW]["cpu_s"] / cpu,
    }


def write(
    medians: dict[str, dict[str, dict[str, float]]], runs: int, load: tuple[float, float]
) -> dict[str, dict[str, float]]:
    by_mode = {mode: ratios(figures) for mode, figures in medians.items()}
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
                "load_average_1min": {"before": load[0], "after": load[1]},
                "runs": runs,
                "medians": medians,
                "ratios": by_mode,
                "targets": {"help": HELP_TARGET, "show": SHOW_TARGET},
                "judged_on": "bytecode",
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Command-line start-up",
        "",
        f"`.venv/bin/python benchmarks/cli_startup.py --runs {runs}`; {environment}; {when}; "
        f"load average (1 min) {load[0]:.1f} before, {load[1]:.1f} after.",
        "Each command started as a fresh process, all taking turns; medians of "
        f"{runs} runs. `kaimen show` reads a demo home of 600 people (SQLite). The last line "
        "of each table imports only the libraries `kaimen show` cannot do without: the floor "
        "under its ratio. The targets are judged with bytecode (as pip installs a package); "
        "the second table compiles every module from source (`PYTHONDONTWRITEBYTECODE=1`).",
    ]
    targets = {CEILING: "ceiling", HELP: f"<= {HELP_TARGET:.0f}x", SHOW: f"<= {SHOW_TARGET:.0f}x"}
    for mode, figures_by_name in medians.items():
        ceiling = figures_by_name[CEILING]["wall_s"]
        lines += [
            "",
            f"## {MODES[mode]}",
            "",
            "| command | wall time | CPU time | wall against `import typer` "
            "| CPU against `import typer` | target |",
            "|---|---|---|---|---|---|",
        ]
        cpu_ceiling = figures_by_name[CEILING]["cpu_s"]
        for name, figures in figures_by_name.items():
            lines.append(
                f"| `{name}` | {figures['wall_s'] * 1000:.0f} ms | {figures['cpu_s'] * 1000:.0f} ms "
                f"| **{figures['wall_s'] / ceiling:.2f}x** | {figures['cpu_s'] / cpu_ceiling:.2f}x "
                f"| {targets.get(name, '-')} |"
            )
    (ROOT / "results" / "cli_startup.md").write_text("\n".join(lines) + "\n")
    return by_mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Starts of each command.")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kaimen-cli-startup-") as folder:
        timings = measure(args.runs, Path(folder))
    medians = {mode: summary(by_name) for mode, by_name in timings.items()}
    load = (before, os.getloadavg()[0])
    for mode, figures_by_name in medians.items():
        for name, figures in figures_by_name.items():
            print(
                f"{MODES[mode]}: {name}: {figures['wall_s'] * 1000:.0f} ms wall, "
                f"{figures['cpu_s'] * 1000:.0f} ms CPU"
            )
    by_mode = write(medians, args.runs, load)
    for mode, found in by_mode.items():
        print(
            f"{MODES[mode]}: kaimen --help {found['help']:.2f}x import typer "
            f"(target <= {HELP_TARGET:.0f}x), kaimen show {found['show']:.2f}x "
            f"(target <= {SHOW_TARGET:.0f}x); CPU {found['help_cpu']:.2f}x and "
            f"{found['show_cpu']:.2f}x"
        )
    print(f"load average (1 min): {load[0]:.1f} before, {load[1]:.1f} after")


if __name__ == "__main__":
    main()
