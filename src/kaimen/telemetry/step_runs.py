"""The last run of each batch step, kept as a small JSON file per step.

Batch steps mostly run in short-lived `kaimen` commands, whose in-process metrics die with
them; the serving process reads these files to expose when each step last ran, how long it
took and when it last succeeded, whichever process ran it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Outcome = Literal["ok", "refused", "failed"]
STEP_NAME = re.compile(r"[a-z][a-z_]{0,39}")


@dataclass(frozen=True)
class LastRun:
    step: str
    outcome: Outcome
    duration_seconds: float
    finished_at: float  # Unix time, as Prometheus timestamps are
    last_success_at: float | None


def _path(directory: Path, step: str) -> Path:
    if not STEP_NAME.fullmatch(step):
        raise ValueError(f"a step name is lower-case letters and underscores, not {step!r}")
    return directory / f"{step}.json"


def _read(path: Path) -> LastRun | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LastRun(
            step=str(data["step"]),
            outcome=data["outcome"] if data["outcome"] in ("ok", "refused") else "failed",
            duration_seconds=float(data["duration_seconds"]),
            finished_at=float(data["finished_at"]),
            last_success_at=(
                None if data.get("last_success_at") is None else float(data["last_success_at"])
            ),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record(
    directory: Path, step: str, outcome: Outcome, duration_seconds: float, finished_at: float
) -> LastRun:
    """Replace the step's last run (atomically: a reader sees the old run or the new one)."""
    path = _path(directory, step)
    previous = _read(path)
    run = LastRun(
        step,
        outcome,
        duration_seconds,
        finished_at,
        finished_at if outcome == "ok" else (previous.last_success_at if previous else None),
    )
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{step}.{uuid.uuid4().hex}.partial"
    partial.write_text(json.dumps(asdict(run)), encoding="utf-8")
    partial.replace(path)
    return run


def last_runs(directory: Path) -> tuple[LastRun, ...]:
    """Every step's last run found in `directory`, by step name; unreadable files are skipped."""
    if not directory.is_dir():
        return ()
    runs = (_read(path) for path in sorted(directory.glob("*.json")))
    return tuple(run for run in runs if run is not None and STEP_NAME.fullmatch(run.step))
