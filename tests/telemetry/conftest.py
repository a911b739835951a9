"""Logs captured as JSON lines, with the process's logging put back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kaimen.telemetry.logs import configure_logging
from kaimen.telemetry.steps import keep_last_runs_in
from tests.telemetry.captured import CapturedLogs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sqlalchemy_level = logging.getLogger("sqlalchemy").level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("sqlalchemy").setLevel(sqlalchemy_level)
    keep_last_runs_in(None)


@pytest.fixture
def logs(restore_logging: None) -> CapturedLogs:
    """Everything logged at DEBUG and above during the test."""
    captured = CapturedLogs()
    configure_logging("DEBUG", captured.stream)
    return captured
