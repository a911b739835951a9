"""The `kaimen` command configures logging (JSON on stderr, WARNING unless KAIMEN_LOG_LEVEL says
otherwise, INFO for `kaimen serve`) and keeps each batch step's last run in KAIMEN_HOME."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from kaimen import cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> Path:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAIMEN_ADMIN_TOKEN", "an-admin-token-of-some-length")
    for name in ("KAIMEN_DATABASE_URL", "KAIMEN_SECRET_KEY", "KAIMEN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def _kaimen(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["kaimen", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0


def test_commands_log_json_lines_at_the_level_asked_for(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIMEN_LOG_LEVEL", "info")
    _kaimen(monkeypatch, "lake", "summarise")
    # Every line but the blank one the spinner leaves is a JSON object.
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (step,) = [line for line in lines if line["logger"] == "kaimen.steps"]
    assert (step["step"], step["outcome"], step["level"]) == ("summarise", "ok", "INFO")
    assert json.loads((home / "step-runs" / "summarise.json").read_text())["outcome"] == "ok"


def test_commands_are_quiet_by_default(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _kaimen(monkeypatch, "lake", "summarise")
    assert capsys.readouterr().err.strip() == ""  # the spinner leaves a blank line
    assert logging.getLogger().level == logging.WARNING


def test_an_unknown_level_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIMEN_LOG_LEVEL", "loud")
    monkeypatch.setattr(sys, "argv", ["kaimen", "lake", "summarise"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    # A clear line naming the setting, no traceback, and not the value given.
    error = capsys.readouterr().err
    assert "KAIMEN_LOG_LEVEL" in error and "Traceback" not in error and "loud" not in error


def test_serve_logs_at_info_through_kaimens_handler_only(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    _kaimen(monkeypatch, "serve", "--port", "18306")
    assert logging.getLogger().level == logging.INFO
    assert (served["port"], served["log_config"], served["access_log"]) == (18306, None, False)
