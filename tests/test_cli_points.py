"""`kaimen points`, through Typer's test runner, on SQLite and PostgreSQL: a refused
rulebook lists every problem by rule, a lawful one is installed, a month is awarded once,
and a ledger is read; errors are clear lines, never tracebacks."""

from __future__ import annotations

import base64
from pathlib import Path

from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.store.database import open_store
from tests.points.test_ledger import EVENTS, NOW
from tests.store.score_rows import enrol

SECRET = base64.b64encode(bytes(range(32))).decode("ascii")
runner = CliRunner()


def test_points_commands(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    env = {
        "KAIMEN_HOME": str(home),
        "KAIMEN_SECRET_KEY": SECRET,
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_ADMIN_TOKEN": None,
        "KAIMEN_PROFILE": "cn",
        "COLUMNS": "250",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }

    def kaimen(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    code, out = kaimen("points", "check", "city_pilot")
    assert code == 1
    assert "17 problem(s)" in out
    assert "spreading_rumours_online" in out and "prohibited_criterion (speech)" in out
    assert "school_admission_priority" in out and "cross_context" in out
    code, out = kaimen("points", "check", "lawful", "--profile", "eu")
    assert code == 1 and "AI Act" in out
    code, out = kaimen("points", "check", "lawful")
    assert code == 0 and "may run under cn" in out
    code, out = kaimen("points", "check", str(tmp_path / "missing.yaml"))
    assert code == 1 and "cannot read" in out

    code, out = kaimen("points", "install", "city_pilot")
    assert code == 1 and "refused" in out
    code, out = kaimen("points", "award", "--month", "2026-01")
    assert code == 1 and "no points rulebook is installed" in out
    code, out = kaimen("points", "install", "lawful")
    assert code == 0 and "tenants in force" in out

    engine = open_store(database_url)
    try:
        enrol(engine, "ann", "ben", "cat", "dan")
        accept_events(engine, home / "lake", EVENTS, "admin", NOW)
    finally:
        engine.dispose()
    code, out = kaimen("points", "award", "--month", "2026-01")
    assert code == 0, out
    assert "9 entries (-40 points) for 3 people" in out
    code, out = kaimen("points", "award", "--month", "2026-01")
    assert code == 0 and "0 entries" in out
    code, out = kaimen("points", "award", "--month", "January")
    assert code == 2 and "2026-10" in out
    code, out = kaimen("points", "ledger", "ben")
    assert code == 0, out
    assert "rent_paid_late" in out and "-15" in out and "landlord-a/R-2" in out
    code, out = kaimen("points", "ledger", "nobody")
    assert code == 1 and "no enrolled person" in out
