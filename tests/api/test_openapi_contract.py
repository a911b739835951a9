"""Schemathesis over the OpenAPI document, as the admin, as a partner (a key of every
scope, the person's consent given, live offers) and as the person (their own token), on a
scored population: every check, a bounded number of examples, no failure."""

from __future__ import annotations

import base64
import dataclasses
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.domain.callers import SCOPES
from kaimen.store import partners, person_tokens
from kaimen.store.tables import score_snapshots
from tests.conftest import NOW
from tests.population import LAST, Population, Populations

# The key the population's identities were encrypted with (`tests.population.VAULT`).
VAULT_KEY = bytes(range(32))

ADMIN = "an-admin-token-of-some-length"
PARTNER = "car-rental"


@dataclasses.dataclass(frozen=True)
class Seeded:
    app: FastAPI
    headers: dict[str, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A parameter, if only one: schemathesis names each operation's test after it (without one,
# the operations' tests share a name and pytest-xdist runs one of them).
@pytest.fixture(scope="module", params=["sqlite"])
def scored_sqlite(populations: Populations, request: pytest.FixtureRequest) -> Iterator[Population]:
    """The scored population's own copy, on SQLite alone: schemathesis over both backends
    would double its time, and every route's SQL runs on PostgreSQL in the other API tests."""
    with populations.copy("scored", request.param) as population:
        yield population


@pytest.fixture(scope="module")
def seeded(scored_sqlite: Population) -> Iterator[Seeded]:
    scored_copy = scored_sqlite
    w = scored_copy.open()
    with w.engine.begin() as store:
        person_id = store.execute(
            select(score_snapshots.c.person_id)
            .where(score_snapshots.c.month == LAST)
            .order_by(score_snapshots.c.person_id)
            .limit(1)
        ).scalar_one()
        token = person_tokens.issue(store, person_id, NOW)
        partners.add(store, PARTNER, "Car Rental Ltd", NOW)
        _, key = partners.issue_key(store, PARTNER, list(SCOPES), NOW)
    w.engine.dispose()
    settings_ = Settings(
        home=scored_copy.home,
        admin_token=ADMIN,
        database_url=scored_copy.url,
        secret_key=base64.b64encode(VAULT_KEY).decode(),
    )
    app = create_app(settings_)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        for min_score in (350, 600, 900):
            offered = client.post(
                "/v1/offers",
                json={"name": f"from {min_score}", "purpose": "car rental", "min_score": min_score},
                headers=_bearer(key),
            )
            assert offered.status_code == 201, offered.text
        for purpose in ("decision", "report", "feedback"):
            given = client.post(
                "/v1/me/consents",
                json={
                    "partner_id": PARTNER,
                    "purpose": purpose,
                    "share_score": purpose == "decision",
                },
                headers=_bearer(token),
            )
            assert given.status_code == 201, given.text
    SERVED.app = app
    yield Seeded(
        app,
        {"admin": _bearer(ADMIN), "partner": _bearer(key), "person": _bearer(token)},
    )
    app.state.workspace.engine.dispose()


def _document() -> dict[str, Any]:
    """The OpenAPI document, from an app over an empty store: the document does not depend
    on what the store holds, and pytest needs its operations before any fixture runs."""
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home), admin_token=ADMIN))
        try:
            return app.openapi()
        finally:
            app.state.workspace.engine.dispose()


class _Seeded:
    """The app the cases are sent to: the module's seeded app, on each backend in turn
    (the schema, and so the tests, exist before any fixture has run)."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the seeded fixture sets the app"
        await self.app(scope, receive, send)


SERVED = _Seeded()
# Rules beyond what a JSON Schema can state, each refused with the operation's documented
# 422: a schema-valid request may meet one of them, so 422 is an acceptable answer to it.
RULES_BEYOND_THE_SCHEMA = {
    # The event rules: a currency needs an amount, a blank court, an event before the
    # person was born, a paid fine for an unknown case...
    "/v1/events": "event rules",
    "/v1/admin/payments": "payment rules",
    # A national ID's check character and date of birth, a phone number's plan.
    "/v1/people": "identity checks",
    # The champion card uses some of the characteristics a what-if may name.
    "/v1/people/{person_id}/whatif": "the card's characteristics",
    # An expiry in the future and within ten years; a shared score on a decision only.
    "/v1/me/consents": "consent terms",
    # Evidence is base64 and one of a few file types; an answer and its correction agree.
    "/v1/me/disputes": "dispute rules",
    "/v1/admin/people/{person_id}/disputes": "dispute rules",
    "/v1/disputes/{dispute_id}/answer": "dispute answers",
    "/v1/admin/disputes/{dispute_id}/answer": "dispute answers",
    "/v1/me/disputes/{dispute_id}/information": "dispute rules",
    # A webhook URL's scheme and host.
    "/v1/admin/webhooks/{recipient}": "webhook URLs",
    # Court-list rows are checked one by one, as a file's are, naming line and field.
    "/v1/admin/court-list": "court-list rows",
    # A repaid loan needs its paid date, and the like (the event rules again).
    "/v1/feedback": "event rules",
    # Exactly one of person_id and national_id.
    "/v1/restrictions/check": "who is asked about",
    # Text a person reads may hold no control or invisible formatting characters, nor be
    # only blanks (`domain.text.readable_problem`).
    "/v1/partners": "readable text",
    "/v1/offers": "readable text; no connections minimum",
    "/v1/reports": "readable text",
    "/v1/admin/links/{link_id}/undo": "readable text",
    "/v1/admin/payments/{payment_id}/reject": "readable text",
    "/v1/admin/court-list/{listing_id}/objection": "readable text",
}
CONFIG = SchemathesisConfig.from_dict(
    {
        # A body over the cap is refused before it is read (413): a rejection too.
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                    "5xx",
                ]
            }
        },
        "operations": [
            # The events batch's schema is a union of every kind's fields: the coverage phase
            # alone tries thousands of its variants (over a minute). Its rules have their own
            # tests (test_events_api, test_hostile_input).
            {"include-path": "/v1/events", "phases": {"coverage": {"enabled": False}}},
            *(
                {
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                "2xx",
                                "3xx",
                                "401",
                                "403",
                                "404",
                                "409",
                                "422",
                                "429",
                                "5xx",
                            ]
                        }
                    },
                }
                for path in RULES_BEYOND_THE_SCHEMA
            ),
        ],
    }
)
DOCUMENT = _document()


def _schema(routes: str) -> schemathesis.BaseSchema:
    """Schemathesis over the operations at paths matching `routes`."""
    paths = {p: o for p, o in DOCUMENT["paths"].items() if re.match(routes, p)}
    loaded = schemathesis.openapi.from_dict({**DOCUMENT, "paths": paths}, config=CONFIG)
    loaded.app = SERVED
    return loaded


def _conforms(case: Case, seeded: Seeded, role: str) -> None:
    case.call_and_validate(headers=seeded.headers[role])


# Few examples, the same ones every run: a failure in CI is a failure on a laptop.
EXAMPLES = settings(
    max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
# Each caller over the routes meant for it (every other route refuses it before reading the
# request; `test_doors` holds each route to its callers).
PERSON_ROUTES = r"^/v1/(me/|people/\{person_id\}/)"
PARTNER_ROUTES = r"^/v1/(decisions|offers|reports|feedback|events|restrictions/|points/|disputes/)"
ADMIN_ROUTES = r"^/(v1/(people|partners|keys|admin/|events)|healthz|readyz|metrics)"


@_schema(ADMIN_ROUTES).parametrize()
@EXAMPLES
def test_the_api_answers_the_admin_as_documented(case: Case, seeded: Seeded) -> None:
    _conforms(case, seeded, "admin")


@_schema(PARTNER_ROUTES).parametrize()
@EXAMPLES
def test_the_api_answers_a_partner_as_documented(case: Case, seeded: Seeded) -> None:
    _conforms(case, seeded, "partner")


@_schema(PERSON_ROUTES).parametrize()
@EXAMPLES
def test_the_api_answers_the_person_as_documented(case: Case, seeded: Seeded) -> None:
    _conforms(case, seeded, "person")
