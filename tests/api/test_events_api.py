"""POST /v1/events: the admin's door for batches of events, with problem+json refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.config import Settings
from kaimen.domain.events import ENVELOPE, EVENT_KINDS
from kaimen.ingest.file_ingest import ingest_file
from kaimen.ingest.inbox_ingest import seal_inbox
from kaimen.store import consents, partners
from tests.api.conftest import TOKEN
from tests.conftest import NOW
from tests.ingest import events_factory as f

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = "application/problem+json"


@pytest.fixture
def lake(settings: Settings) -> Path:
    return settings.lake_root


def post(client: TestClient, events: list[dict[str, Any]], **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", AUTH)
    return client.post("/v1/events", json={"events": events}, headers=headers, **kwargs)


def test_events_are_accepted_and_a_replay_is_all_duplicates(
    client: TestClient, engine: Engine, lake: Path
) -> None:
    events = f.sample_events(20)
    first = post(client, events)
    assert first.status_code == 200
    assert first.json() == {"total": 20, "new": 20, "duplicate": 0}
    state = f.state(engine, lake)
    assert (state["event_inbox"], state["parquet_files"]) == (20, [])

    again = post(client, events[::-1])
    assert again.status_code == 200
    assert again.json() == {"total": 20, "new": 0, "duplicate": 20}
    assert f.state(engine, lake)["event_inbox"] == 20

    report = seal_inbox(engine, lake, "admin")
    assert (report.total, report.new) == (20, 20)
    stored = f.lake_events(engine, lake)
    assert [r["event_id"] for r in stored] == [e["event_id"] for e in events]
    assert f.raw_rows(lake) == 20

    after_seal = post(client, events[:5])
    assert after_seal.json() == {"total": 5, "new": 0, "duplicate": 5}


def test_resending_an_event_moved_to_another_month_is_a_conflict(
    client: TestClient, engine: Engine, lake: Path
) -> None:
    original = f.event("payment", "pay-1", occurred_at="2026-09-15T10:00:00Z")
    assert post(client, [original]).status_code == 200
    seal_inbox(engine, lake, "admin")
    moved = {**original, "occurred_at": "2026-10-15T10:00:00Z"}
    response = post(client, [moved])
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(1, "event_id")]


def test_json_numbers_are_read_as_written(client: TestClient, engine: Engine, lake: Path):
    event = {**f.event("payment", "num-1"), "amount": 12.5, "schema_version": 1}
    assert post(client, [event]).json() == {"total": 1, "new": 1, "duplicate": 0}
    seal_inbox(engine, lake, "admin")
    [stored] = f.lake_events(engine, lake)
    assert (str(stored["amount"]), stored["schema_version"]) == ("12.50", 1)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong-token-wrong-token"}, id="wrong-token"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="wrong-scheme"),
        pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
        pytest.param({"Authorization": TOKEN}, id="bare-token"),
    ],
)
def test_without_the_admin_token_the_answer_is_401(
    client: TestClient, engine: Engine, lake: Path, headers: dict[str, str]
) -> None:
    before = f.state(engine, lake)
    response = post(client, f.sample_events(3), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["title"]) == (401, "Unauthorized")
    assert f.state(engine, lake) == before


def test_unauthenticated_caller_learns_nothing_about_its_events(client: TestClient):
    response = post(client, [{"kind": "nonsense"}], headers={})
    assert response.status_code == 401
    assert "errors" not in response.json()


def test_bad_events_are_all_listed_with_their_position_and_nothing_is_stored(
    client: TestClient, engine: Engine, lake: Path
) -> None:
    events = f.sample_events(12)
    events[2] = f.event("payment", "bad-1", amount="-3.00")
    events[8] = f.event("loan_repayment", "bad-2", "P002", paid_date="2026-08-20")
    events[11] = f.event("payment", "bad-3", person_id="nobody")
    before = f.state(engine, lake)
    response = post(client, events)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["title"]) == (422, "Batch rejected")
    assert body["detail"] == "3 event(s) are invalid; nothing was stored"
    assert body["errors"] == [
        {"line": 3, "field": "amount", "reason": "must not be negative: -3.00"},
        {
            "line": 9,
            "field": "paid_date",
            "reason": "is after due_date, so status cannot be on_time",
        },
        {"line": 12, "field": "person_id", "reason": "not an enrolled person: nobody"},
    ]
    assert f.state(engine, lake) == before


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("NaN", "NaN is not an amount"),
        ("Infinity", "an infinite amount is not allowed"),
        ("1.005", "not a plain decimal number with at most 2 decimals: 1.005"),
        ("0", "must be greater than zero"),
        ("100000000.5", "absurdly large (over 100,000,000): 100000000.5"),
    ],
)
def test_bad_json_number_amounts(
    client: TestClient, engine: Engine, lake: Path, literal: str, reason: str
) -> None:
    event = json.dumps({**f.event("payment", "n1"), "amount": "AMOUNT"}).replace(
        '"AMOUNT"', literal
    )
    good = json.dumps(f.event("payment", "n0"))
    response = client.post(
        "/v1/events",
        content=f'{{"events": [{good}, {event}]}}',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"line": 2, "field": "amount", "reason": reason}]
    assert f.state(engine, lake)["event_inbox"] == 0


def test_extra_fields_are_rejected(client: TestClient, engine: Engine, lake: Path):
    events: list[dict[str, Any]] = f.sample_events(4)
    events[3] = {**events[3], "colour": "red"}
    response = client.post("/v1/events", json={"events": events, "batch": "x"}, headers=AUTH)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["title"] == "Request invalid"
    assert sorted((e["line"], e["field"]) for e in body["errors"]) == [(0, "batch"), (4, "colour")]
    assert all(e["reason"] == "Extra inputs are not permitted" for e in body["errors"])
    assert f.state(engine, lake)["event_inbox"] == 0


def test_missing_required_field_and_wrong_json_type_name_the_event(client: TestClient):
    events: list[dict[str, Any]] = f.sample_events(3)
    events[1] = {k: v for k, v in events[1].items() if k != "occurred_at"}
    events[2] = {**events[2], "currency": ["CNY"]}
    response = post(client, events)
    assert response.status_code == 422
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [
        (2, "occurred_at"),
        (3, "currency"),
    ]


def test_an_unknown_or_missing_kind_names_the_event_and_kind(client: TestClient):
    events: list[dict[str, Any]] = f.sample_events(3)
    events[0] = {**events[0], "kind": "gift"}
    del events[2]["kind"]
    response = post(client, events)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(1, "kind"), (3, "kind")]
    assert "gift" in errors[0]["reason"]


def test_a_field_the_kind_requires_is_named_with_its_event(client: TestClient):
    events: list[dict[str, Any]] = f.sample_events(3)
    events[1] = f.event("rental", "r-1", outcome=None)
    events[2] = {**f.event("fine", "f-1"), "amount": None}
    response = post(client, events)
    assert response.status_code == 422
    # An empty amount is neither text nor a number: one reason for each it may be.
    assert {(e["line"], e["field"]) for e in response.json()["errors"]} == {
        (2, "outcome"),
        (3, "amount"),
    }


def test_another_kinds_field_is_judged_by_the_rules_and_may_be_empty(client: TestClient):
    refused = post(client, [f.event("payment", "p-1", status="late")])
    assert refused.json()["errors"] == [
        {"line": 1, "field": "status", "reason": "not a field of payment events; leave it empty"}
    ]
    empty = {**f.event("payment", "p-2"), "status": None, "due_date": None}
    assert post(client, [empty]).json() == {"total": 1, "new": 1, "duplicate": 0}


def test_the_openapi_document_shows_each_kinds_fields(client: TestClient):
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    batch = schemas[body["schema"]["$ref"].rsplit("/", 1)[1]]
    union = batch["properties"]["events"]["items"]
    assert union["discriminator"]["propertyName"] == "kind"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(EVENT_KINDS)
    for name, kind in EVENT_KINDS.items():
        shown = schemas[mapping[name].rsplit("/", 1)[1]]
        assert sorted(shown["required"]) == sorted(kind.every_required), name
        assert set(shown["properties"]) == {e.name for e in ENVELOPE} | set(kind.fields), name
        assert shown["additionalProperties"] is False
        assert shown["properties"]["kind"]["const"] == name
        for field, choices in kind.choices.items():
            assert shown["properties"][field]["enum"] == list(choices), (name, field)


def test_more_than_ten_thousand_events_are_rejected(
    client: TestClient, engine: Engine, lake: Path
) -> None:
    events = [f.event("payment", f"many-{i}") for i in range(10_001)]
    response = post(client, events)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (0, "events")
    assert "10000" in error["reason"]
    assert f.state(engine, lake)["event_inbox"] == 0


def test_an_empty_batch_is_rejected(client: TestClient):
    response = post(client, [])
    assert response.status_code == 422
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(0, "events")]


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "not-sealed"])
def test_event_posted_then_ingested_from_a_file_is_a_duplicate(
    client: TestClient, engine: Engine, lake: Path, tmp_path: Path, sealed: bool
) -> None:
    events = f.sample_events(10)
    assert post(client, events[:4]).json() == {"total": 4, "new": 4, "duplicate": 0}
    if sealed:
        seal_inbox(engine, lake, "admin")
    path = f.write(tmp_path / "later.csv", events)
    report = ingest_file(engine, lake, path, "tester", now=NOW)
    assert (report.total, report.new, report.duplicate) == (10, 6, 4)
    seal_inbox(engine, lake, "admin")
    assert len(f.lake_events(engine, lake)) == 10
    assert f.raw_rows(lake) == 10


def _partner_key(engine: Engine, partner_id: str, scopes: list[str]) -> dict[str, str]:
    with engine.begin() as store:
        if partners.get(store, partner_id) is None:
            partners.add(store, partner_id, partner_id.title(), NOW)
        _, key = partners.issue_key(store, partner_id, scopes, NOW)
    return {"Authorization": f"Bearer {key}"}


def _partner_events(count: int, source: str, prefix: str) -> list[dict[str, Any]]:
    """Sample events of the kinds a partner is a party to, in its own name."""
    events = [
        e
        for e in f.sample_events(4 * count, source=source, prefix=prefix)
        if e["kind"] in ("rental", "loan_repayment", "bill_repayment", "rent_payment")
    ][:count]
    for event in events:
        if "partner" in event:
            event["partner"] = source
    return events


def test_a_partner_sends_events_only_under_its_own_name(
    client: TestClient, engine: Engine, lake: Path
) -> None:
    key = _partner_key(engine, "bank-a", ["events"])
    refused = post(client, _partner_events(6, "bank-a", "e"), headers=key)
    # Without the people's feedback consent, a partner may not tell kaimen about them.
    assert refused.status_code == 422
    with engine.begin() as store:
        for person_id in f.PEOPLE:
            consents.grant(store, person_id, "bank-a", "feedback", NOW)
    response = post(client, _partner_events(6, "bank-a", "e"), headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 6
    before = f.state(engine, lake)
    mixed = _partner_events(3, "bank-a", "m") + _partner_events(2, "bank-b", "n")
    refused = post(client, mixed, headers=key)
    assert refused.status_code == 422
    assert {(e["line"], e["field"]) for e in refused.json()["errors"]} >= {
        (4, "source"),
        (5, "source"),
    }
    # Only what the partner is a party to, in its own name: not a court judgment, a fine or
    # someone's education, and not a rental of another firm.
    judgment = f.event("court_judgment", source="bank-a", event_id="j1")
    for bad in ([judgment], [f.event("fine", source="bank-a", event_id="f1")]):
        answer = post(client, bad, headers=key)
        assert answer.status_code == 422 and "a partner reports only" in answer.text
    other_firm = f.event("rental", source="bank-a", event_id="r9")  # names bikes.co
    answer = post(client, [other_firm], headers=key)
    assert answer.status_code == 422 and "must be bank-a (or empty)" in answer.text
    assert f.state(engine, lake) == before
    # A key without the events scope, and a person's token, may not send events at all.
    no_scope = _partner_key(engine, "bank-a", ["decisions"])
    assert post(client, _partner_events(2, "bank-a", "x"), headers=no_scope).status_code == 403
    assert f.state(engine, lake) == before
