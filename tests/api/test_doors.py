"""Partners, keys, consent, offers, decisions and the access log, over HTTP, on SQLite and
PostgreSQL, against a simulated, trained and scored population."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kaimen.api.app import create_app
from kaimen.api.decision_routes import DecisionOut
from kaimen.config import Settings
from kaimen.domain import profiles
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_one
from kaimen.model.scorecard import Scorecard, reasons
from kaimen.scoring import way_up
from kaimen.store import consents, partners, person_tokens
from kaimen.store.tables import (
    api_keys,
    decisions,
    offers,
    score_snapshots,
)
from kaimen.store.tables import (
    consents as consents_table,
)
from tests.conftest import NOW, make_national_id
from tests.population import LAST, VAULT, Population

PROFILE = profiles.load()

ADMIN = "an-admin-token-of-some-length"


@dataclasses.dataclass
class Doors:
    engine: Engine
    lake: Path
    client: TestClient
    admin: dict[str, str]
    partner: dict[str, str]  # scopes: decisions
    reporter: dict[str, str]  # scopes: reports (not decisions)
    person_id: str
    person: dict[str, str]
    score: int
    other_id: str


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def doors(scored_copy: Population) -> Iterator[Doors]:
    home, url = scored_copy.home, scored_copy.url
    w = scored_copy.open()
    with w.engine.begin() as store:
        rows = store.execute(
            select(score_snapshots.c.person_id, score_snapshots.c.score)
            .where(score_snapshots.c.month == LAST, score_snapshots.c.score.between(500, 900))
            .order_by(score_snapshots.c.person_id)
        ).all()
        (person_id, score), (other_id, _) = rows[0], rows[1]
        token = person_tokens.issue(store, person_id, NOW)
        partners.add(store, "car-rental", "Car Rental Ltd", NOW)
        _, partner_key = partners.issue_key(store, "car-rental", ["decisions", "feedback"], NOW)
        partners.add(store, "credit-bureau", "Credit Bureau", NOW)
        _, reporter_key = partners.issue_key(store, "credit-bureau", ["reports"], NOW)
    # These tests ask about one person at many thresholds on purpose: limits out of reach
    # (tests/api/test_rate_limits.py holds the defaults).
    settings = Settings(
        home=home,
        admin_token=ADMIN,
        database_url=url,
        rate_limit_per_person="100000/minute",
        rate_limit_probing="100000/minute",
    )
    client = TestClient(create_app(settings))
    yield Doors(
        w.engine,
        w.lake,
        client,
        _bearer(ADMIN),
        _bearer(partner_key),
        _bearer(reporter_key),
        person_id,
        _bearer(token),
        score,
        other_id,
    )
    w.engine.dispose()


def _offer(d: Doors, min_score: int, **extra: Any) -> int:
    response = d.client.post(
        "/v1/offers",
        json={
            "name": f"deposit waived from {min_score}",
            "purpose": "car rental",
            "min_score": min_score,
            **extra,
        },
        headers=d.partner,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["offer_id"])


def _consent(d: Doors, purpose: str = "decision", **extra: Any) -> int:
    response = d.client.post(
        "/v1/me/consents",
        json={"partner_id": "car-rental", "purpose": purpose, **extra},
        headers=d.person,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["consent_id"])


def _decide(d: Doors, offer_id: int, person_id: str | None = None) -> Any:
    return d.client.post(
        "/v1/decisions",
        json={"person_id": person_id or d.person_id, "offer_id": offer_id},
        headers=d.partner,
    )


def _revoke_all(d: Doors) -> None:
    for consent in d.client.get("/v1/me/consents", headers=d.person).json():
        if consent["live"]:
            d.client.delete(f"/v1/me/consents/{consent['consent_id']}", headers=d.person)


def test_a_decision_needs_live_consent_for_that_purpose(doors: Doors) -> None:
    d = doors
    _revoke_all(d)
    offer_id = _offer(d, 600)
    unknown = _decide(d, offer_id, "nobody-at-all")
    assert unknown.status_code == 404
    # No consent yet: exactly the answer an unknown person gets.
    before = _decide(d, offer_id)
    assert (before.status_code, before.json()["detail"]) == (404, unknown.json()["detail"])
    # Consent for another purpose does not open decisions.
    _consent(d, "report")
    assert _decide(d, offer_id).status_code == 404
    consent_id = _consent(d, "decision")
    assert _decide(d, offer_id).status_code == 200
    # Revocation works for the very next request.
    assert d.client.delete(f"/v1/me/consents/{consent_id}", headers=d.person).is_success
    assert _decide(d, offer_id).status_code == 404
    # An expired consent is no consent.
    with d.engine.begin() as store:
        consents.grant(
            store,
            d.person_id,
            "car-rental",
            "decision",
            now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        )
    assert _decide(d, offer_id).status_code == 404
    # Consent given to one partner is not consent for another.
    with d.engine.begin() as store:
        consents.grant(store, d.person_id, "credit-bureau", "decision", dt.datetime.now(dt.UTC))
    assert _decide(d, offer_id).status_code == 404
    with d.engine.connect() as store:
        stored = store.execute(
            select(func.count()).select_from(decisions).where(decisions.c.person_id == d.person_id)
        ).scalar_one()
    assert stored >= 1


def test_a_decision_answers_alike_whichever_way_its_body_is_read(doors: Doors) -> None:
    """A plain `application/json` body takes the short way (`DecisionFastPath`), any other
    JSON content type (with a charset) FastAPI's documented one: the same status, the same
    fields in the same order, the very bytes pydantic writes for `DecisionOut`, and a decision
    row and an access-log row each."""
    d = doors
    _revoke_all(d)
    offer_id = _offer(d, 600)
    _consent(d, "decision", share_score=True)
    body = json.dumps({"person_id": d.person_id, "offer_id": offer_id}).encode()
    with d.engine.connect() as store:
        before = store.execute(select(func.count()).select_from(decisions)).scalar_one()
    answers = [
        d.client.post(
            "/v1/decisions", content=body, headers={**d.partner, "content-type": content_type}
        )
        for content_type in ("application/json", "application/json; charset=utf-8")
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.headers["content-type"] for a in answers] == ["application/json"] * 2
    for answer in answers:  # written without the model, to the byte as the model writes it
        model = DecisionOut.model_validate_json(answer.content)
        assert answer.content == model.model_dump_json().encode()
        assert all(r.points is not None for r in model.reasons)
    short, documented = (a.json() for a in answers)
    assert list(short) == list(documented) == list(DecisionOut.model_fields)
    assert short["decision_id"] != documented["decision_id"]
    for name in ("offer_id", "approved", "reasons", "unmet", "score", "points_short"):
        assert short[name] == documented[name], name
    assert short["score"] is not None
    with d.engine.connect() as store:
        after = store.execute(select(func.count()).select_from(decisions)).scalar_one()
    assert after == before + 2


def test_the_decision_route_is_documented_as_declared(doors: Doors) -> None:
    """The short way (`DecisionFastPath`) changes nothing in the OpenAPI document: the body is
    `DecisionIn`, the answer `DecisionOut`, the refusals problem details, and the
    credentials the bearer scheme."""
    document = doors.client.get("/openapi.json").json()
    operation = document["paths"]["/v1/decisions"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DecisionIn"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/DecisionOut"}
    for status in ("401", "403", "404", "422"):
        refusal = operation["responses"][status]["content"]["application/problem+json"]
        assert refusal["schema"] == {"$ref": "#/components/schemas/Problem"}, status
    assert "parameters" not in operation
    assert operation["security"] == [{"bearer": []}]


def test_decisions_at_just_below_and_above_the_threshold(doors: Doors) -> None:
    d = doors
    _revoke_all(d)
    _consent(d, "decision", share_score=True)
    at = _decide(d, _offer(d, d.score)).json()
    assert (at["approved"], at["points_short"], at["reasons"], at["unmet"]) == (True, 0, [], [])
    above = _decide(d, _offer(d, d.score - 1)).json()
    assert above["approved"] and above["score"] == d.score
    below = _decide(d, _offer(d, d.score + 1)).json()
    assert not below["approved"] and below["points_short"] == 1
    assert below["score"] == d.score
    # One point short: the single characteristic that costs the most explains it.
    assert len(below["reasons"]) == 1 and below["reasons"][0]["points"] >= 1
    assert "score too low" not in below["reasons"][0]["text"]


def test_reasons_are_the_cards_reasons_against_the_offer(doors: Doors) -> None:
    d = doors
    _revoke_all(d)
    _consent(d, "decision", share_score=True)
    begin = way_up.start(d.engine, ibis_connection(), d.lake, PROFILE, d.person_id)
    assert isinstance(begin.card, Scorecard)
    features = {k: [float("nan") if v is None else v] for k, v in begin.values.items()}
    for threshold in (d.score + 1, d.score + 40, min(950, d.score + 150), 950):
        decision = _decide(d, _offer(d, threshold)).json()
        expected = reasons(begin.card, features, threshold=threshold)[0]  # type: ignore[arg-type]
        assert [r["points"] for r in decision["reasons"]] == [lost for _, lost in expected]
        assert decision["points_short"] == threshold - d.score


def test_the_partner_sees_no_score_without_consent_to_share_it(doors: Doors) -> None:
    d = doors
    _revoke_all(d)
    _consent(d, "decision")
    below = _decide(d, _offer(d, min(950, d.score + 30))).json()
    assert below["score"] is None and below["points_short"] is None
    assert below["reasons"] and all(r["points"] is None for r in below["reasons"])
    # The person sees everything about the same decision.
    mine = d.client.get("/v1/me/decisions", headers=d.person).json()
    same = next(m for m in mine if m["decision_id"] == below["decision_id"])
    assert same["score"] == d.score and same["points_short"] == min(950, d.score + 30) - d.score


def test_band_and_dimension_minimums(doors: Doors) -> None:
    d = doors
    _revoke_all(d)
    _consent(d, "decision")
    excellent = _decide(d, _offer(d, 350, min_band="excellent")).json()
    assert not excellent["approved"] or d.score >= 750
    strict = _decide(d, _offer(d, 350, min_dimensions={"credit_history": 101 - 1})).json()
    with d.engine.connect() as store:
        history = store.execute(
            select(score_snapshots.c.credit_history).where(
                score_snapshots.c.person_id == d.person_id, score_snapshots.c.month == LAST
            )
        ).scalar_one()
    assert strict["approved"] == (history >= 100)
    bad = d.client.post(
        "/v1/offers",
        json={"name": "x", "purpose": "y", "min_score": 600, "min_dimensions": {"shoe": 1}},
        headers=d.partner,
    )
    # Refused by the schema, which names the dimensions an offer may require.
    assert bad.status_code == 422 and "'credit_history'" in bad.text
    assert (
        d.client.post(
            "/v1/offers",
            json={"name": "x", "purpose": "y", "min_score": 349},
            headers=d.partner,
        ).status_code
        == 422
    )


def test_the_access_log_shows_every_read_by_others(doors: Doors) -> None:
    d = doors
    _revoke_all(d)
    _consent(d, "decision")
    before = len(d.client.get("/v1/me/access-log", headers=d.person).json())
    # The person's own reads are not logged; the admin's and the partner's are.
    assert d.client.get(f"/v1/people/{d.person_id}/score", headers=d.person).is_success
    assert d.client.get(f"/v1/people/{d.person_id}/score", headers=d.admin).is_success
    assert d.client.get(f"/v1/people/{d.person_id}/whatif?target=900", headers=d.admin).is_success
    decision = _decide(d, _offer(d, 650)).json()
    log = d.client.get("/v1/me/access-log", headers=d.person).json()
    assert len(log) == before + 3
    newest = log[0]
    assert newest["actor"] == "partner:car-rental" and newest["what"] == "decision"
    assert newest["purpose"] == "decision: car rental"
    assert newest["disclosed"]["approved"] == decision["approved"]
    assert "score" not in newest["disclosed"]
    assert [entry["what"] for entry in log[1:3]] == ["whatif", "score"]
    assert all(entry["actor"] == "admin" for entry in log[1:3])
    # The log holds everything the reader was shown, not a summary of it.
    score_read, whatif_read = log[2]["disclosed"], log[1]["disclosed"]
    assert {"score", "band", "dimensions", "reasons", "history"} <= set(score_read)
    assert {"score", "target", "changes", "new_score", "reachable"} <= set(whatif_read)
    assert newest["disclosed"]["decision_id"] == decision["decision_id"]
    # Someone else's log is not theirs to read.
    assert d.client.get("/v1/me/access-log", headers=d.admin).status_code == 403
    assert d.client.get("/v1/me/access-log", headers=d.partner).status_code == 403
    assert d.client.get("/v1/me/access-log").status_code == 401


def test_keys_are_shown_once_stored_hashed_and_revocable(doors: Doors) -> None:
    d = doors
    created = d.client.post(
        "/v1/partners", json={"partner_id": "hotel-one", "name": "Hotel"}, headers=d.admin
    )
    assert created.status_code == 201, created.text
    again = d.client.post(
        "/v1/partners", json={"partner_id": "hotel-one", "name": "Hotel"}, headers=d.admin
    )
    assert again.status_code == 409
    issued = d.client.post(
        "/v1/partners/hotel-one/keys", json={"scopes": ["decisions"]}, headers=d.admin
    )
    assert issued.status_code == 201
    key, key_id = issued.json()["key"], issued.json()["key_id"]
    with d.engine.connect() as store:
        stored = store.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()
    # The secret is everything after the key id (it may itself hold underscores).
    secret = key.split(f"_{key_id}_", 1)[1]
    assert len(secret) >= 40
    assert secret not in str(tuple(stored))
    listed = d.client.get("/v1/partners/hotel-one/keys", headers=d.admin).json()
    assert [k["key_id"] for k in listed] == [key_id] and "key" not in listed[0]
    assert d.client.get("/v1/offers", headers=_bearer(key)).status_code == 200
    assert d.client.delete(f"/v1/keys/{key_id}", headers=d.admin).status_code == 200
    assert d.client.get("/v1/offers", headers=_bearer(key)).status_code == 401
    assert d.client.delete(f"/v1/keys/{key_id}", headers=d.admin).status_code == 409
    bad_scope = d.client.post(
        "/v1/partners/hotel-one/keys", json={"scopes": ["scores"]}, headers=d.admin
    )
    # Refused by the schema, which names the scopes there are.
    assert bad_scope.status_code == 422 and "'restrictions'" in bad_scope.text
    assert (
        d.client.post(
            "/v1/partners", json={"partner_id": "Bad Id!", "name": "x"}, headers=d.admin
        ).status_code
        == 422
    )


def _dump(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as store:
        return tuple(
            sorted(map(tuple, store.execute(select(table)).all()), key=repr)
            for table in (score_snapshots, consents_table, offers, decisions)
        )


def test_a_partner_cannot_write_a_score_a_band_or_a_consent(doors: Doors) -> None:
    d = doors
    before = _dump(d.engine)
    me = d.person_id
    attempts = [
        ("post", "/v1/me/consents", {"partner_id": "car-rental", "purpose": "decision"}),
        ("delete", "/v1/me/consents/1", None),
        ("post", "/v1/decisions", {"person_id": me, "offer_id": 1, "score": 950}),
        ("post", "/v1/decisions", {"person_id": me, "offer_id": 1, "band": "excellent"}),
        ("post", "/v1/offers", {"name": "x", "purpose": "y", "min_score": 600, "score": 950}),
        ("put", f"/v1/people/{me}/score", {"score": 950, "band": "excellent"}),
        ("post", f"/v1/people/{me}/score", {"score": 950}),
        ("patch", f"/v1/people/{me}/score", {"band": "excellent"}),
        ("post", "/v1/people", {"phone": "13800138000", "national_id": "x"}),
    ]
    for method, path, body in attempts:
        response = d.client.request(method, path, json=body, headers=d.partner)
        assert response.status_code in (403, 405, 422), (method, path, response.status_code)
    assert _dump(d.engine) == before


ROLES = ("none", "admin", "partner", "reporter", "person")
# Who may call each endpoint. A new endpoint fails this test until it is listed here.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): set(ROLES),
    ("POST", "/v1/events"): {"admin"},
    ("POST", "/v1/people"): {"admin"},
    ("GET", "/v1/people/{person_id}/score"): {"admin", "person"},
    ("GET", "/v1/people/{person_id}/whatif"): {"admin", "person"},
    ("POST", "/v1/people/{person_id}/whatif"): {"admin", "person"},
    ("POST", "/v1/partners"): {"admin"},
    ("GET", "/v1/partners"): {"admin"},
    ("POST", "/v1/partners/{partner_id}/keys"): {"admin"},
    ("GET", "/v1/partners/{partner_id}/keys"): {"admin"},
    ("DELETE", "/v1/keys/{key_id}"): {"admin"},
    ("POST", "/v1/offers"): {"partner"},
    ("GET", "/v1/offers"): {"partner"},
    ("DELETE", "/v1/offers/{offer_id}"): {"partner"},
    ("POST", "/v1/decisions"): {"partner"},
    ("GET", "/v1/me/consents"): {"person"},
    ("POST", "/v1/me/consents"): {"person"},
    ("DELETE", "/v1/me/consents/{consent_id}"): {"person"},
    ("GET", "/v1/me/access-log"): {"person"},
    ("GET", "/v1/me/decisions"): {"person"},
    ("POST", "/v1/reports"): {"reporter"},
    ("GET", "/v1/me/report"): {"person"},
    ("POST", "/v1/feedback"): {"partner"},
    ("GET", "/v1/me/export"): {"person"},
    ("POST", "/v1/me/opt-out"): {"person"},
    ("GET", "/v1/me/connections"): {"person"},
    ("POST", "/v1/me/connections/opt-in"): {"person"},
    ("POST", "/v1/me/connections/opt-out"): {"person"},
    ("POST", "/v1/me/connections/lend"): {"person"},
    ("POST", "/v1/me/connections/withdraw"): {"person"},
    # Any live credential: see api/audit_routes.py for why.
    ("GET", "/v1/audit/head"): {"admin", "partner", "reporter", "person"},
}


def test_every_endpoint_admits_exactly_its_callers(doors: Doors) -> None:
    d = doors
    headers = {
        "none": {},
        "admin": d.admin,
        "partner": d.partner,
        "reporter": d.reporter,
        "person": d.person,
    }
    routes = {
        (method, route.path)  # type: ignore[attr-defined]
        for route in d.client.app.routes  # type: ignore[attr-defined]
        for method in getattr(route, "methods", set()) - {"HEAD"}
        if route.path.startswith(("/v1", "/healthz"))  # type: ignore[attr-defined]
    }
    unlisted = routes - set(ALLOWED)
    assert not unlisted, f"endpoints without a who-may-call entry: {sorted(unlisted)}"
    # Someone else's person id: a person token must not read it either.
    values = {
        "person_id": d.other_id,
        "partner_id": "car-rental",
        "key_id": "0" * 16,
        "consent_id": "999999",
        "offer_id": "999999",
    }
    for (method, path), allowed in sorted(ALLOWED.items()):
        if (method, path) not in routes:
            continue
        url = path.format(**values)
        if url.endswith("/whatif") and method == "GET":
            url += "?target=900"
        for role in ROLES:
            response = d.client.request(method, url, headers=headers[role], json={})
            if role == "none" and "none" not in allowed:
                assert response.status_code == 401, (method, path, role, response.status_code)
            elif role not in allowed:
                # Anyone but the person (or the admin) asking about a person gets the 404 an
                # unknown person gets: not even whether they exist is disclosed.
                refused = (404,) if "{person_id}" in path else (403,)
                assert response.status_code in refused, (method, path, role, response.text)
            else:
                assert response.status_code not in (401, 403), (method, path, role)


def test_a_person_without_a_score_is_declined_with_the_reason(doors: Doors) -> None:
    d = doors
    offer_id = _offer(d, 550)
    # Enrolled after the month was scored: no snapshot at all.
    newcomer = enrol_one(
        d.engine, VAULT, "+442079460999", make_national_id(sequence="977"), "test", now=NOW
    )
    with d.engine.begin() as store:
        thin = store.execute(
            select(score_snapshots.c.person_id).where(
                score_snapshots.c.month == LAST, score_snapshots.c.thin_file.is_(True)
            )
        ).first()
        candidates = [newcomer] + ([thin.person_id] if thin is not None else [])
        for person_id in candidates:
            consents.grant(store, person_id, "car-rental", "decision", dt.datetime.now(dt.UTC))
    for person_id in candidates:
        answer = _decide(d, offer_id, person_id)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert not body["approved"] and body["reasons"] == []
        assert body["unmet"] == ["too little history to score yet (thin file)"]


def test_what_the_review_found_stays_fixed(doors: Doors) -> None:
    """Each line is a defect a review reproduced: a leak or a 500 on bad input."""
    d = doors
    _revoke_all(d)
    _consent(d, "decision")
    # Sub-scores are the person's to share, like the score: an unmet minimum does not name them.
    strict = _offer(d, 350, min_dimensions={"capacity": 100, "credit_history": 100})
    unmet = _decide(d, strict).json()["unmet"]
    assert unmet and all("below the offer's minimum" in u for u in unmet)
    assert not any(char.isdigit() for u in unmet for char in u.split("minimum of")[0])
    # Bad input gets problem details, never a 500.
    odd = [
        ("post", "/v1/decisions", {"person_id": d.person_id, "offer_id": 1, "²": 1}),
        ("post", "/v1/decisions", {"person_id": d.person_id, "offer_id": 2**63}),
        ("post", "/v1/decisions", {"person_id": "S1\x00", "offer_id": 1}),
        ("post", "/v1/decisions", {"person_id": d.person_id, "offer_id": True}),
        ("delete", f"/v1/offers/{2**70}", None),
    ]
    for method, path, body in odd:
        response = d.client.request(method, path, json=body, headers=d.partner)
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    far = {
        "partner_id": "car-rental",
        "purpose": "report",
        "expires_at": "9999-12-31T23:00:00-05:00",
    }
    assert d.client.post("/v1/me/consents", json=far, headers=d.person).status_code == 422
    nul = {"partner_id": "car\x00rental", "purpose": "report"}
    assert d.client.post("/v1/me/consents", json=nul, headers=d.person).status_code == 422
    assert d.client.delete(f"/v1/me/consents/{2**70}", headers=d.person).status_code == 422
    # Opting out is for ever: only a JSON true confirms it.
    for confirm in (1, "true"):
        refused = d.client.post("/v1/me/opt-out", json={"confirm": confirm}, headers=d.person)
        assert refused.status_code == 422
    assert d.client.get("/v1/me/consents", headers=d.person).status_code == 200
    # A 401 says how to authenticate.
    assert d.client.get("/v1/me/consents").headers["www-authenticate"] == "Bearer"
    # A partner cannot probe a birth date through the event rules: old dates are refused for
    # everyone, before anything about the person is looked at.
    _consent(d, "feedback")
    old = {
        "kind": "loan",
        "person_id": d.person_id,
        "reference": "probe-1",
        "outcome": "defaulted",
        "amount": "100.00",
        "currency": "CNY",
        "due_date": "1990-01-01",
        "occurred_at": "1990-01-02T00:00:00+00:00",
    }
    probe = d.client.post("/v1/feedback", json=old, headers=d.partner)
    assert probe.status_code == 422 and "born" not in probe.text
    assert "partners report the last two years" in probe.text


def test_text_and_size_limits(doors: Doors) -> None:
    d = doors
    # Partner text shown to people must be readable: no hidden or reordering characters.
    for name, purpose in (("Deposit \u202efree", "car rental"), ("Deposit", "\u200b")):
        refused = d.client.post(
            "/v1/offers",
            json={"name": name, "purpose": purpose, "min_score": 600},
            headers=d.partner,
        )
        assert refused.status_code == 422 and "control or invisible" in refused.text
    # Input that is not valid Unicode is refused with problem details, never a 500.
    event = {
        "source": "court-feed",
        "event_id": "j-1",
        "person_id": d.person_id,
        "kind": "court_judgment",
        "occurred_at": "2026-09-01T00:00:00+00:00",
        "case_number": "\ud800",
        "court": "Court",
        "status": "entered",
    }
    # Sent as ASCII JSON with the surrogate escaped, as a client in any language can.
    ascii_json = {"content-type": "application/json"}
    bad = d.client.post(
        "/v1/events",
        content=json.dumps({"events": [event]}).encode(),
        headers={**d.admin, **ascii_json},
    )
    assert bad.status_code == 422 and "not valid Unicode" in bad.text
    odd_key = d.client.post(
        f"/v1/people/{d.person_id}/whatif",
        content=json.dumps({"values": {"\ud800": 1}}).encode(),
        headers={**d.person, **ascii_json},
    )
    assert odd_key.status_code == 422
    # Oversized bodies are refused before they are read; anonymous ones before they are parsed.
    huge = d.client.post(
        "/v1/decisions",
        content=b'{"person_id": "' + b"x" * 70_000 + b'"}',
        headers={**d.partner, "content-type": "application/json"},
    )
    assert huge.status_code == 413
    anonymous = d.client.post(
        "/v1/decisions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


def test_a_decision_key_is_refused_before_its_body_is_judged(doors: Doors) -> None:
    """`POST /v1/decisions` checks the key in the decision's own transaction; a request that
    fails validation still learns nothing before its key is checked, and nothing is written."""
    d = doors
    before = _dump(d.engine)
    unknown = _bearer(f"kmk_{'0' * 16}_{'A' * 43}")
    good = {"person_id": d.person_id, "offer_id": 1}
    for body in (good, {}, {"person_id": d.person_id, "offer_id": "one"}):
        refused = d.client.post("/v1/decisions", json=body, headers=unknown)
        assert refused.status_code == 401, refused.text
        assert (
            refused.json()["detail"] == "the bearer token or API key is not valid (or was revoked)"
        )
        assert refused.headers["www-authenticate"] == "Bearer"
        wrong_scope = d.client.post("/v1/decisions", json=body, headers=d.reporter)
        assert wrong_scope.status_code == 403, wrong_scope.text
        assert wrong_scope.json()["detail"] == "this API key lacks the 'decisions' scope"
        for caller in (d.admin, d.person):
            assert d.client.post("/v1/decisions", json=body, headers=caller).status_code == 403
    invalid = d.client.post("/v1/decisions", json={}, headers=d.partner)
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"person_id", "offer_id"}
    assert _dump(d.engine) == before
