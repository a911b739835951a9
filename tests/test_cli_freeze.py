"""`kaimen person freeze|unfreeze|alerts|alert-read`, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_national_id
from tests.test_cli import _env, kaimen


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str | None]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return _env(tmp_path / "home", url)


def test_a_person_freezes_and_unfreezes_their_file_and_reads_alerts(
    env: dict[str, str | None],
) -> None:
    national_id = make_national_id("110101", "19850101", "002")
    enrolled = kaimen(
        env,
        "enrol",
        "--phone",
        "+8613812345678",
        "--national-id",
        national_id,
        "--person-id",
        "alice",
    )
    assert enrolled.exit_code == 0, enrolled.output

    frozen = kaimen(env, "person", "freeze", "alice")
    assert frozen.exit_code == 0, frozen.output
    assert "alice: file frozen since" in frozen.stdout
    again = kaimen(env, "person", "freeze", "alice")
    assert again.exit_code == 0 and again.stdout == frozen.stdout

    unknown = kaimen(env, "person", "freeze", "nobody")
    assert unknown.exit_code == 1
    assert "nobody is not an enrolled person" in unknown.stderr

    unfrozen = kaimen(env, "person", "unfreeze", "alice")
    assert unfrozen.exit_code == 0, unfrozen.output
    assert "alice: file not frozen" in unfrozen.stdout

    alerts = kaimen(env, "person", "alerts", "alice", "--unread")
    assert alerts.exit_code == 0, alerts.output
    assert "alice: no unread alerts" in alerts.stdout
    missing = kaimen(env, "person", "alert-read", "alice", "7")
    assert missing.exit_code == 1
    assert "no alert 7 of yours" in missing.stderr
    assert "Traceback" not in missing.output
    # Past what the store holds: refused as the API refuses it, not an unexpected error.
    huge = kaimen(env, "person", "alert-read", "alice", "2147483648")
    assert huge.exit_code == 2 and "Traceback" not in huge.output
    assert "2147483647" in huge.output and "unexpected" not in huge.output
