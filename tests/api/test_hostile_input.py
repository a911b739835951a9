"""Hostile request bodies (issue 14, "What broke"): each is refused with a clear problem and
stores nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from kaimen import api
from kaimen.api.json_bodies import JsonBodyRoute
from kaimen.api.partner_routes import OfferIn
from kaimen.api.schemas import WhatIfIn
from kaimen.config import Settings
from kaimen.store import partners
from tests.api.conftest import TOKEN
from tests.conftest import NOW
from tests.ingest import events_factory as f

AUTH = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
PROBLEM = "application/problem+json"


@pytest.fixture
def partner(engine: Engine) -> dict[str, str]:
    with engine.begin() as store:
        partners.add(store, "car-rental", "Car Rental Ltd", NOW)
        _, key = partners.issue_key(store, "car-rental", ["decisions", "events"], NOW)
    return {"Authorization": f"Bearer {key}", "content-type": "application/json"}


def duplicate_refused(response: Any, key: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    [error] = response.json()["errors"]
    assert error["reason"] == f"JSON decode error: duplicate key '{key}'", error


def test_a_duplicated_key_is_refused_naming_it_on_the_decision_fast_path(
    client: TestClient, partner: dict[str, str]
) -> None:
    # The last value would win: the decision would be about another person.
    body = '{"person_id": "P001", "offer_id": 1, "person_id": "P002"}'
    duplicate_refused(client.post("/v1/decisions", content=body, headers=partner), "person_id")
    body = '{"person_id":"P001","offer_id":1,"offer_id":2}'
    duplicate_refused(client.post("/v1/decisions", content=body, headers=partner), "offer_id")
    # A key spelt with an escape is the same key.
    body = '{"person_id":"P001","offer_id":1,"person\\u005fid":"P002"}'
    duplicate_refused(client.post("/v1/decisions", content=body, headers=partner), "person_id")


def test_a_duplicated_key_in_an_event_is_refused_and_nothing_is_stored(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    event = json.dumps(f.event("payment", "dup-1", person_id="P001"))
    moved = event[:-1] + ', "person_id": "P002"}'
    response = client.post("/v1/events", content=f'{{"events": [{moved}]}}', headers=AUTH)
    duplicate_refused(response, "person_id")
    assert f.state(engine, settings.lake_root)["event_inbox"] == 0
    # At the top level too.
    batch = f'{{"events": [], "events": [{event}]}}'
    duplicate_refused(client.post("/v1/events", content=batch, headers=AUTH), "events")
    assert f.state(engine, settings.lake_root)["event_inbox"] == 0


def test_a_duplicated_key_is_refused_on_any_route(client: TestClient) -> None:
    body = '{"partner_id": "shop", "name": "Shop", "name": "Another shop"}'
    duplicate_refused(client.post("/v1/partners", content=body, headers=AUTH), "name")
    assert client.get("/v1/partners", headers=AUTH).json() == []
    # Keys that differ are not duplicates, nor are equal keys in different objects.
    fine = client.post("/v1/partners", json={"partner_id": "shop", "name": "Shop"}, headers=AUTH)
    assert fine.status_code == 201, fine.text


def test_every_api_route_reads_its_body_refusing_duplicated_keys() -> None:
    package = Path(api.__file__).parent
    modules = sorted(p.stem for p in package.glob("*_routes.py"))
    assert len(modules) > 10
    for name in modules:
        routes = importlib.import_module(f"kaimen.api.{name}").router.routes
        assert routes and all(isinstance(r, JsonBodyRoute) for r in routes), name


@pytest.mark.parametrize("literal", ["true", "false"])
def test_a_json_boolean_is_not_an_amount(
    client: TestClient, engine: Engine, settings: Settings, literal: str
) -> None:
    event = json.dumps({**f.event("payment", "bool-1"), "amount": "AMOUNT"})
    body = '{"events": [' + event.replace('"AMOUNT"', literal) + "]}"
    response = client.post("/v1/events", content=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {"amount"}
    assert f.state(engine, settings.lake_root)["event_inbox"] == 0


def test_api_models_refuse_a_boolean_where_a_number_is_expected() -> None:
    with pytest.raises(ValidationError):
        OfferIn.model_validate_json(
            '{"name": "n", "purpose": "p", "min_score": 600, "min_dimensions": {"repayment": true}}'
        )
    with pytest.raises(ValidationError):
        WhatIfIn.model_validate_json('{"values": {"on_time_share_12m": true}}')
    # Numbers are still numbers.
    asked = WhatIfIn.model_validate_json('{"values": {"on_time_share_12m": 1}}')
    assert asked.values == {"on_time_share_12m": 1.0}
    assert isinstance(asked.values["on_time_share_12m"], float)


def test_an_error_repeats_only_a_short_prefix_of_a_long_key_or_value(client: TestClient) -> None:
    key = "k" * 30_000
    body = json.dumps({"partner_id": "shop", "name": "Shop"})[:-1] + f', "{key}": 1, "{key}": 2}}'
    refused = client.post("/v1/partners", content=body, headers=AUTH)
    assert refused.status_code == 422
    assert len(refused.content) < 1000
    values = {"values": {"x" * 30_000: "y" * 30_000}}
    refused = client.post("/v1/people/P001/whatif", json=values, headers=AUTH)
    assert refused.status_code == 422
    assert len(refused.content) < 1000


def test_a_fine_paid_over_http_needs_its_case_in_the_lake_or_the_inbox(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    paid = f.event("fine", "paid-1", "P001", status="paid", case_number="F-50")
    refused = client.post("/v1/events", json={"events": [paid]}, headers=AUTH)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {
            "line": 1,
            "field": "case_number",
            "reason": "no fine with case number F-50 was recorded for this person",
        }
    ]
    issued = f.event("fine", "issued-1", "P001", status="issued", case_number="F-50")
    assert client.post("/v1/events", json={"events": [issued]}, headers=AUTH).status_code == 200
    # The original waits in the inbox: it records the case.
    accepted = client.post("/v1/events", json={"events": [paid]}, headers=AUTH)
    assert accepted.status_code == 200, accepted.text
