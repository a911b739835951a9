"""Risk reports and partner feedback over HTTP, under consent, on SQLite and PostgreSQL.

One scored world per database: the shared simulated population, plus people made by hand whose
report figures are known exactly (including events just outside the window and events that
were known only after the report month). Report figures are checked against a direct count
over the lake's events, and feedback is followed from the request to the person's features.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kaimen.api import report_routes
from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.domain.events import DEPOSITS, RENTAL_ITEMS
from kaimen.engines.embedded import connect, ibis_connection
from kaimen.enrolment import enrol_one
from kaimen.features.build import build_features
from kaimen.features.summary_build import refresh_summaries
from kaimen.ingest.file_ingest import ingest_file
from kaimen.ingest.inbox_ingest import seal_inbox
from kaimen.lake import reader
from kaimen.scoring.batch import score_month
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.sharing import deciding, feedback, reports
from kaimen.store import access_log, audit, consents, lake_manifest, partners, person_tokens
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import event_inbox, score_snapshots
from tests.conftest import NOW, make_national_id
from tests.population import LAST, Population

ADMIN = "admin-token-for-report-tests-0123456789"
VAULT = IdentityVault(bytes(range(32)))
PROBLEM = "application/problem+json"
LATE_KNOWN = "2026-11-01T06:00:00Z"  # after the report month ends, before the world's NOW


def _event(event_id: str, kind: str, occurred: str, **fields: str) -> dict[str, str]:
    return {
        "source": "craft",
        "event_id": event_id,
        "kind": kind,
        "occurred_at": occurred,
        "recorded_at": fields.pop("recorded_at", occurred),
        **fields,
    }


def _crafted(person_id: str) -> list[dict[str, str]]:
    """Events whose report, as of 2026-10, is known by hand (see test_a_report_by_hand)."""
    money = {"amount": "3000.00", "currency": "CNY"}
    rows = [
        # rent and utilities in the window (2025-11..2026-10): on time, 89 days late, defaulted
        _event(
            "r1",
            "rent_payment",
            "2026-01-03T10:00:00Z",
            due_date="2026-01-05",
            paid_date="2026-01-03",
            status="on_time",
            **money,
        ),
        _event(
            "r2",
            "rent_payment",
            "2026-07-29T10:00:00Z",
            due_date="2026-05-01",
            paid_date="2026-07-29",
            status="late",
            **money,
        ),
        _event(
            "u1",
            "utility_payment",
            "2026-08-10T10:00:00Z",
            due_date="2026-08-10",
            status="defaulted",
            **money,
        ),
        # 106 days late: serious
        _event(
            "l1",
            "loan_repayment",
            "2026-06-15T10:00:00Z",
            due_date="2026-03-01",
            paid_date="2026-06-15",
            status="late",
            **money,
        ),
        # just before the window: not counted
        _event(
            "b0",
            "bill_repayment",
            "2025-10-20T10:00:00Z",
            due_date="2025-10-20",
            status="defaulted",
            **money,
        ),
        _event(
            "u0",
            "utility_payment",
            "2025-10-14T10:00:00Z",
            due_date="2025-10-15",
            paid_date="2025-10-14",
            status="on_time",
            **money,
        ),
        # in the report month but known only after it: not counted (point in time)
        _event(
            "r3",
            "rent_payment",
            "2026-10-19T10:00:00Z",
            due_date="2026-10-20",
            paid_date="2026-10-19",
            status="on_time",
            recorded_at=LATE_KNOWN,
            **money,
        ),
        _event(
            "j3",
            "court_judgment",
            "2026-10-25T10:00:00Z",
            case_number="C-3",
            court="Haidian",
            status="entered",
            recorded_at=LATE_KNOWN,
        ),
        # rentals: one unpaid in the window, one before it
        _event(
            "k1",
            "rental",
            "2026-09-12T10:00:00Z",
            partner="bikes",
            item="bike",
            deposit="waived",
            outcome="unpaid",
        ),
        _event(
            "k0",
            "rental",
            "2025-09-01T10:00:00Z",
            partner="bikes",
            item="bike",
            deposit="waived",
            outcome="unpaid",
        ),
        # fines: two issued, one paid (all time; a paid fine names its case)
        _event(
            "f1",
            "fine",
            "2025-03-01T10:00:00Z",
            status="issued",
            amount="200.00",
            currency="CNY",
            case_number="F-1",
        ),
        _event(
            "f2",
            "fine",
            "2026-02-01T10:00:00Z",
            status="issued",
            amount="200.00",
            currency="CNY",
            case_number="F-2",
        ),
        _event(
            "f3",
            "fine",
            "2026-03-01T10:00:00Z",
            status="paid",
            amount="200.00",
            currency="CNY",
            case_number="F-1",
        ),
        # judgments: two entered, one satisfied (all time)
        _event(
            "j1",
            "court_judgment",
            "2025-06-01T10:00:00Z",
            case_number="C-1",
            court="Haidian",
            status="entered",
        ),
        _event(
            "j2",
            "court_judgment",
            "2026-04-01T10:00:00Z",
            case_number="C-2",
            court="Haidian",
            status="entered",
        ),
        _event(
            "j4",
            "court_judgment",
            "2026-05-01T10:00:00Z",
            case_number="C-1",
            court="Haidian",
            status="satisfied",
        ),
    ]
    return [
        {**row, "event_id": f"{person_id}-{row['event_id']}", "person_id": person_id}
        for row in rows
    ]


@dataclasses.dataclass
class World:
    engine: Engine
    lake: Path
    client: TestClient
    crafted: str  # known figures
    thin: str  # enrolled before the month was scored, no events
    unscored: str  # enrolled after
    simulated: list[str]  # scored people from the simulation
    keys: dict[str, str]
    taken: set[str] = dataclasses.field(default_factory=set)

    def person(self) -> str:
        """A scored simulated person no other test has used (tests share the world)."""
        chosen = next(p for p in self.simulated if p not in self.taken)
        self.taken.add(chosen)
        return chosen

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}


def make_app(home: Path, url: str) -> FastAPI:
    """The real application, as `kaimen serve` builds it."""
    return create_app(Settings(home=home, admin_token=ADMIN, database_url=url))


def _enrol(engine: Engine, number: int) -> str:
    return enrol_one(
        engine,
        VAULT,
        f"+44207946{number:04d}",
        make_national_id("110101", "19850101", f"{900 + number}"),
        "test",
        now=NOW,
    )


def _build(home: Path, url: str) -> World:
    """On the trained population: the people made by hand, then LAST scored."""
    engine = open_store(url)
    lake = home / "lake"
    crafted, thin = _enrol(engine, 1), _enrol(engine, 2)
    craft_file = home / "crafted.jsonl"
    craft_file.write_text("\n".join(json.dumps(r) for r in _crafted(crafted)) + "\n")
    ingest_file(engine, lake, craft_file, "test", now=NOW)
    score_month(engine, ibis_connection(), lake, LAST, "test", now=NOW)
    unscored = _enrol(engine, 3)
    now = dt.datetime.now(dt.UTC)
    keys: dict[str, str] = {}
    with engine.begin() as store:
        for partner_id in ("rentco", "lendco"):
            partners.add(store, partner_id, partner_id.title(), now)
        for name, partner_id, scopes in (
            ("rentco", "rentco", ["reports", "feedback"]),
            ("rentco-events", "rentco", ["events"]),
            ("rentco-decisions", "rentco", ["decisions"]),
            ("lendco", "lendco", ["reports", "feedback"]),
        ):
            keys[name] = partners.issue_key(store, partner_id, scopes, now)[1]
        simulated = list(
            store.execute(
                select(score_snapshots.c.person_id)
                .where(
                    score_snapshots.c.month == LAST,
                    score_snapshots.c.score.is_not(None),
                    score_snapshots.c.person_id.not_in([crafted, thin]),
                )
                .order_by(score_snapshots.c.person_id)
            ).scalars()
        )
    client = TestClient(make_app(home, url))
    return World(engine, lake, client, crafted, thin, unscored, simulated, keys)


@pytest.fixture(scope="module")
def world(trained_copy: Population) -> Iterator[World]:
    w = _build(trained_copy.home, trained_copy.url)
    yield w
    w.engine.dispose()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _grant(w: World, person_id: str, partner_id: str, purpose: str, **kwargs: Any) -> int:
    with w.engine.begin() as store:
        now = kwargs.pop("now", _now())
        return consents.grant(store, person_id, partner_id, purpose, now, **kwargs).consent_id


def _log(w: World, person_id: str) -> list[access_log.Access]:
    with w.engine.connect() as store:
        return access_log.of_person(store, person_id)


def _inbox_rows(w: World) -> int:
    with w.engine.connect() as store:
        return int(store.execute(select(func.count()).select_from(event_inbox)).scalar_one())


def _report(w: World, person_id: str, key: str = "rentco", purpose: str = "tenancy") -> Any:
    return w.client.post(
        "/v1/reports", json={"person_id": person_id, "purpose": purpose}, headers=w.auth(key)
    )


# -- direct counts over the lake, written independently of the summaries ------------------
def _window_start(as_of: str) -> str:
    """The month before the 12-month window ending with as_of: the same month a year back."""
    return f"{int(as_of[:4]) - 1:04d}-{as_of[5:]}"


def _direct(w: World, as_of: str) -> dict[str, dict[str, int]]:
    """Each person's report figures, counted straight from the lake's events."""
    with w.engine.connect() as store:
        files = lake_manifest.files(store)
    duck = connect()
    try:
        lake = reader.events(duck, w.lake, files)
        rows = lake.query(
            "lake",
            f"""
            WITH e AS (
                SELECT *, strftime(occurred_at, '%Y-%m') AS om,
                       strftime(greatest(occurred_at, recorded_at), '%Y-%m') AS km,
                       strftime(occurred_at, '%Y-%m') > '{_window_start(as_of)}' AS recent,
                       kind IN ('rent_payment', 'utility_payment') AS rent_utility,
                       kind IN ('loan_repayment', 'bill_repayment', 'rent_payment',
                                'utility_payment') AS repayment
                FROM lake
            )
            SELECT person_id,
                count(*) FILTER (rent_utility AND status = 'on_time' AND recent),
                count(*) FILTER (rent_utility AND status = 'late' AND recent),
                count(*) FILTER (rent_utility AND status = 'defaulted' AND recent),
                count(*) FILTER (repayment AND status = 'defaulted' AND recent),
                count(*) FILTER (repayment AND status = 'late'
                                 AND paid_date - due_date >= 90 AND recent),
                count(*) FILTER (kind = 'rental' AND outcome = 'unpaid' AND recent),
                greatest(count(*) FILTER (kind = 'fine' AND status = 'issued')
                         - count(*) FILTER (kind = 'fine' AND status = 'paid'), 0),
                greatest(count(*) FILTER (kind = 'court_judgment' AND status = 'entered')
                         - count(*) FILTER (kind = 'court_judgment'
                                            AND status IN ('satisfied', 'overturned')), 0)
            FROM e WHERE om <= '{as_of}' AND km <= '{as_of}'
            GROUP BY person_id
            """,
        )
        assert rows is not None
        names = (
            "on_time",
            "late",
            "defaulted",
            "defaults_12m",
            "late_90_12m",
            "unpaid_rentals_12m",
            "unpaid_fines",
            "open_judgments",
        )
        return {r[0]: dict(zip(names, r[1:], strict=True)) for r in rows.fetchall()}
    finally:
        duck.close()


def _figures(body: dict[str, Any]) -> dict[str, int]:
    rent = body["rent_and_utilities"]
    owed = body["open_delinquencies"]
    return {
        **{k: rent[k] for k in ("on_time", "late", "defaulted")},
        **{
            k: owed[k]
            for k in (
                "defaults_12m",
                "late_90_12m",
                "unpaid_rentals_12m",
                "unpaid_fines",
                "open_judgments",
            )
        },
    }


def test_report_figures_equal_a_direct_count_over_the_lake(world: World) -> None:
    direct = _direct(world, LAST)
    delinquency = ("defaults_12m", "unpaid_rentals_12m", "unpaid_fines", "open_judgments")
    # The people with the most on record, and some with little: every figure is exercised.
    ranked = sorted(
        (p for p in direct if p in world.simulated),
        key=lambda p: (-sum(direct[p][k] for k in delinquency), p),
    )
    sample = [p for p in ranked[:12] + ranked[-6:] if p not in world.taken]
    world.taken.update(sample)
    sample.append(world.crafted)
    for name in (*delinquency, "late", "late_90_12m", "defaulted"):
        assert any(direct[p][name] > 0 for p in sample), f"nothing exercises {name}"
    features = build_features(
        ibis_connection(), summary_paths(world.engine, world.lake), LAST, sample
    ).to_pylist()
    share = {r["person_id"]: r["rent_utility_on_time_share_12m"] for r in features}
    for person_id in sample:
        _grant(world, person_id, "rentco", "report")
        response = _report(world, person_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["as_of"] == LAST
        assert _figures(body) == direct[person_id], person_id
        rent = body["rent_and_utilities"]
        assert rent["due"] == rent["on_time"] + rent["late"] + rent["defaulted"]
        assert rent["on_time_rate"] == (rent["on_time"] / rent["due"] if rent["due"] else None)
        # The same rate the month's score was built from.
        assert rent["on_time_rate"] == pytest.approx(share[person_id], nan_ok=True)
        owed = body["open_delinquencies"]
        assert owed["total"] == sum(direct[person_id][k] for k in (*delinquency, "late_90_12m"))


def test_a_report_by_hand(world: World) -> None:
    """Window edges and late knowledge, with figures worked out by hand."""
    _grant(world, world.crafted, "lendco", "report")
    response = _report(world, world.crafted, key="lendco", purpose="  car loan application ")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["purpose"] == "car loan application"
    assert body["rent_and_utilities"] == {
        "on_time": 1,  # r1; u0 is before the window, r3 known only in November
        "late": 1,  # r2: 89 days late, so not serious
        "defaulted": 1,  # u1
        "due": 3,
        "on_time_rate": 1 / 3,
    }
    owed = body["open_delinquencies"]
    assert {k: v for k, v in owed.items() if k != "definition"} == {
        "defaults_12m": 1,  # u1; b0 is before the window
        "late_90_12m": 1,  # l1: 106 days
        "unpaid_rentals_12m": 1,  # k1; k0 is before the window
        "unpaid_fines": 1,  # f1, f2 issued, f3 paid
        "open_judgments": 1,  # j1 satisfied by j4; j2 open; j3 known only in November
        "total": 5,
    }
    assert "90+" in owed["definition"]
    assert body["court_list"] == [] and "Court listings" in body["court_list_note"]
    assert body["standing"]["month"] == LAST


def test_thin_files_and_unscored_people_say_so(world: World) -> None:
    for person_id in (world.thin, world.unscored):
        _grant(world, person_id, "rentco", "report")
    thin = _report(world, world.thin).json()
    assert thin["standing"] == {
        "status": "thin_file",
        "band": None,
        "month": LAST,
        "note": reports.THIN_FILE_NOTE,
    }
    assert thin["rent_and_utilities"] == {
        "on_time": 0,
        "late": 0,
        "defaulted": 0,
        "due": 0,
        "on_time_rate": None,
    }
    assert thin["open_delinquencies"]["total"] == 0
    unscored = _report(world, world.unscored).json()
    assert unscored["standing"]["status"] == "not_scored" and unscored["standing"]["band"] is None
    scored = world.person()
    _grant(world, scored, "rentco", "report")
    standing = _report(world, scored).json()["standing"]
    with world.engine.connect() as store:
        band = store.execute(
            select(score_snapshots.c.band).where(
                score_snapshots.c.person_id == scored, score_snapshots.c.month == LAST
            )
        ).scalar_one()
    assert standing == {"status": "scored", "band": band, "month": LAST, "note": None}


def test_consent_governs_every_report_and_each_read_is_logged(world: World) -> None:
    person = world.person()
    unknown = _report(world, "S9999-99999999")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM

    def refused() -> None:
        before_log, before_audit = len(_log(world, person)), audit.count(world.engine)
        response = _report(world, person)
        assert response.status_code == 404
        assert response.json() == unknown.json()
        # Nothing read: only the refused attempt, for the person to see.
        log = _log(world, person)
        assert len(log) == before_log + 1
        assert (log[0].what, log[0].flag) == ("report", "refused: no consent")
        assert log[0].disclosed == {"status": 404, "detail": unknown.json()["detail"]}
        assert audit.count(world.engine) == before_audit

    refused()  # no consent at all
    _grant(world, person, "rentco", "decision", share_score=True)
    _grant(world, person, "rentco", "feedback")
    _grant(world, person, "lendco", "report")
    refused()  # consents for other uses, or for another partner, do not count

    consent_id = _grant(world, person, "rentco", "report")
    granted = _report(world, person, purpose="flat on Gulou Street, 12-month lease")
    assert granted.status_code == 200, granted.text
    body = granted.json()
    entry = _log(world, person)[0]
    assert entry.actor == "partner:rentco"
    assert (entry.purpose, entry.what) == ("report", "report")
    disclosed = {k: v for k, v in body.items() if k != "person_id"}
    del disclosed["open_delinquencies"]["definition"]  # a constant, not about the person
    assert {k: v for k, v in entry.disclosed.items() if k != "issued_at"} == {
        k: v for k, v in disclosed.items() if k != "issued_at"
    }
    assert entry.disclosed["purpose"] == "flat on Gulou Street, 12-month lease"

    with world.engine.begin() as store:
        consents.revoke(store, person, consent_id, _now())
    refused()  # revoked

    past = _now() - dt.timedelta(days=2)
    _grant(world, person, "rentco", "report", now=past, expires_at=past + dt.timedelta(days=1))
    refused()  # expired

    _grant(world, person, "rentco", "report", expires_at=_now() + dt.timedelta(days=1))
    assert _report(world, person).status_code == 200
    # One entry per report read (and one per refused attempt, flagged).
    assert len([e for e in _log(world, person) if e.flag is None]) == 2


def test_report_requests_are_checked_before_anything_is_read(world: World) -> None:
    person = world.person()
    _grant(world, person, "rentco", "report")
    with world.engine.begin() as store:
        token = person_tokens.issue(store, person, _now())
    before = len(_log(world, person))
    cases = [
        ({"person_id": person, "purpose": "x", "source": "rentco"}, world.auth("rentco"), 422),
        ({"person_id": person, "purpose": ""}, world.auth("rentco"), 422),
        ({"person_id": person, "purpose": "   "}, world.auth("rentco"), 422),
        ({"person_id": person, "purpose": "x" * 201}, world.auth("rentco"), 422),
        # What the person reads must read as it is: no reordering or hidden characters.
        ({"person_id": person, "purpose": "pay \u202egnp.exe"}, world.auth("rentco"), 422),
        ({"person_id": person, "purpose": "pay \u0085\u009b x"}, world.auth("rentco"), 422),
        ({"person_id": person, "purpose": "pay \u200b x"}, world.auth("rentco"), 422),
        ({"person_id": person}, world.auth("rentco"), 422),
        ({"person_id": person, "purpose": "x"}, {}, 401),
        ({"person_id": person, "purpose": "x"}, {"Authorization": "Bearer kmk_nonsense"}, 401),
        ({"person_id": person, "purpose": "x"}, world.auth("rentco-decisions"), 403),
        ({"person_id": person, "purpose": "x"}, {"Authorization": f"Bearer {token}"}, 403),
        ({"person_id": person, "purpose": "x"}, {"Authorization": f"Bearer {ADMIN}"}, 403),
    ]
    for body, headers, status in cases:
        response = world.client.post("/v1/reports", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    extra = world.client.post("/v1/reports", json=cases[0][0], headers=world.auth("rentco")).json()
    assert [e["field"] for e in extra["errors"]] == ["source"]
    assert len(_log(world, person)) == before
    assert _report(world, person, purpose="x" * 200).status_code == 200


def test_a_person_reads_their_own_report_unlogged(world: World) -> None:
    person = world.person()
    _grant(world, person, "rentco", "report")
    with world.engine.begin() as store:
        token = person_tokens.issue(store, person, _now())
    theirs = _report(world, person).json()
    logged = len(_log(world, person))
    mine = world.client.get("/v1/me/report", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["purpose"] is None and body["person_id"] == person
    same = ("as_of", "standing", "rent_and_utilities", "open_delinquencies")
    assert {k: body[k] for k in same} == {k: theirs[k] for k in same}
    assert len(_log(world, person)) == logged
    assert world.client.get("/v1/me/report", headers=world.auth("rentco")).status_code == 403
    assert world.client.get("/v1/me/report").status_code == 401


def test_a_report_needs_a_published_month(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        person = _enrol(engine, 4)
        with engine.begin() as store:
            partners.add(store, "rentco", "Rentco", _now())
            consents.grant(store, person, "rentco", "report", _now())
        with pytest.raises(reports.NothingPublished, match="published"):
            reports.issue_report(engine, tmp_path / "lake", "rentco", person, "t", "partner:x")
        with engine.connect() as store:
            assert access_log.of_person(store, person) == []
    finally:
        engine.dispose()


# -- feedback -----------------------------------------------------------------------------
def _rental(person_id: str, reference: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "rental",
        "person_id": person_id,
        "reference": reference,
        "outcome": "damaged_unpaid",
        "item": "car",
        "deposit": "paid",
        "occurred_at": (_now() - dt.timedelta(hours=1)).isoformat(),
        "amount": "850.50",
        "currency": "CNY",
        **changes,
    }


def _loan(person_id: str, reference: str, **changes: Any) -> dict[str, Any]:
    today = _now().date()
    return {
        "kind": "loan",
        "person_id": person_id,
        "reference": reference,
        "outcome": "defaulted",
        "amount": 1200,
        "currency": "CNY",
        "due_date": (today - dt.timedelta(days=30)).isoformat(),
        "occurred_at": (_now() - dt.timedelta(hours=1)).isoformat(),
        **changes,
    }


def _send(w: World, body: dict[str, Any], key: str = "rentco") -> Any:
    return w.client.post("/v1/feedback", json=body, headers=w.auth(key))


def _inbox_event(w: World, source: str, event_id: str) -> Any:
    with w.engine.connect() as store:
        return store.execute(
            select(event_inbox).where(
                event_inbox.c.source == source, event_inbox.c.event_id == event_id
            )
        ).first()


def test_feedback_becomes_the_partners_event_and_a_resend_is_a_duplicate(world: World) -> None:
    person = world.person()
    _grant(world, person, "rentco", "feedback")
    body = _rental(person, "RC-2026-000123")
    first = _send(world, body)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert (answer["source"], answer["event_id"]) == ("rentco", "RC-2026-000123")
    assert (answer["kind"], answer["received"]) == ("rental", "new")
    row = _inbox_event(world, "rentco", "RC-2026-000123")
    assert row is not None and row.person_id == person
    assert (row.kind, row.outcome, row.partner) == ("rental", "unpaid", "rentco")
    assert (row.item, row.deposit, row.amount) == ("car", "paid", Decimal("850.50"))
    count = _inbox_rows(world)
    again = _send(world, body)
    assert again.status_code == 202 and again.json()["received"] == "duplicate"
    assert _inbox_rows(world) == count
    changed = _send(world, {**body, "outcome": "returned"})
    assert changed.status_code == 422 and changed.headers["content-type"] == PROBLEM
    assert _inbox_rows(world) == count

    repaid = _loan(person, "LN-7", outcome="repaid", paid_date=_loan(person, "")["due_date"])
    assert _send(world, repaid).json()["event"]["status"] == "on_time"
    late = _loan(person, "LN-8", outcome="repaid", paid_date=_now().date().isoformat())
    assert _send(world, late).json()["event"]["status"] == "late"
    # A default reported before the loan fell due is refused, not stored as a negative item.
    early = _loan(person, "LN-9", due_date=(_now().date() + dt.timedelta(days=10)).isoformat())
    refused = _send(world, early)
    assert refused.status_code == 422, refused.text
    assert "a loan defaults only once it has fallen due" in refused.text
    assert _inbox_event(world, "rentco", "LN-9") is None
    for reference, outcome in (
        ("RC-1", "returned"),
        ("RC-2", "returned_late"),
        ("RC-3", "damaged_paid"),
    ):
        sent = _send(world, _rental(person, reference, outcome=outcome, amount=None, currency=None))
        assert sent.status_code == 202, sent.text
    outcomes = [_inbox_event(world, "rentco", r).outcome for r in ("RC-1", "RC-2", "RC-3")]
    assert outcomes == ["returned", "late", "damaged"]


def test_feedback_counts_once_sealed(world: World) -> None:
    person = world.person()
    _grant(world, person, "lendco", "feedback")
    backend = ibis_connection()

    def features(as_of: str) -> dict[str, Any]:
        refresh_summaries(world.engine, backend, world.lake)
        paths = summary_paths(world.engine, world.lake)
        rows: list[dict[str, Any]] = build_features(backend, paths, as_of, [person]).to_pylist()
        assert len(rows) == 1
        return rows[0]

    def count(row: dict[str, Any], name: str) -> int:
        return int(row[name] or 0)

    _grant(world, person, "lendco", "report")
    report_before = _report(world, person, key="lendco").json()
    sent = [
        _send(world, _rental(person, "LC-R1"), key="lendco"),
        _send(world, _loan(person, "LC-L1"), key="lendco"),
        _send(
            world,
            _loan(
                person,
                "LC-L2",
                outcome="repaid",
                paid_date=(_now().date() - dt.timedelta(days=20)).isoformat(),
            ),
            key="lendco",
        ),
    ]
    assert [s.status_code for s in sent] == [202, 202, 202], [s.text for s in sent]
    month = _now().strftime("%Y-%m")
    before = features(month)  # received, not yet sealed: not in the lake
    seal_inbox(world.engine, world.lake, "test")
    after = features(_now().strftime("%Y-%m"))
    assert count(after, "rental_problems_12m") == count(before, "rental_problems_12m") + 1
    assert count(after, "serious_delinquencies_24m") == (
        count(before, "serious_delinquencies_24m") + 1
    )
    assert count(after, "late_repayments_12m") == count(before, "late_repayments_12m") + 1
    with world.engine.connect() as store:
        files = lake_manifest.files(store)
    duck = connect()
    try:
        sources = duck.execute(
            f"SELECT DISTINCT source FROM {reader.files_sql(world.lake, files)} "
            "WHERE person_id = ? AND event_id LIKE 'LC-%'",
            [person],
        ).fetchall()
    finally:
        duck.close()
    assert sources == [("lendco",)]
    # A report is as of the published month: what happened since shows from the next one.
    report_after = _report(world, person, key="lendco").json()
    same = ("as_of", "rent_and_utilities", "open_delinquencies")
    assert {k: report_after[k] for k in same} == {k: report_before[k] for k in same}


def test_feedback_is_refused_without_consent_or_with_bad_input(world: World) -> None:
    person = world.person()
    _grant(world, person, "rentco", "report")  # not feedback
    _grant(world, person, "lendco", "feedback")  # another partner's
    count, audits = _inbox_rows(world), audit.count(world.engine)
    unknown = _send(world, _rental("S9999-99999999", "X-0"))
    refused = _send(world, _rental(person, "X-1"))
    assert unknown.status_code == refused.status_code == 404
    assert unknown.json() == refused.json()
    assert _inbox_rows(world) == count and audit.count(world.engine) == audits

    _grant(world, person, "rentco", "feedback")
    future = (_now() + dt.timedelta(days=3)).isoformat()
    bad = [
        (_rental(person, "X-2", source="someone-else"), "source"),
        (_rental(person, "X-3", outcome="lost"), "outcome"),
        (_rental(person, "X-4", item="yacht"), "item"),
        (_rental(person, "X-5", amount="10.005"), "amount"),
        (_rental(person, "X-6", currency=None), "amount"),
        (_rental(person, "X-7", occurred_at="2026-11-01T10:00:00"), "occurred_at"),
        (_rental(person, "bad reference"), "reference"),
        (_loan(person, "X-8", outcome="repaid"), "paid_date"),
        (_loan(person, "X-9", paid_date="2026-11-01"), "paid_date"),
        (_loan(person, "X-10", occurred_at=future), "occurred_at"),
        # An unknown kind fails the choice between the two bodies: the whole body.
        ({**_loan(person, "X-11"), "kind": "mortgage"}, "body"),
    ]
    for body, field in bad:
        response = _send(world, body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert _inbox_rows(world) == count

    assert _send(world, _rental(person, "X-12"), key="rentco-decisions").status_code == 403
    assert world.client.post("/v1/feedback", json=_rental(person, "X-13")).status_code == 401
    assert _inbox_rows(world) == count
    assert _send(world, _rental(person, "X-14")).status_code == 202


def test_partners_send_events_in_their_own_name_under_consent(world: World) -> None:
    person, stranger = world.person(), world.person()
    _grant(world, person, "rentco", "feedback")
    _grant(world, stranger, "rentco", "report")

    def rental(person_id: str, event_id: str, **changes: str) -> dict[str, str]:
        return {
            "source": "rentco",
            "event_id": event_id,
            "person_id": person_id,
            "kind": "rental",
            "occurred_at": (_now() - dt.timedelta(hours=2)).isoformat(),
            "partner": "rentco",
            "item": "umbrella",
            "deposit": "waived",
            "outcome": "late",
            **changes,
        }

    def post(events: list[dict[str, str]], key: str = "rentco-events") -> Any:
        return world.client.post("/v1/events", json={"events": events}, headers=world.auth(key))

    count = _inbox_rows(world)
    refused = post(
        [
            rental(person, "EV-1"),
            rental(person, "EV-2", source="umbrellas-inc"),
            rental(stranger, "EV-3"),
            rental("S9999-99999999", "EV-4"),
            {
                **rental(person, "EV-5"),
                "kind": "friend_link",
                "friend_id": stranger,
                "action": "added",
            },
        ]
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    errors = {(e["line"], e["field"]): e["reason"] for e in refused.json()["errors"]}
    assert (2, "source") in errors and (5, "kind") in errors
    # A person who did not consent and one who does not exist read the same.
    assert errors[(3, "person_id")] == errors[(4, "person_id")] == deciding.NOT_FOUND
    assert (1, "source") not in errors and (1, "person_id") not in errors
    assert _inbox_rows(world) == count

    event = rental(person, "EV-1")
    accepted = post([event])
    assert accepted.status_code == 200 and accepted.json() == {"total": 1, "new": 1, "duplicate": 0}
    assert post([event]).json() == {"total": 1, "new": 0, "duplicate": 1}
    assert _inbox_event(world, "rentco", "EV-1").person_id == person
    assert post([rental(person, "EV-6")], key="rentco").status_code == 403
    assert (
        world.client.post("/v1/events", json={"events": [rental(person, "EV-7")]}).status_code
        == 401
    )
    admin = world.client.post(
        "/v1/events",
        json={"events": [rental(stranger, "EV-8", source="umbrellas-inc")]},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert admin.status_code == 200, admin.text  # the admin's door is unchanged
    assert _inbox_rows(world) == count + 2


def test_feedback_choices_are_the_catalogues() -> None:
    fields = report_routes.RentalFeedbackIn.model_fields
    assert set(get_args(fields["item"].annotation)) == set(RENTAL_ITEMS)
    assert set(get_args(fields["deposit"].annotation)) == set(DEPOSITS)
    assert set(get_args(fields["outcome"].annotation)) == set(feedback.RENTAL_OUTCOMES)
