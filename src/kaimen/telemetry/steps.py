"""`timed_step`: time a batch step, count it, log one line for it and keep its last run.

    @timed_step("summarise")
    def refresh_summaries(...):
        ...
        note_step(lake_files=len(pending), rows=rows)

The line says the step, its outcome (ok; refused, with the refusal's reason code; failed,
with the error's class), its duration and the counts noted while it ran; never an error's
text, which may hold the rejected values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from kaimen.domain.errors import BatchRejected, KaimenError
from kaimen.telemetry import step_runs
from kaimen.telemetry.logs import reserved_field

Field = int | float | str | bool | None

_log = logging.getLogger("kaimen.steps")
_OWN_FIELDS = frozenset({"step", "outcome", "duration_ms", "error", "reason", "bad_lines"})


@dataclass
class _Running:
    name: str
    fields: dict[str, Field] = field(default_factory=dict)


_CURRENT: ContextVar[_Running | None] = ContextVar("kaimen_step", default=None)


@dataclass
class _LastRuns:
    directory: Path | None = None


# Process-wide, like logging's configuration: set by the entry point, read by every step.
_last_runs = _LastRuns()


def keep_last_runs_in(directory: Path | None) -> None:
    """Record each step's last run in `directory` from now on (None: stop recording)."""
    _last_runs.directory = directory


def note_step(**fields: Field) -> None:
    """Add counts or ids (never personal data) to the line of the step running now."""
    for name in fields:
        if reserved_field(name) or name in _OWN_FIELDS:
            raise ValueError(f"{name!r} cannot be a step field")
    running = _CURRENT.get()
    if running is not None:
        running.fields.update(fields)


def _outcome(error: BaseException | None) -> tuple[step_runs.Outcome, dict[str, Field]]:
    if error is None:
        return "ok", {}
    facts: dict[str, Field] = {"error": type(error).__name__}
    if not isinstance(error, KaimenError):
        return "failed", facts
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        facts["reason"] = reason
    if isinstance(error, BatchRejected):
        facts["bad_lines"] = error.bad_lines
    return "refused", facts


def _keep(name: str, outcome: step_runs.Outcome, seconds: float) -> None:
    directory = _last_runs.directory
    if directory is None:
        return
    try:
        step_runs.record(directory, name, outcome, seconds, time.time())
    except OSError as error:
        # The step itself is done; failing it for want of a metrics file would be worse.
        _log.warning(
            "could not record the last run of step %s",
            name,
            extra={"step": name, "error": type(error).__name__},
        )


@contextmanager
def timed_step(name: str) -> Iterator[None]:
    """Time the block (or, as a decorator, each call) as batch step `name`."""
    if not step_runs.STEP_NAME.fullmatch(name):
        raise ValueError(f"a step name is lower-case letters and underscores, not {name!r}")
    running = _Running(name)
    token = _CURRENT.set(running)
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        seconds = time.perf_counter() - started
        _CURRENT.reset(token)
        outcome, facts = _outcome(error)
        # Imported on the first step, not with this module: every command sets where last
        # runs are kept, and `kaimen --help` must not pay for the Prometheus client.
        from kaimen.telemetry.metrics import STEP_DURATION, STEP_RUNS

        STEP_DURATION.labels(name).observe(seconds)
        STEP_RUNS.labels(name, outcome).inc()
        _log.log(
            logging.INFO if outcome == "ok" else logging.WARNING,
            "step %s %s",
            name,
            outcome,
            extra={
                "step": name,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 1),
                **running.fields,
                **facts,
            },
        )
        _keep(name, outcome, seconds)
