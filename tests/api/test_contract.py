"""The OpenAPI document says what the server does (`api.contract`): refusals as the problem
details they are sent as, each status where it can happen, derived from what routes declare;
the schema as strict as the checks; a 405 naming every allowed method."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kaimen.api import contract, problems
from kaimen.api.decision_routes import DecisionIn
from kaimen.api.deps import Admin, PersonPath, ReportsPartner
from kaimen.api.json_bodies import api_router
from kaimen.api.request_limits import MAX_EVENTS_BODY_BYTES, body_cap
from kaimen.domain.callers import SCOPES
from kaimen.domain.scores import BANDS, DIMENSIONS
from kaimen.scoring.way_up import what_if_domains
from tests.api.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = "application/problem+json"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_refusal_is_documented_as_problem_details(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = _operations(document)
    assert len(operations) > 50
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM], (path, method, status)
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_each_status_is_documented_where_it_can_happen(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, method, operation in _operations(document):
        statuses = set(operation["responses"])
        if path.startswith("/v1/"):
            # The middleware before routing, and the store out of reach.
            assert {"400", "401", "413", "503"} <= statuses, (path, method)
            assert operation["security"] == [{"bearer": []}]
            assert "Retry-After" in operation["responses"]["503"]["headers"]
        if "{" in path:
            assert "404" in statuses, (path, method)
    paths = document["paths"]
    assert set(paths["/healthz"]["get"]["responses"]) == {"200"}
    assert "403" in paths["/v1/partners"]["get"]["responses"]  # the admin's alone
    assert "422" not in paths["/v1/partners"]["get"]["responses"]  # nothing to validate
    for limited in (paths["/v1/decisions"]["post"], paths["/v1/reports"]["post"]):
        assert "429" in limited["responses"]
        assert "Retry-After" in limited["responses"]["429"]["headers"]
    assert "429" not in paths["/v1/partners"]["get"]["responses"]


def test_a_new_route_is_documented_by_the_dependencies_it_declares() -> None:
    router = api_router()

    @router.get("/v1/things/{person_id}")
    def thing(person_id: PersonPath, admin: Admin) -> dict[str, str]:
        return {}

    @router.post("/v1/inquiries")
    def inquiry(caller: ReportsPartner) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    contract.install(app)
    paths = app.openapi()["paths"]
    thing_statuses = set(paths["/v1/things/{person_id}"]["get"]["responses"])
    assert thing_statuses == {"200", "400", "401", "403", "404", "413", "422", "503"}
    inquiry_statuses = set(paths["/v1/inquiries"]["post"]["responses"])
    assert inquiry_statuses == {"200", "400", "401", "403", "413", "429", "503"}
    assert problems.PROBLEM in paths["/v1/inquiries"]["post"]["responses"]["429"]["content"]


def test_the_schema_is_as_strict_as_the_checks(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["KeyIn"]["properties"]["scopes"]["items"]["enum"] == list(SCOPES)
    band = schemas["OfferIn"]["properties"]["min_band"]["anyOf"][0]
    assert band["enum"] == [b.name for b in BANDS]
    dimensions = schemas["OfferIn"]["properties"]["min_dimensions"]
    assert dimensions["propertyNames"]["enum"] == list(DIMENSIONS)
    values = schemas["WhatIfIn"]["properties"]["values"]
    assert values["additionalProperties"] is False
    assert set(values["properties"]) == set(what_if_domains())
    share = values["properties"]["on_time_share_12m"]
    assert (share["minimum"], share["maximum"]) == (0, 1)
    assert values["properties"]["late_repayments_12m"]["multipleOf"] == 1
    answer = document["paths"]["/v1/disputes/{dispute_id}/answer"]["post"]
    (dispute_id,) = answer["parameters"]
    assert dispute_id["schema"]["pattern"].startswith("^[0-9a-f]{8}")
    # A schema cannot say "in the future": the description says what is refused (422).
    consent = document["paths"]["/v1/me/consents"]["post"]["responses"]["422"]["description"]
    assert "not in the future" in consent
    assert "422" in schemas["ConsentIn"]["properties"]["expires_at"]["description"]
    # A text amount is a decimal the checks accept, not any text.
    amount = schemas["LoanFeedbackIn"]["properties"]["amount"]["anyOf"][1]
    assert amount["pattern"]


def test_the_schema_refuses_what_the_checks_refuse(client: TestClient) -> None:
    key = client.post("/v1/partners/shop/keys", json={"scopes": ["everything"]}, headers=AUTH)
    assert key.status_code == 422 and key.headers["content-type"] == PROBLEM
    # Every scope at once fits (the list used to stop at six of seven).
    client.post("/v1/partners", json={"partner_id": "shop", "name": "Shop"}, headers=AUTH)
    every = client.post("/v1/partners/shop/keys", json={"scopes": list(SCOPES)}, headers=AUTH)
    assert every.status_code == 201, every.text
    whatif = client.post(
        "/v1/people/P1/whatif", json={"values": {"not_a_characteristic": 1}}, headers=AUTH
    )
    assert whatif.status_code == 422
    assert "not_a_characteristic" in whatif.text


def test_an_integer_may_be_written_as_a_whole_json_number() -> None:
    assert DecisionIn.model_validate_json('{"person_id": "P1", "offer_id": 2.0}').offer_id == 2
    for refused in ("true", '"2"', "2.5"):
        with pytest.raises(ValidationError):
            DecisionIn.model_validate_json(f'{{"person_id": "P1", "offer_id": {refused}}}')


def test_a_405_names_every_allowed_method(client: TestClient) -> None:
    for method, path, allowed in (
        ("DELETE", "/v1/offers", "GET, POST"),
        ("PUT", "/v1/people/P1/whatif", "GET, POST"),
        ("PATCH", "/v1/partners", "GET, POST"),
        ("GET", "/v1/decisions", "POST"),
    ):
        answer = client.request(method, path, headers=AUTH)
        assert answer.status_code == 405, (method, path)
        assert answer.headers["allow"] == allowed
        assert answer.headers["content-type"] == PROBLEM


def test_an_undeclared_query_parameter_is_refused(client: TestClient) -> None:
    answer = client.get("/v1/admin/reviews", params={"limt": "5"}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "limt"
    assert client.get("/v1/admin/reviews", params={"limit": "5"}, headers=AUTH).is_success


def test_the_decision_fast_path_refuses_a_query_parameter_too(client: TestClient) -> None:
    client.post("/v1/partners", json={"partner_id": "shop", "name": "Shop"}, headers=AUTH)
    issued = client.post("/v1/partners/shop/keys", json={"scopes": ["decisions"]}, headers=AUTH)
    key = {"Authorization": f"Bearer {issued.json()['key']}"}
    asked = {"person_id": "P1", "offer_id": 1}
    refused = client.post("/v1/decisions?offer=2", json=asked, headers=key)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "offer"
    assert client.post("/v1/decisions", json=asked, headers=key).status_code == 404


def test_batches_of_payments_and_court_rows_have_the_batch_cap() -> None:
    # 10,000 payments of a few hundred bytes each never fit the small cap.
    assert body_cap("/v1/admin/payments") == MAX_EVENTS_BODY_BYTES
    assert body_cap("/v1/admin/court-list") == MAX_EVENTS_BODY_BYTES
