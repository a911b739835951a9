"""Connections at the doors: the person's routes under /v1/me/connections, `kaimen
connections`, and offers that may not require a connections sub-score; under `eu` each says
the dimension is off and why. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from kaimen.api.app import create_app
from kaimen.cli import app as cli_app
from kaimen.config import Settings
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.store import access_log, audit, partners, person_tokens
from kaimen.store.database import open_store
from kaimen.store.tables import audit_log, connection_choices
from tests.store.score_rows import T0, enrol

ADMIN = "an-admin-token-of-some-length"
OFF = "urn:kaimen:problem:connections-off"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tie(engine: Engine, lake: Path) -> None:
    tie = {
        "source": "social-test",
        "event_id": "tie-1",
        "person_id": "alice",
        "kind": "friend_link",
        "occurred_at": "2026-09-15T08:00:00+00:00",
        "friend_id": "bob",
        "action": "added",
    }
    accept_events(engine, lake, [tie], "test", now=T0)
    seal_inbox(engine, lake, "test", now=T0)


def _client(tmp_path: Path, url: str, profile: str) -> TestClient:
    settings = Settings(home=tmp_path, admin_token=ADMIN, database_url=url, profile=profile)
    return TestClient(create_app(settings))


def test_the_person_chooses_and_reads_their_connections(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    enrol(engine, "alice", "bob")
    _tie(engine, tmp_path / "lake")
    with engine.begin() as store:
        alice = _bearer(person_tokens.issue(store, "alice", T0))
        bob = _bearer(person_tokens.issue(store, "bob", T0))
    client = _client(tmp_path, database_url, "cn")
    first = client.get("/v1/me/connections", headers=alice)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cap"] == 15 and body["positive_only"] and body["profile"] == "cn"
    assert not body["choices"]["counts_friends"] and not body["choices"]["lends_score"]
    assert body["month"] is None and body["counting"] == []  # nothing published yet
    opted = client.post("/v1/me/connections/opt-in", headers=alice)
    assert opted.status_code == 200, opted.text
    assert opted.json()["choices"]["counts_friends"]
    assert opted.json()["choices"]["counts_friends_by"] == "person:alice"
    lent = client.post("/v1/me/connections/lend", headers=bob)
    assert lent.status_code == 200 and lent.json()["choices"]["lends_score"]
    back = client.post("/v1/me/connections/withdraw", headers=bob)
    assert back.status_code == 200 and not back.json()["choices"]["lends_score"]
    out = client.post("/v1/me/connections/opt-out", headers=alice)
    assert not out.json()["choices"]["counts_friends"]
    # The admin's token is not the person's.
    assert client.get("/v1/me/connections", headers=_bearer(ADMIN)).status_code == 403
    with engine.connect() as store:
        logged = access_log.of_person(store, "alice")
        actions = store.execute(select(audit_log.c.action)).scalars().all()
    assert [a.what for a in logged].count("connections") == 3  # read, opt in, opt out
    assert {"connections.opted_in", "connections.lent", "connections.withdrawn"} <= set(actions)
    assert audit.verify(engine) >= 5


def test_under_eu_every_route_says_the_dimension_is_off_and_why(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    enrol(engine, "alice")
    with engine.begin() as store:
        alice = _bearer(person_tokens.issue(store, "alice", T0))
    client = _client(tmp_path, database_url, "eu")
    answers = [client.get("/v1/me/connections", headers=alice)] + [
        client.post(f"/v1/me/connections/{action}", headers=alice)
        for action in ("opt-in", "opt-out", "lend", "withdraw")
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        problem = answer.json()
        assert problem["type"] == OFF
        assert problem["profile"] == "eu"
        assert "AI Act" in problem["off_because"] and "AI Act" in problem["detail"]
    with engine.connect() as store:
        assert store.execute(select(connection_choices)).all() == []


def test_an_offer_may_not_require_a_connections_sub_score(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with engine.begin() as store:
        partners.add(store, "car-rental", "Car Rental Ltd", T0)
        _, key = partners.issue_key(store, "car-rental", ["decisions"], T0)
    client = _client(tmp_path, database_url, "cn")
    offer = {"name": "Deposit-free car", "purpose": "car rental", "min_score": 600}
    refused = client.post(
        "/v1/offers",
        json={**offer, "min_dimensions": {"connections": 60}},
        headers=_bearer(key),
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "urn:kaimen:problem:connections-not-requirable"
    assert "may not require a connections sub-score" in refused.json()["detail"]
    allowed = client.post(
        "/v1/offers", json={**offer, "min_dimensions": {"capacity": 60}}, headers=_bearer(key)
    )
    assert allowed.status_code == 201, allowed.text


def test_kaimen_connections_at_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    engine = open_store(f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    enrol(engine, "alice", "bob")
    _tie(engine, tmp_path / "lake")
    runner = CliRunner()
    monkeypatch.setenv("KAIMEN_PROFILE", "eu")
    for command in ("opt-in", "opt-out", "lend", "withdraw", "show"):
        refused = runner.invoke(cli_app, ["connections", command, "alice"])
        assert refused.exit_code == 1, refused.output
        assert "off under the eu profile" in refused.output and "AI Act" in refused.output
        assert "Traceback" not in refused.output
    monkeypatch.setenv("KAIMEN_PROFILE", "cn")
    opted = runner.invoke(cli_app, ["connections", "opt-in", "alice"])
    assert opted.exit_code == 0, opted.output
    assert "friends count for them: yes" in opted.output
    lent = runner.invoke(cli_app, ["connections", "lend", "bob"])
    assert "their score counts for friends: yes" in lent.output
    shown = runner.invoke(cli_app, ["connections", "show", "alice"])
    assert shown.exit_code == 0, shown.output
    assert "at most 15 points" in shown.output and "never lower" in shown.output
    unknown = runner.invoke(cli_app, ["connections", "opt-in", "nobody"])
    assert unknown.exit_code == 1 and "not an enrolled person" in unknown.output
    engine.dispose()
