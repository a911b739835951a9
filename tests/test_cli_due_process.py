"""`kaimen dispute`, `kaimen partner webhook`, `kaimen sla` and `kaimen worker --once`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.store import audit
from kaimen.store.database import open_store
from kaimen.store.tables import webhook_endpoints
from tests.dueprocess.world import LENDER, loan_event
from tests.store.score_rows import enrol


def test_due_process_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(app, ["partner", "add", LENDER, "--name", "Lender"]).exit_code == 0
    engine = open_store(f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    enrol(engine, "alice")
    accept_events(engine, tmp_path / "lake", [loan_event("alice", "L-1")], "admin")
    # Port 18699 of this helper's range: nothing listens, so the delivery fails and waits.
    hook = runner.invoke(app, ["partner", "webhook", LENDER, "http://127.0.0.1:18699/h"])
    assert hook.exit_code == 0, hook.output
    secret = hook.stdout.strip().splitlines()[-1]
    with engine.connect() as store:
        stored = store.execute(select(webhook_endpoints)).one()
    assert secret not in str(tuple(stored))
    refused = runner.invoke(app, ["partner", "webhook", LENDER, "ftp://x.example/"])
    assert refused.exit_code == 1 and "http" in refused.output
    # Evidence is a regular file, read no further than its limit: a FIFO waited forever and
    # /dev/zero filled the memory.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for odd in (fifo, Path("/dev/zero"), tmp_path):
        stopped = runner.invoke(
            app,
            [
                "dispute", "file", "alice", "--kind", "event", "--ref", f"{LENDER}/L-1",
                "--statement", "Repaid on time.", "--evidence", str(odd),
            ],
        )  # fmt: skip
        assert stopped.exit_code == 2, stopped.output
        assert "is not a regular file" in stopped.output
    filed = runner.invoke(
        app,
        [
            "dispute", "file", "alice", "--kind", "event", "--ref", f"{LENDER}/L-1",
            "--statement", "Repaid on time.",
        ],
    )  # fmt: skip
    assert filed.exit_code == 0, filed.output
    assert "furnished by lender-a" in filed.output
    # The admin's answer is a command of its own (a misplaced decorator once made it read
    # a file instead).
    answer_help = runner.invoke(app, ["dispute", "answer", "--help"])
    assert answer_help.exit_code == 0 and "--answer" in answer_help.output
    not_ours = runner.invoke(app, ["dispute", "answer", "nope", "--answer", "verified"])
    assert not_ours.exit_code == 1 and "Traceback" not in not_ours.output
    sla = runner.invoke(app, ["sla"])
    assert sla.exit_code == 0, sla.output
    assert "dispute" in sla.output and "furnisher_notice" in sla.output
    worker = runner.invoke(app, ["worker", "--once"])
    assert worker.exit_code == 0, worker.output
    assert "delivered 0, retrying 1" in worker.output
    listed = runner.invoke(app, ["dispute", "list", "alice"])
    assert "open" in listed.output
    assert audit.verify(engine) >= 4
    engine.dispose()
