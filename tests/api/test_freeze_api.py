"""`/v1/me/freeze` and `/v1/me/alerts` over HTTP, on SQLite and PostgreSQL: a frozen file
answers a partner's decision exactly as an unknown person does, the attempt reaches the
person's access log and inbox, and unfreezing takes effect for the next request."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.store import partners, person_tokens
from tests.conftest import NOW

PERSON = "P001"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_freeze_refuses_partners_as_no_consent_and_fills_the_inbox(
    client: TestClient, engine: Engine
) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as store:
        me = _bearer(person_tokens.issue(store, PERSON, NOW))
        other = _bearer(person_tokens.issue(store, "P002", NOW))
        partners.add(store, "lender", "Lender", now)
        _, key = partners.issue_key(store, "lender", ["decisions"], now)
    partner = _bearer(key)
    offer = client.post(
        "/v1/offers", json={"name": "card", "purpose": "a card", "min_score": 600}, headers=partner
    )
    assert offer.status_code == 201, offer.text
    offer_id = offer.json()["offer_id"]
    granted = client.post(
        "/v1/me/consents", json={"partner_id": "lender", "purpose": "decision"}, headers=me
    )
    assert granted.status_code == 201, granted.text

    def decide(person_id: str) -> tuple[int, object]:
        answer = client.post(
            "/v1/decisions", json={"person_id": person_id, "offer_id": offer_id}, headers=partner
        )
        return answer.status_code, answer.json() if answer.status_code != 200 else None

    assert client.get("/v1/me/freeze", headers=me).json() == {"frozen": False, "frozen_at": None}
    assert decide(PERSON)[0] == 200
    frozen = client.put("/v1/me/freeze", headers=me)
    assert frozen.status_code == 200 and frozen.json()["frozen"] is True
    assert decide(PERSON) == decide("P999")
    assert decide(PERSON)[0] == 404

    log = client.get("/v1/me/access-log", headers=me).json()
    assert [e["what"] for e in log[:2]] == ["refused", "refused"]
    assert log[0]["disclosed"] == {"asked": "decision", "disclosed": "nothing: the file is frozen"}
    inbox = client.get("/v1/me/alerts", headers=me).json()
    assert [a["kind"] for a in inbox] == ["frozen_attempt", "frozen_attempt", "inquiry"]
    assert inbox[0]["details"] == {"partner_id": "lender", "asked": "decision"}

    unfrozen = client.delete("/v1/me/freeze", headers=me)
    assert unfrozen.json() == {"frozen": False, "frozen_at": None}
    assert decide(PERSON)[0] == 200

    first = inbox[-1]["alert_id"]
    read = client.post(f"/v1/me/alerts/{first}/read", headers=me)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = client.get("/v1/me/alerts?unread=true", headers=me).json()
    assert first not in {a["alert_id"] for a in unread} and len(unread) == 3
    assert client.post(f"/v1/me/alerts/{first}/read", headers=other).status_code == 404
    assert client.get("/v1/me/alerts", headers=other).json() == []
    assert client.put("/v1/me/freeze", headers=partner).status_code in (401, 403)
