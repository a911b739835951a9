"""Rate limits and probing over HTTP, on a copy of the scored population on SQLite and on
PostgreSQL: 429 problem details with Retry-After on both ways a decision is answered and on
reports, the issue's probing attack stopped and flagged in the person's access log (the API
route and the web page), and a partner's attempt without consent left for the person to see
while the partner is told what it is told about nobody."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.domain.errors import ConfigurationError
from kaimen.sharing import consenting, offering, partnering
from kaimen.sharing.authentication import issue_person_token
from kaimen.sharing.signing_in import issue_sign_in_code
from kaimen.store.tables import access_log, decisions, score_snapshots
from tests.population import LAST, Population

ADMIN = "an-admin-token-of-some-length"
PARTNER = "probe-lender"
LOWEST, STEP, OFFERS = 350, 12, 51
PROBLEM = "application/problem+json"


@dataclasses.dataclass
class Site:
    engine: Engine
    app: Any
    client: TestClient
    people: list[str]
    partner: dict[str, str]
    offers: list[tuple[int, int]]

    def person(self, person_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_person_token(self.engine, person_id)}"}

    def consent(self, person_id: str, purpose: str = "decision") -> None:
        request = consenting.ConsentRequest(PARTNER, purpose)
        consenting.grant_consent(self.engine, person_id, request, "person", _now())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def site(scored_copy: Population) -> Iterator[Site]:
    # The defaults, but for a per-key limit a test can reach.
    settings = Settings(
        home=scored_copy.home,
        admin_token=ADMIN,
        database_url=scored_copy.url,
        rate_limit_per_key="400/minute",
    )
    app = create_app(settings)
    engine = app.state.workspace.engine
    with engine.connect() as store:
        people = [
            str(person)
            for person in store.execute(
                select(score_snapshots.c.person_id)
                .where(score_snapshots.c.month == LAST, score_snapshots.c.score.between(520, 800))
                .order_by(score_snapshots.c.person_id)
                .limit(20)
            ).scalars()
        ]
    partnering.add_partner(engine, PARTNER, "Probe Lender", "admin")
    key = partnering.issue_key(engine, PARTNER, ["decisions", "reports"], "admin").secret
    offers = []
    for index in range(OFFERS):
        minimum = LOWEST + STEP * index
        terms = offering.OfferTerms(f"Loan {minimum}", "a loan", minimum)
        offers.append((offering.publish_offer(engine, PARTNER, terms, "admin").offer_id, minimum))
    with TestClient(app) as client:
        yield Site(engine, app, client, people, {"Authorization": f"Bearer {key}"}, offers)
    engine.dispose()


def _decide(site: Site, person_id: str, offer_id: int, documented: bool = False) -> Any:
    # A charset in the content type: the documented route answers, not the fast path.
    content_type = "application/json; charset=utf-8" if documented else "application/json"
    return site.client.post(
        "/v1/decisions",
        json={"person_id": person_id, "offer_id": offer_id},
        headers={**site.partner, "content-type": content_type},
    )


def _is_429(response: Any) -> bool:
    if response.status_code != 429:
        return False
    body = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) == body["retry_after"] >= 1
    assert body["status"] == 429
    assert body["type"] == "urn:kaimen:problem:rate-limited"
    return True


@pytest.mark.parametrize("documented", [False, True], ids=["fast-path", "documented"])
def test_the_probing_attack_is_stopped_and_the_person_sees_it(site: Site, documented: bool) -> None:
    person = site.people[0 if documented else 1]
    site.consent(person)
    answers: list[tuple[int, bool]] = []
    stopped = 0
    for offer_id, minimum in site.offers:
        response = _decide(site, person, offer_id, documented)
        if _is_429(response):
            stopped += 1
            continue
        assert response.status_code == 200, response.text
        answers.append((minimum, response.json()["approved"]))
    assert (len(answers), stopped) == (4, OFFERS - 4)
    approved = [m for m, yes in answers if yes]
    declined = [m for m, yes in answers if not yes]
    # Where the score lies, as far as the partner can tell: nowhere near 12 points.
    assert min(declined, default=950) - max(approved, default=350) > 10 * STEP
    log = site.client.get("/v1/me/access-log", headers=site.person(person)).json()
    flags = [entry["flag"] for entry in log]
    assert flags.count("probing") == 3
    assert "refused: probing limit" in flags


def test_the_web_page_lists_the_flags(site: Site) -> None:
    person = site.people[2]
    site.consent(person)
    for offer_id, _ in site.offers[:6]:
        _decide(site, person, offer_id)
    _decide(site, site.people[3], site.offers[0][0])  # no consent for this one
    for person_id, words, chinese in (
        (person, ["Possible probing", "asked at too many different thresholds"], "疑似试探"),
        (site.people[3], ["you have not given this partner consent"], "您未授权该合作方"),
    ):
        assert all(said in _access_log_page(site, person_id, "en") for said in words)
        assert chinese in _access_log_page(site, person_id, "zh-Hans")


def _access_log_page(site: Site, person_id: str, language: str) -> str:
    """The person's access-log page in the web app, signed in with a one-time code."""
    browser = TestClient(site.app)
    browser.cookies.set("kaimen_lang", language)
    code = issue_sign_in_code(site.engine, person_id, "cli").code
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/sign-in").text)
    assert csrf
    signed_in = browser.post(
        "/sign-in/code", data={"code": code, "csrf_token": csrf.group(1)}, follow_redirects=False
    )
    assert signed_in.headers["location"] == "/me"
    return browser.get("/me/access-log").text


def test_no_consent_is_answered_as_nobody_and_logged_for_the_person(site: Site) -> None:
    person = site.people[4]
    offer_id = site.offers[0][0]
    refused = _decide(site, person, offer_id)
    nobody = _decide(site, "S-no-such-person", offer_id)
    assert (refused.status_code, refused.json()) == (404, nobody.json())
    [entry] = site.client.get("/v1/me/access-log", headers=site.person(person)).json()
    assert entry["flag"] == "refused: no consent"
    assert entry["actor"] == f"partner:{PARTNER}"
    assert entry["disclosed"] == {"status": 404, "detail": nobody.json()["detail"]}
    report = site.client.post(
        "/v1/reports", json={"person_id": person, "purpose": "a lease"}, headers=site.partner
    )
    assert report.status_code == 404
    log = site.client.get("/v1/me/access-log", headers=site.person(person)).json()
    assert [(e["what"], e["flag"]) for e in log] == [
        ("report", "refused: no consent"),
        ("decision", "refused: no consent"),
    ]


def test_per_person_limits_answer_429_with_retry_after(site: Site) -> None:
    person = site.people[5]
    site.consent(person)
    site.consent(person, "report")
    offer_id = site.offers[0][0]
    statuses = [_decide(site, person, offer_id).status_code for _ in range(10)]
    assert statuses == [200] * 10
    assert _is_429(_decide(site, person, offer_id))
    assert _is_429(_decide(site, person, offer_id, documented=True))
    reports = [
        site.client.post(
            "/v1/reports", json={"person_id": person, "purpose": "a lease"}, headers=site.partner
        )
        for _ in range(11)
    ]
    assert [r.status_code for r in reports[:10]] == [200] * 10
    assert _is_429(reports[10])


def test_429_is_documented_with_retry_after(site: Site) -> None:
    document = site.client.get("/openapi.json").json()
    for path in ("/v1/decisions", "/v1/reports"):
        answer = document["paths"][path]["post"]["responses"]["429"]
        assert "Retry-After" in answer["headers"]


def test_a_bad_limit_stops_the_server_before_it_starts(scored_copy: Population) -> None:
    settings = Settings(
        home=scored_copy.home,
        admin_token=ADMIN,
        database_url=scored_copy.url,
        rate_limit_probing="three a month",
    )
    with pytest.raises(ConfigurationError, match="rate string"):
        create_app(settings)


def test_limits_that_cannot_be_counted_refuse_with_503_and_write_nothing(
    site: Site, scored_copy: Population
) -> None:
    """Limits counted in a Redis nobody answers at: each decision and report is refused as
    unavailable for now (503, Retry-After), with nothing stored, rather than answered
    uncounted (the limits are what stops probing) or failing with a 500."""
    settings = Settings(
        home=scored_copy.home,
        admin_token=ADMIN,
        database_url=scored_copy.url,
        rate_limit_storage="redis://127.0.0.1:1/0",  # nothing listens on port 1
    )
    app = create_app(settings)
    person = site.people[12]
    site.consent(person)
    site.consent(person, "report")
    before = _rows(site.engine)
    offer_id = site.offers[10][0]
    with TestClient(app, raise_server_exceptions=False) as client:
        asked = [
            client.post(
                "/v1/decisions",
                json={"person_id": person, "offer_id": offer_id},
                headers={**site.partner, "content-type": content_type},
            )
            for content_type in ("application/json", "application/json; charset=utf-8")
        ]
        asked.append(
            client.post(
                "/v1/reports", json={"person_id": person, "purpose": "a flat"}, headers=site.partner
            )
        )
    app.state.workspace.engine.dispose()
    for response in asked:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == PROBLEM
        assert int(response.headers["retry-after"]) >= 1
        body = response.json()
        assert body["type"] == "urn:kaimen:problem:limits-unavailable"
        assert body["detail"].startswith("the rate limits cannot be counted right now")
    assert _rows(site.engine) == before


def _rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as store:
        return (
            store.execute(select(func.count()).select_from(decisions)).scalar_one(),
            store.execute(select(func.count()).select_from(access_log)).scalar_one(),
        )
