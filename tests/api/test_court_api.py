"""The court list's admin routes and `POST /v1/restrictions/check`, over HTTP, on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.dueprocess import identity_links
from kaimen.enrolment import enrol_one
from kaimen.sharing.disclosures import access_log_of
from kaimen.sharing.partnering import add_partner, issue_key
from kaimen.store import audit
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from tests.conftest import NOW, make_national_id

ADMIN = "an-admin-token-of-some-length"
SECRET = base64.b64encode(bytes(range(32))).decode()
ID_ZHANG = make_national_id(birth="19850512", sequence="001")
ID_LI = make_national_id(birth="19920101", sequence="002")
MASKED_LI = ID_LI[:6] + "********" + ID_LI[14:]
ID_WANG = make_national_id("310101", "19880808", "017")
CASE = "(2025)京01执1号"
COURT = "北京市第一中级人民法院"
ENTRY = {
    "name": "张三丰",
    "id_number": ID_ZHANG,
    "case_number": CASE,
    "court": COURT,
    "amount": 1200.5,
    "judgment_date": "2025-06-01",
}


@dataclasses.dataclass
class Court:
    engine: Engine
    vault: IdentityVault
    client: TestClient
    admin: dict[str, str]
    airline: dict[str, str]  # scope restrictions
    lender: dict[str, str]  # scope decisions only
    zhang: str
    li: str


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _court(home: Path, url: str, profile: str) -> Iterator[Court]:
    settings = Settings(
        home=home, admin_token=ADMIN, database_url=url, secret_key=SECRET, profile=profile
    )
    engine = open_store(url)
    vault = settings.vault()
    zhang = enrol_one(engine, vault, "13800138000", ID_ZHANG, "tester", now=NOW)
    li = enrol_one(engine, vault, "13900139000", ID_LI, "tester", now=NOW)
    add_partner(engine, "sky-air", "Sky Air", "tester")
    add_partner(engine, "lender", "Lender", "tester")
    airline = issue_key(engine, "sky-air", ["restrictions"], "tester").secret
    lender = issue_key(engine, "lender", ["decisions"], "tester").secret
    client = TestClient(create_app(settings))
    yield Court(engine, vault, client, _bearer(ADMIN), _bearer(airline), _bearer(lender), zhang, li)
    engine.dispose()


@pytest.fixture
def court(database_url: str, tmp_path: Path) -> Iterator[Court]:
    yield from _court(tmp_path, database_url, "cn")


@pytest.fixture
def court_us(database_url: str, tmp_path: Path) -> Iterator[Court]:
    yield from _court(tmp_path, database_url, "us")


def _check(c: Court, purpose: str = "air_travel", **who: str) -> dict[str, object]:
    response = c.client.post(
        "/v1/restrictions/check", json={"purpose": purpose, **who}, headers=c.airline
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_import_read_and_restrict_under_cn(court: Court) -> None:
    c = court
    assert _check(c, person_id=c.zhang)["restricted"] is False
    imported = c.client.post(
        "/v1/admin/court-list",
        json={"entries": [ENTRY, {**ENTRY, "case_number": "c2", "id_number": MASKED_LI}]},
        headers=c.admin,
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["new_listings"], body["linked"], body["replayed"]) == (2, 1, False)
    assert body["people_changed"] == [c.zhang]
    again = c.client.post(
        "/v1/admin/court-list",
        json={"entries": [ENTRY, {**ENTRY, "case_number": "c2", "id_number": MASKED_LI}]},
        headers=c.admin,
    )
    assert again.json()["replayed"] is True

    flight = _check(c, person_id=c.zhang)
    assert flight["restricted"] is True and flight["profile"] == "cn"
    (listing,) = flight["listings"]  # type: ignore[misc]
    assert listing["case_number"] == CASE and listing["court"] == COURT
    assert listing["judgment_date"] == "2025-06-01" and listing["amount"] == "1200.50"
    assert "Fa Shi [2015] No. 17" in listing["legal_basis"]
    assert "score" not in flight
    by_number = _check(c, "high_speed_rail", national_id=ID_ZHANG.lower())
    assert by_number["restricted"] is True and "G-series" in str(by_number["listings"])
    assert _check(c, person_id=c.li)["restricted"] is False  # masked: not linked

    log = access_log_of(c.engine, c.zhang)
    checks = [e for e in log if e.purpose == "restrictions_check"]
    assert len(checks) == 3 and checks[0].actor == "partner:sky-air"
    assert checks[0].disclosed["restricted"] is True
    assert [e for e in access_log_of(c.engine, c.li) if e.purpose == "restrictions_check"]

    # The admin reads the listing in clear; nobody else may.
    link_id = None
    listing_id = c.client.get("/v1/admin/court-list/L0000000000000000", headers=c.admin)
    assert listing_id.status_code == 404
    links = [e for e in log if e.what == "identity_link"]
    listing_key = links[0].disclosed["listing_id"]
    read = c.client.get(f"/v1/admin/court-list/{listing_key}", headers=c.admin)
    assert read.status_code == 200, read.text
    assert read.json()["name"] == "张三丰" and read.json()["id_number"] == ID_ZHANG
    link_id = read.json()["links"][0]["link_id"]
    assert c.client.get(f"/v1/admin/court-list/{listing_key}", headers=c.airline).status_code == 403

    undone = c.client.post(
        f"/v1/admin/links/{link_id}/undo", json={"reason": "a namesake"}, headers=c.admin
    )
    assert undone.status_code == 200 and undone.json()["people_changed"] == [c.zhang]
    assert _check(c, person_id=c.zhang)["restricted"] is False
    assert audit.verify(c.engine) > 0


def test_bad_entries_are_named_by_position_and_field(court: Court) -> None:
    response = court.client.post(
        "/v1/admin/court-list",
        json={
            "entries": [
                ENTRY,
                {**ENTRY, "case_number": "c2", "id_number": "123"},
                {**ENTRY, "case_number": "c3", "judgment_date": "2025-13-01", "colour": "red"},
            ]
        },
        headers=court.admin,
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"] == "2 row(s) are invalid; nothing was stored"
    assert {(e["line"], e["field"]) for e in problem["errors"]} == {
        (2, "id_number"),
        (3, "colour"),
        (3, "judgment_date"),
    }
    assert ID_ZHANG not in response.text and "张三丰" not in response.text


def test_the_review_queue_over_http(court: Court) -> None:
    c = court
    c.client.post(
        "/v1/admin/court-list",
        json={"entries": [{**ENTRY, "id_number": MASKED_LI, "name": "李四光"}]},
        headers=c.admin,
    )
    (listing_id,) = identity_links.listings_to_resolve(c.engine, c.vault).column("listing_id")
    identity_links.apply_matches(
        c.engine, [], [identity_links.Candidate(str(listing_id), c.li, 0.7)], "matcher"
    )
    pending = c.client.get("/v1/admin/reviews", headers=c.admin)
    assert pending.status_code == 200
    (candidate,) = pending.json()
    assert candidate["id_number"] == MASKED_LI and candidate["person_birth_date"] == "1992-01-01"
    approved = c.client.post(f"/v1/admin/reviews/{candidate['review_id']}/approve", headers=c.admin)
    assert approved.status_code == 200 and approved.json()["link"]["method"] == "review"
    assert approved.json()["link"]["approved_by"] == "admin"
    twice = c.client.post(f"/v1/admin/reviews/{candidate['review_id']}/reject", headers=c.admin)
    assert twice.status_code == 409
    assert _check(c, "luxury_hotel", person_id=c.li)["restricted"] is True


def test_a_partner_needs_the_scope_and_a_known_person(court: Court) -> None:
    c = court
    refused = c.client.post(
        "/v1/restrictions/check",
        json={"purpose": "air_travel", "person_id": c.zhang},
        headers=c.lender,
    )
    assert refused.status_code == 403
    unknown = c.client.post(
        "/v1/restrictions/check",
        json={"purpose": "air_travel", "person_id": "PNOBODY"},
        headers=c.airline,
    )
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no such person"
    both = c.client.post(
        "/v1/restrictions/check",
        json={"purpose": "air_travel", "person_id": c.zhang, "national_id": ID_ZHANG},
        headers=c.airline,
    )
    assert both.status_code == 422
    wrong = c.client.post(
        "/v1/restrictions/check",
        json={"purpose": "karaoke", "person_id": c.zhang},
        headers=c.airline,
    )
    assert wrong.status_code == 422
    spec = c.client.get("/openapi.json").json()
    description = spec["paths"]["/v1/restrictions/check"]["post"]["description"]
    assert "no consent is required" in description


def test_no_restriction_under_us(court_us: Court) -> None:
    c = court_us
    c.client.post("/v1/admin/court-list", json={"entries": [ENTRY]}, headers=c.admin)
    answer = _check(c, person_id=c.zhang)
    assert answer["restricted"] is False and answer["listings"] == []
    assert answer["profile"] == "us" and "no restriction" in str(answer["note"])
    log = [e for e in access_log_of(c.engine, c.zhang) if e.purpose == "restrictions_check"]
    assert len(log) == 1 and log[0].disclosed["restricted"] is False


def test_a_named_enrolment_is_matched_by_a_later_masked_listing(court: Court) -> None:
    bad = court.client.post(
        "/v1/people",
        json={"phone": "13700137000", "national_id": ID_WANG, "name": "Wang Wei 2"},
        headers=court.admin,
    )
    assert bad.status_code == 422 and bad.json()["reason"] == "name_format"
    made = court.client.post(
        "/v1/people",
        json={"phone": "13700137000", "national_id": ID_WANG, "name": "王小伟"},
        headers=court.admin,
    )
    assert made.status_code == 201, made.text
    wang = made.json()["person_id"]
    masked = {**ENTRY, "name": "Wang Xiaowei", "id_number": ID_WANG[:6] + "*" * 8 + ID_WANG[14:]}
    answer = court.client.post(
        "/v1/admin/court-list", json={"entries": [masked]}, headers=court.admin
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["linked"], body["auto_linked"], body["queued_for_review"]) == (0, 1, 0)
    assert body["people_changed"] == [wang]
