"""Settlement reconciliation over HTTP (the admin): payments in, the journalist's payment
matched despite the mistyped account, the review queue, decisions and the court's objection,
with problem+json refusals."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.dueprocess.court_import import import_file as import_court_list
from kaimen.enrolment import enrol_one
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import court_listings
from tests.dueprocess.test_settlement import (
    ACCOUNT,
    CASE,
    COURT,
    ID_JOURNALIST,
    ID_NEIGHBOUR,
    IMPORTED,
    MISTYPED,
    OTHER_CASE,
)

TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = "application/problem+json"


@pytest.fixture
def client(
    tmp_path: Path, database_url: str, engine: Engine, vault: IdentityVault
) -> Iterator[TestClient]:
    enrol_one(engine, vault, "13800138001", ID_JOURNALIST, "tester", now=IMPORTED)
    court = tmp_path / "court.csv"
    court.write_text(
        "name,id_number,case_number,court,amount,currency,judgment_date,status\n"
        f"王记者,{ID_JOURNALIST},{CASE},{COURT},5000.00,CNY,2025-03-01,entered\n"
        f"李邻居,{ID_NEIGHBOUR},{OTHER_CASE},{COURT},800.00,CNY,2025-04-01,entered\n",
        encoding="utf-8",
    )
    import_court_list(engine, vault, court, "tester", now=IMPORTED)
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
        admin_token=TOKEN,
    )
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    app.state.workspace.engine.dispose()


def _listing(engine: Engine, case: str) -> Any:
    with engine.connect() as store:
        return store.execute(
            select(court_listings).where(court_listings.c.case_number == case)
        ).one()


def _payment(transaction: str, **changes: str | None) -> dict[str, str | None]:
    return {
        "transaction_id": transaction,
        "payer_name": "王记者",
        "payer_id_number": ID_JOURNALIST,
        "amount": "5000.00",
        "currency": "CNY",
        "paid_on": "2026-09-30",
        "destination_account": MISTYPED,
        "reference": f"罚款 {CASE}",
    } | changes


def test_the_journalists_payment_settles_her_listing_and_the_court_may_object(
    client: TestClient, engine: Engine
) -> None:
    put = client.put(
        "/v1/admin/court-accounts", json={"court": COURT, "account": ACCOUNT}, headers=AUTH
    )
    assert put.status_code == 204
    answer = client.post("/v1/admin/payments", json={"payments": [_payment("T-1")]}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    listing = _listing(engine, CASE)
    assert (body["matched"], body["review"], body["unmatched"]) == (1, 0, 0)
    assert body["settled_listings"] == [listing.listing_id] and len(body["people_changed"]) == 1
    assert _listing(engine, CASE).status == "settled-pending"
    again = client.post("/v1/admin/payments", json={"payments": [_payment("T-1")]}, headers=AUTH)
    assert again.json()["replayed"] is True

    objection = client.post(
        f"/v1/admin/court-list/{listing.listing_id}/objection",
        json={"reason": "the transfer bounced"},
        headers=AUTH,
    )
    assert objection.status_code == 200, objection.text
    assert objection.json()["status"] == "entered"
    assert _listing(engine, CASE).status == "entered"
    twice = client.post(
        f"/v1/admin/court-list/{listing.listing_id}/objection",
        json={"reason": "again"},
        headers=AUTH,
    )
    assert twice.status_code == 409
    assert twice.headers["content-type"].startswith(PROBLEM)

    queue = client.get("/v1/admin/payments/review", headers=AUTH).json()
    (item,) = queue["items"]
    assert item["state"] == "review" and item["candidate_case_number"] == CASE
    approved = client.post(
        f"/v1/admin/payments/{item['payment_id']}/approve", json={}, headers=AUTH
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "settled-pending"
    assert approved.json()["last_day"] == "2026-10-10"


def test_unmatched_payments_wait_and_are_rejected_not_dropped(client: TestClient) -> None:
    stray = _payment("T-7", payer_name=None, payer_id_number=None, amount="1.50", reference="x")
    body = client.post("/v1/admin/payments", json={"payments": [stray]}, headers=AUTH).json()
    assert body["unmatched"] == 1
    (item,) = client.get("/v1/admin/payments/review", headers=AUTH).json()["items"]
    assert item["state"] == "unmatched" and item["candidate_listing_id"] is None
    rejected = client.post(
        f"/v1/admin/payments/{item['payment_id']}/reject",
        json={"reason": "not a judgment payment"},
        headers=AUTH,
    )
    assert rejected.json() == {
        "payment_id": item["payment_id"],
        "state": "rejected",
        "note": "not a judgment payment",
    }
    assert client.get("/v1/admin/payments/review", headers=AUTH).json()["items"] == []


def test_bad_payments_are_named_by_line_and_field_and_only_the_admin_may_send(
    client: TestClient,
) -> None:
    batch = {
        "payments": [
            _payment("T-1", amount="5,000.00"),
            _payment("T-2", amount="0", paid_on="2026-13-01"),
            _payment("T-3", amount="9,99"),  # not 999: refused, not guessed
        ]
    }
    answer = client.post("/v1/admin/payments", json=batch, headers=AUTH)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith(PROBLEM)
    errors = {(e["line"], e["field"]) for e in answer.json()["errors"]}
    assert errors == {(2, "amount"), (2, "paid_on"), (3, "amount")}
    assert ID_JOURNALIST not in answer.text
    assert client.post("/v1/admin/payments", json=batch).status_code == 401
    unknown = client.post(
        "/v1/admin/payments/PFFFFFFFFFFFFFFFF/reject", json={"reason": "x"}, headers=AUTH
    )
    assert unknown.status_code == 404
