"""`timed_step`: a histogram observation, a run count, one log line and the last run kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaimen.domain.errors import BatchRejected, IdentityRejected, RowError
from kaimen.telemetry.metrics import REGISTRY
from kaimen.telemetry.step_runs import last_runs
from kaimen.telemetry.steps import keep_last_runs_in, note_step, timed_step
from tests.telemetry.captured import CapturedLogs


def _count(step: str) -> float:
    value = REGISTRY.get_sample_value("kaimen_batch_step_duration_seconds_count", {"step": step})
    return value or 0.0


def _runs(step: str, outcome: str) -> float:
    labels = {"step": step, "outcome": outcome}
    return REGISTRY.get_sample_value("kaimen_batch_step_runs_total", labels) or 0.0


def test_a_step_is_timed_counted_and_logged_with_its_counts(logs: CapturedLogs) -> None:
    before, runs_before = _count("test_step"), _runs("test_step", "ok")
    with timed_step("test_step"):
        note_step(rows=3, month="2026-10")
    assert _count("test_step") == before + 1
    assert _runs("test_step", "ok") == runs_before + 1
    (line,) = logs.records()
    assert line["logger"] == "kaimen.steps"
    assert line["message"] == "step test_step ok"
    assert (line["step"], line["outcome"], line["rows"], line["month"]) == (
        "test_step",
        "ok",
        3,
        "2026-10",
    )
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_as_a_decorator_each_call_is_a_step_and_nested_steps_keep_their_counts(
    logs: CapturedLogs,
) -> None:
    @timed_step("inner_step")
    def inner(n: int) -> int:
        note_step(rows=n)
        return n * 2

    with timed_step("outer_step"):
        assert inner(2) == 4
        assert inner(5) == 10
        note_step(people=7)
    lines = logs.records()
    assert [(r["step"], r.get("rows"), r.get("people")) for r in lines] == [
        ("inner_step", 2, None),
        ("inner_step", 5, None),
        ("outer_step", None, 7),
    ]
    assert inner.__name__ == "inner"


def test_a_refusal_logs_its_reason_code_never_the_rejected_value(logs: CapturedLogs) -> None:
    refused_before = _runs("enrol_step", "refused")
    with pytest.raises(IdentityRejected), timed_step("enrol_step"):
        raise IdentityRejected("check_digit", "11010519491231002X has a wrong check digit")
    with pytest.raises(BatchRejected), timed_step("ingest_step"):
        raise BatchRejected([RowError(3, "amount", "'-13800138000' is negative")], "x.csv")
    identity, batch = logs.records()
    assert (identity["outcome"], identity["reason"], identity["error"]) == (
        "refused",
        "check_digit",
        "IdentityRejected",
    )
    assert (batch["outcome"], batch["bad_lines"], batch["level"]) == ("refused", 1, "WARNING")
    assert "11010519491231002X" not in logs.text and "13800138000" not in logs.text
    assert _runs("enrol_step", "refused") == refused_before + 1


def test_a_failure_logs_the_error_class_only(logs: CapturedLogs) -> None:
    with pytest.raises(RuntimeError), timed_step("failing_step"):
        raise RuntimeError("secret detail")
    (line,) = logs.records()
    assert (line["outcome"], line["error"]) == ("failed", "RuntimeError")
    assert "secret detail" not in logs.text


def test_the_last_run_of_each_step_is_kept_when_asked(logs: CapturedLogs, tmp_path: Path) -> None:
    with timed_step("kept_step"):
        pass
    assert last_runs(tmp_path) == ()
    keep_last_runs_in(tmp_path)
    with timed_step("kept_step"):
        pass
    (ok,) = last_runs(tmp_path)
    assert (ok.step, ok.outcome, ok.last_success_at) == ("kept_step", "ok", ok.finished_at)
    with pytest.raises(RuntimeError), timed_step("kept_step"):
        raise RuntimeError
    (failed,) = last_runs(tmp_path)
    assert failed.outcome == "failed"
    assert failed.last_success_at == ok.finished_at < failed.finished_at
    assert json.loads((tmp_path / "kept_step.json").read_text())["outcome"] == "failed"
    assert [p.name for p in tmp_path.iterdir()] == ["kept_step.json"]


def test_a_step_that_cannot_keep_its_last_run_still_succeeds(
    logs: CapturedLogs, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    keep_last_runs_in(blocker)
    with timed_step("blocked_step"):
        pass
    done, warning = logs.records()
    assert (warning["level"], warning["error"]) == ("WARNING", "FileExistsError")
    assert done["outcome"] == "ok"


@pytest.mark.parametrize("name", ["Score", "../up", "", "a" * 41])
def test_step_names_are_plain(name: str) -> None:
    with pytest.raises(ValueError, match="step name"):
        timed_step(name).__enter__()


def test_fields_that_logging_reserves_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be a step field"):
        note_step(name="x")
    with pytest.raises(ValueError, match="cannot be a step field"):
        note_step(outcome="x")
