"""Disputes over HTTP: the person files with base64 evidence, the furnishing partner answers
with a key carrying scope `disputes` (no other partner may), the admin sees the clocks and
sets webhooks; on SQLite and PostgreSQL."""

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
from kaimen.domain.disputes import ItemRef
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.sharing import authentication, partnering
from tests.dueprocess.world import LENDER, loan_event
from tests.store.score_rows import enrol

ADMIN = "admin-token-for-dispute-tests-0123456789"
PDF = b"%PDF-1.7\n%%EOF\n"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
        admin_token=ADMIN,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(settings: Settings, engine: Engine) -> Iterator[dict[str, Any]]:
    enrol(engine, "alice", "bob")
    partnering.add_partner(engine, LENDER, "Lender A", "admin")
    partnering.add_partner(engine, "other-co", "Other", "admin")
    lender = partnering.issue_key(engine, LENDER, ["disputes"], "admin").secret
    lender_no_scope = partnering.issue_key(engine, LENDER, ["reports"], "admin").secret
    other = partnering.issue_key(engine, "other-co", ["disputes"], "admin").secret
    accept_events(
        engine, settings.lake_root, [loan_event("alice", "L-1"), loan_event("bob", "B-1")], "a"
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield {
            "client": client,
            "alice": _bearer(authentication.issue_person_token(engine, "alice")),
            "lender": _bearer(lender),
            "lender_no_scope": _bearer(lender_no_scope),
            "other": _bearer(other),
            "admin": _bearer(ADMIN),
        }
    app.state.workspace.engine.dispose()


def _dispute(ref: str, **more: Any) -> dict[str, Any]:
    return {"item_kind": "event", "item_ref": ref, "statement": "Not mine.", **more}


def test_a_person_files_and_the_furnisher_answers(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    evidence = [{"name": "slip.pdf", "content_base64": base64.b64encode(PDF).decode()}]
    filed = client.post(
        "/v1/me/disputes",
        json=_dispute(ItemRef.event(LENDER, "L-1").ref, evidence=evidence),
        headers=world["alice"],
    )
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert (body["state"], body["furnisher"], len(body["evidence"])) == ("open", LENDER, 1)
    assert body["evidence"][0]["media_type"] == "application/pdf"
    dispute_id = body["dispute_id"]
    mine = client.get("/v1/me/disputes", headers=world["alice"]).json()
    assert [d["dispute_id"] for d in mine] == [dispute_id]
    answer = f"/v1/disputes/{dispute_id}/answer"
    assert (
        client.post(answer, json={"answer": "deleted"}, headers=world["other"]).status_code == 404
    )
    refused = client.post(answer, json={"answer": "deleted"}, headers=world["lender_no_scope"])
    assert refused.status_code == 403
    done = client.post(answer, json={"answer": "deleted"}, headers=world["lender"])
    assert done.status_code == 200, done.text
    assert done.json()["dispute"]["state"] == "deleted"
    again = client.post(answer, json={"answer": "verified"}, headers=world["lender"])
    assert again.status_code == 409
    sla = client.get("/v1/admin/sla", headers=world["admin"])
    assert sla.status_code == 200
    assert sla.json()["outbox_pending"] == 1  # the notice to the lender, no webhook yet
    assert client.get("/v1/admin/sla", headers=world["alice"]).status_code == 403


def test_refusals_store_nothing(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    bobs = client.post("/v1/me/disputes", json=_dispute(f"{LENDER}/B-1"), headers=world["alice"])
    assert bobs.status_code == 404
    exe = [{"name": "x.pdf", "content_base64": base64.b64encode(b"MZ\x90\x00").decode()}]
    bad = client.post(
        "/v1/me/disputes", json=_dispute(f"{LENDER}/L-1", evidence=exe), headers=world["alice"]
    )
    assert bad.status_code == 422 and "not a PDF" in bad.json()["detail"]
    assert client.get("/v1/me/disputes", headers=world["alice"]).json() == []


def test_the_admin_sets_a_webhook_and_sees_its_secret_once(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    made = client.put(
        f"/v1/admin/webhooks/{LENDER}",
        json={"url": "https://lender.example/hooks"},
        headers=world["admin"],
    )
    assert made.status_code == 200, made.text
    assert len(made.json()["secret"]) >= 40
    bad = client.put(
        f"/v1/admin/webhooks/{LENDER}", json={"url": "file:///x"}, headers=world["admin"]
    )
    assert bad.status_code == 422
