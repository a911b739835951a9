"""The `kaimen` command configures logging (JSON on stderr, WARNING unless KAIMEN_LOG_LEVEL says
otherwise, INFO for `kaimen serve`) and keeps each batch step's last run in KAIMEN_HOME."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("KAIMEN_DATABASE_URL", "garbage", "unsupported database URL scheme"),
        ("KAIMEN_SECRET_KEY", "bad", "KAIMEN_SECRET_KEY is not valid base64"),
        (
            "KAIMEN_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:1/none",
            "the store cannot be reached",
        ),
    ],
)
def test_settings_and_a_store_out_of_reach_are_refusals_not_faults(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    says: str,
) -> None:
    """Each ended as "kaimen stopped on an unexpected error" (exit 70)."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(sys, "argv", ["kaimen", "status"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    error = " ".join(capsys.readouterr().err.split())
    assert says in error and "unexpected" not in error and "Traceback" not in error


def test_serve_logs_at_info_through_kaimens_handler_only(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[uvicorn.Config] = []
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda server, sockets=None: served.append(server.config)
    )
    _kaimen(monkeypatch, "serve", "--port", "18306")
    assert logging.getLogger().level == logging.INFO
    [config] = served
    assert (config.port, config.log_config, config.access_log) == (18306, None, False)
    assert config.lifespan == "off"  # the command closes the store itself


def test_a_second_interrupt_stops_the_server_without_a_traceback(home: Path) -> None:
    """Ctrl-C twice (uvicorn then skips the app's shutdown): the server still exits cleanly,
    logs no traceback, and closes the store (on SQLite its WAL file is gone)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "kaimen", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KAIMEN_HOME": str(home)},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        server.send_signal(signal.SIGINT)
        time.sleep(0.02)
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    text = output.decode()
    assert server.returncode == 0, text
    assert "Traceback" not in text and '"level":"ERROR"' not in text
    assert not list(home.glob("*-wal"))
