"""The points programme over HTTP, on SQLite and PostgreSQL: the person reads their ledger
and disputes a deduction through the usual route; a partner with the `points` scope learns
only whether a privilege applies; under eu every call says why the programme is off."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.engines.embedded import ibis_connection
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.points import awarding, rulebooks
from kaimen.sharing import authentication, partnering
from tests.points.test_ledger import EVENTS, NOW
from tests.store.score_rows import enrol

ADMIN = "admin-token-for-points-tests-0123456789"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _client(
    tmp_path: Path, database_url: str, engine: Engine, profile: str
) -> Iterator[dict[str, Any]]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
        admin_token=ADMIN,
        profile=profile,
    )
    enrol(engine, "ann", "ben", "cat")
    accept_events(engine, settings.lake_root, EVENTS, "admin", NOW)
    partnering.add_partner(engine, "bikes", "Bikes", "admin")
    bikes = partnering.issue_key(engine, "bikes", ["points"], "admin").secret
    other = partnering.issue_key(engine, "bikes", ["reports"], "admin").secret
    if profile != "eu":
        rulebooks.install(engine, profiles.load(profile), Caller.admin(), "lawful", NOW)
        awarding.award_month(
            engine,
            ibis_connection(),
            settings.lake_root,
            profiles.load(profile),
            Caller.admin(),
            "2026-01",
            NOW,
        )
    app = create_app(settings)
    with TestClient(app) as client:
        yield {
            "client": client,
            "engine": engine,
            "ben": _bearer(authentication.issue_person_token(engine, "ben")),
            "bikes": _bearer(bikes),
            "other": _bearer(other),
        }
    app.state.workspace.engine.dispose()


@pytest.fixture
def world(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[dict[str, Any]]:
    yield from _client(tmp_path, database_url, engine, "cn")


def test_the_person_reads_and_disputes_their_points(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    mine = client.get("/v1/me/points", headers=world["ben"])
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["rulebook"], body["stored"]["balance"]) == ("tenants", 970)
    assert [(e["rule_id"], e["points"]) for e in body["entries"]] == [
        ("rent_paid_late", -15),
        ("rent_paid_late", -15),
    ]
    entry = body["entries"][0]["entry_id"]
    filed = client.post(
        "/v1/me/disputes",
        json={"item_kind": "points_entry", "item_ref": entry, "statement": "Paid on time."},
        headers=world["ben"],
    )
    assert filed.status_code == 201, filed.text
    after = client.get("/v1/me/points", headers=world["ben"]).json()
    assert after["entries"][0]["state"] == "disputed"
    assert after["stored"]["balance"] == 985
    # Someone else's points are not the person's to read.
    assert client.get("/v1/people/ann/points", headers=world["ben"]).status_code == 403


def test_a_partner_learns_only_whether_a_privilege_applies(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    check = {"person_id": "ann", "privilege_id": "rental_deposit_halved"}
    # Under the person's decision consent only: without it, as for nobody.
    nobody = client.post(
        "/v1/points/privileges/check",
        json={**check, "person_id": "nobody"},
        headers=world["bikes"],
    )
    unconsented = client.post("/v1/points/privileges/check", json=check, headers=world["bikes"])
    assert nobody.status_code == unconsented.status_code == 404
    assert nobody.json() == unconsented.json()
    granted = client.post(
        "/v1/me/consents",
        json={"partner_id": "bikes", "purpose": "decision"},
        headers=_bearer(authentication.issue_person_token(world["engine"], "ann")),
    )
    assert granted.status_code == 201, granted.text
    answer = client.post("/v1/points/privileges/check", json=check, headers=world["bikes"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "person_id": "ann",
        "privilege_id": "rental_deposit_halved",
        "context": "renting",
        "effect": "grants",
        # At today's month ann's balance (1015 in January 2026, never below 1000 after)
        # is grade B's.
        "applies": True,
    }
    refused = client.post("/v1/points/privileges/check", json=check, headers=world["other"])
    assert refused.status_code == 403
    unknown = client.post(
        "/v1/points/privileges/check",
        json={"person_id": "ann", "privilege_id": "school_place"},
        headers=world["bikes"],
    )
    assert unknown.status_code == 404 and "rental_deposit_waived" in unknown.json()["detail"]


def test_under_eu_the_programme_is_off_and_says_why(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    world = next(_client(tmp_path, database_url, engine, "eu"))
    client: TestClient = world["client"]
    off = client.get("/v1/me/points", headers=world["ben"])
    assert off.status_code == 403
    assert off.json()["type"].endswith("points-programme-off")
    assert "AI Act" in off.json()["detail"]
