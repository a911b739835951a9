"""A person's freeze and their alerts, on SQLite and PostgreSQL: while frozen, decisions (the
batched path and the one-at-a-time path), reports and partner events are refused exactly as
without consent, each attempt logged and alerted; unfreezing is immediate; and each alert kind
is raised once for its cause, and only once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from kaimen.domain.callers import Caller
from kaimen.domain.errors import BatchRejected, Forbidden, KaimenError
from kaimen.dueprocess import identity_links
from kaimen.dueprocess.court_import import import_file
from kaimen.enrolment import enrol_one
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.sharing import (
    consenting,
    deciding,
    decision_batches,
    feedback,
    freezing,
    offering,
    own_data,
    partnering,
    reports,
)
from kaimen.store import access_log, alerts, score_publishing
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import alerts as alert_rows
from kaimen.store.tables import decisions, event_inbox, people, score_snapshots
from tests.conftest import NOW, make_national_id
from tests.population import LAST, PREVIOUS, VAULT, Population, World
from tests.store.score_rows import enrol, register_models, snapshot

PARTNER = "freeze-lender"


@dataclass(frozen=True)
class Setting:
    key: str
    offer_id: int
    person: str  # consented to every purpose


@pytest.fixture(scope="module")
def world(scored_copy: Population) -> Iterator[World]:
    with scored_copy.opened() as opened:
        yield opened


@pytest.fixture(scope="module")
def setting(world: World) -> Setting:
    engine = world.engine
    with engine.connect() as store:
        person = store.execute(
            select(score_snapshots.c.person_id)
            .where(score_snapshots.c.month == LAST, score_snapshots.c.score.is_not(None))
            .order_by(score_snapshots.c.person_id)
            .limit(1)
        ).scalar_one()
    partnering.add_partner(engine, PARTNER, "Freeze Lender", "admin")
    issued = partnering.issue_key(engine, PARTNER, ["decisions", "reports", "events"], "admin")
    offer = offering.publish_offer(
        engine, PARTNER, offering.OfferTerms("Card", "a card", 650), "partner"
    )
    now = dt.datetime.now(dt.UTC)
    for purpose in ("decision", "report", "feedback"):
        request = consenting.ConsentRequest(PARTNER, purpose)
        consenting.grant_consent(engine, person, request, f"person:{person}", now)
    return Setting(issued.secret, offer.offer_id, person)


def _kinds(engine: Engine, person: str) -> list[str]:
    """The person's alerts' kinds, newest first, as the store holds them (the test's look,
    not a reader's: no access-log row)."""
    with engine.connect() as store:
        return [a.kind.value for a in alerts.of_person(store, person, False)]


def _refused_log(engine: Engine, person: str) -> list[access_log.Access]:
    with engine.connect() as store:
        return [a for a in access_log.of_person(store, person) if a.what == "refused"]


def _decisions(engine: Engine, person: str) -> int:
    with engine.connect() as store:
        return store.execute(
            select(func.count()).select_from(decisions).where(decisions.c.person_id == person)
        ).scalar_one()


def _freeze(engine: Engine, person: str, frozen: bool) -> freezing.FreezeState:
    return freezing.set_freeze(engine, person, frozen, f"person:{person}", dt.datetime.now(dt.UTC))


async def _batched(engine: Engine, key: str, offer_id: int, person: str) -> deciding.Answer:
    return await decision_batches.batches_for(engine).decide(key, offer_id, person)


def test_a_freeze_refuses_decisions_on_both_paths_as_no_consent_and_logs_each(
    world: World, setting: Setting
) -> None:
    engine, person = world.engine, setting.person
    deciding.decide(engine, setting.key, setting.offer_id, person)
    assert _kinds(engine, person).count("inquiry") == 1
    decided = _decisions(engine, person)

    state = _freeze(engine, person, True)
    assert state.frozen and state.frozen_at is not None
    assert _freeze(engine, person, True) == state  # again: nothing changes

    with pytest.raises(deciding.PersonNotFound) as slow:
        deciding.decide(engine, setting.key, setting.offer_id, person)
    with pytest.raises(deciding.PersonNotFound) as unknown:
        deciding.decide(engine, setting.key, setting.offer_id, "S9999-99999999")
    assert (slow.value.status, slow.value.detail) == (unknown.value.status, unknown.value.detail)
    with pytest.raises(deciding.PersonNotFound):
        asyncio.run(_batched(engine, setting.key, setting.offer_id, person))
    assert _decisions(engine, person) == decided
    refused = _refused_log(engine, person)
    assert len(refused) == 2
    assert {(r.actor, r.purpose) for r in refused} == {(f"partner:{PARTNER}", "decision: a card")}
    assert all(r.disclosed["disclosed"] == alerts.REFUSED_DISCLOSED for r in refused)
    assert _kinds(engine, person).count("frozen_attempt") == 2

    assert not _freeze(engine, person, False).frozen
    answer = asyncio.run(_batched(engine, setting.key, setting.offer_id, person))
    assert answer.decision.person_id == person
    deciding.decide(engine, setting.key, setting.offer_id, person)
    assert _decisions(engine, person) == decided + 2
    assert _kinds(engine, person).count("inquiry") == 3
    assert len(_refused_log(engine, person)) == 2


def test_a_freeze_refuses_reports_and_partner_events(world: World, setting: Setting) -> None:
    engine, person = world.engine, setting.person
    actor = f"partner:{PARTNER}"
    _freeze(engine, person, True)
    try:
        with pytest.raises(deciding.PersonNotFound):
            reports.issue_report(engine, world.lake, PARTNER, person, "a flat", actor)
        rental = feedback.RentalFeedback(
            person, "F-1", "returned", "bike", "waived", dt.datetime.now(dt.UTC)
        )
        with pytest.raises(deciding.PersonNotFound):
            feedback.submit(engine, world.lake, PARTNER, rental, actor)
        event = feedback.event_of(PARTNER, rental)
        with pytest.raises(BatchRejected) as rejected:
            feedback.accept_partner_events(engine, world.lake, PARTNER, [event], actor)
        assert [e.reason for e in rejected.value.errors] == [deciding.NOT_FOUND]
        attempts = {r.disclosed["asked"] for r in _refused_log(engine, person)}
        assert {"report", "events"} <= attempts
    finally:
        _freeze(engine, person, False)
    before = _kinds(engine, person).count("inquiry")
    report = reports.issue_report(engine, world.lake, PARTNER, person, "a flat", actor)
    assert report.person_id == person
    assert _kinds(engine, person).count("inquiry") == before + 1
    assert feedback.submit(engine, world.lake, PARTNER, rental, actor).new


def test_partner_events_are_refused_when_a_freeze_lands_before_they_are_stored(
    world: World, setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consent was checked in a read of its own before the inbox's transaction: a freeze
    (or a revocation) landing in between let a partner's events in (8,000 after a freeze
    over HTTP). The inbox now checks again in the transaction that stores them."""
    engine, person = world.engine, setting.person
    actor = f"partner:{PARTNER}"
    checked = feedback.consenting

    def freeze_after_the_first_check(*args: object, **kwargs: object) -> set[str]:
        found = checked(*args, **kwargs)  # type: ignore[arg-type]
        if not kwargs.get("lock"):
            _freeze(engine, person, True)
        return found

    monkeypatch.setattr(feedback, "consenting", freeze_after_the_first_check)
    now = dt.datetime.now(dt.UTC)
    events = [
        feedback.event_of(
            PARTNER, feedback.RentalFeedback(person, f"R-{i}", "returned", "bike", "waived", now)
        )
        for i in range(3)
    ]
    try:
        inbox_before = _inbox(engine)
        with pytest.raises(BatchRejected) as rejected:
            feedback.accept_partner_events(engine, world.lake, PARTNER, events, actor)
        assert {e.reason for e in rejected.value.errors} == {deciding.NOT_FOUND}
        assert _inbox(engine) == inbox_before
        assert any(r.flag == "refused: frozen" for r in _refused_log(engine, person))
    finally:
        _freeze(engine, person, False)


def _inbox(engine: Engine) -> int:
    with engine.connect() as store:
        return int(store.execute(select(func.count()).select_from(event_inbox)).scalar_one())


def test_the_batched_write_rechecks_the_freeze(world: World, setting: Setting) -> None:
    """PostgreSQL's batched path reads, then writes in a statement of its own: a freeze that
    commits in between refuses the decision there, and logs the attempt."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads and writes in one transaction holding the write lock")
    from psycopg import AsyncConnection

    engine, person = world.engine, setting.person
    asked = deciding.question(setting.key, setting.offer_id, person)
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def race() -> list[deciding.Answer | Exception]:
        async with await AsyncConnection.connect(url, autocommit=True) as connection:
            from kaimen.store import decision_path

            [grounds] = await decision_path.read_many(connection, [asked], deciding.SCOPE)
            [outcome] = deciding.answered_all([asked], [grounds])
            assert isinstance(outcome, tuple)
            answer, disclosure = outcome
            _freeze(engine, person, True)
            written = await decision_path.record_many_async(
                connection, [(answer.decision, disclosure)]
            )
            assert written == set()
            return list(await deciding.decide_many_async(connection, [asked]))

    before = len(_refused_log(engine, person))
    try:
        [result] = asyncio.run(race())
    finally:
        _freeze(engine, person, False)
    assert isinstance(result, deciding.PersonNotFound)
    assert len(_refused_log(engine, person)) == before + 1


def test_a_negative_item_is_alerted_once(world: World, setting: Setting) -> None:
    engine, person = world.engine, setting.person
    fine = {
        "source": "city-fines",
        "event_id": "fine-freeze-1",
        "person_id": person,
        "kind": "fine",
        "occurred_at": "2026-10-20T10:00:00Z",
        "recorded_at": "2026-10-20T10:00:00Z",
        "amount": "200.00",
        "currency": "CNY",
        "status": "issued",
    }
    paid = {
        **fine,
        "source": "landlord",
        "event_id": "rent-freeze-0",
        "kind": "rent_payment",
        "due_date": "2026-10-20",
        "paid_date": "2026-10-20",
        "status": "on_time",
    }
    before = _kinds(engine, person).count("negative_item")
    accept_events(engine, world.lake, [fine, paid], "admin")
    accept_events(engine, world.lake, [fine], "admin")  # a resend: a duplicate
    found = [
        a
        for a in freezing.alerts_of(engine, Caller.person(person), person)
        if a.kind.value == "negative_item"
    ]
    assert len(found) == before + 1
    assert found[0].ref == "city-fines/fine-freeze-1"
    assert found[0].details["kind"] == "fine"


def test_alerts_are_read_once_and_only_by_their_person(world: World, setting: Setting) -> None:
    engine, person = world.engine, setting.person
    [first, *_] = freezing.alerts_of(engine, Caller.person(person), person)
    now = dt.datetime.now(dt.UTC)
    read = freezing.mark_alert_read(engine, person, first.alert_id, f"person:{person}", now)
    assert read.read_at is not None
    later = now + dt.timedelta(minutes=1)
    again = freezing.mark_alert_read(engine, person, first.alert_id, f"person:{person}", later)
    assert again.read_at == read.read_at
    assert first.alert_id not in {
        a.alert_id for a in freezing.alerts_of(engine, Caller.person(person), person, True)
    }
    with pytest.raises(freezing.UnknownAlert):
        freezing.mark_alert_read(engine, "S9999-99999999", first.alert_id, "x", now)


def _publish(
    store: Connection, month: str, scores: dict[str, int | None], now: dt.datetime
) -> None:
    """Publish `month` of card-1 with these scores (None: a thin file)."""
    snapshots = [
        snapshot(p, month, score=s)
        if s is not None
        else replace(snapshot(p, month), score=None, band=None, thin_file=True)
        for p, s in scores.items()
    ]
    score_publishing.publish(store, month, "card-1", snapshots, now)


def test_a_score_change_of_twenty_points_is_alerted_once(engine: Engine) -> None:
    enrol(engine, "P1", "P2", "P3", "P4")
    register_models(engine, "card-1")
    now = dt.datetime.now(dt.UTC)
    before: dict[str, int | None] = {"P1": 600, "P2": 600, "P3": 600, "P4": 600}
    after: dict[str, int | None] = {"P1": 620, "P2": 619, "P3": 580, "P4": 600}
    with engine.begin() as store:
        _publish(store, "2026-09", before, now)
        assert alerts.raise_score_changes(store, "2026-09", "card-1", now) == 0  # the first
        _publish(store, "2026-10", after, now)
        assert alerts.raise_score_changes(store, "2026-10", "card-1", now) == 2
        assert alerts.raise_score_changes(store, "2026-10", "card-1", now) == 0
    changed = {p: _kinds(engine, p) for p in before}
    assert changed == {"P1": ["score_change"], "P2": [], "P3": ["score_change"], "P4": []}
    [alert] = freezing.alerts_of(engine, Caller.person("P3"), "P3")
    assert (alert.details["from_score"], alert.details["to_score"]) == (600, 580)


def test_a_run_in_hand_raises_the_same_alerts_leaving_out_the_inactive(engine: Engine) -> None:
    """The batch hands over the scores it published: the alerts are those the store's rows
    give, without the thin files and the people no longer active, and a second raising of
    the same new run breaks the one-per-cause constraint rather than passing unseen."""
    enrol(engine, "P1", "P2", "P3", "P4", "P5")
    register_models(engine, "card-1")
    now = dt.datetime.now(dt.UTC)
    before: dict[str, int | None] = {"P1": 600, "P2": 600, "P3": 600, "P4": 600, "P5": 600}
    after: dict[str, int | None] = {"P1": 650, "P2": 610, "P3": 560, "P4": None, "P5": 700}
    in_hand = pa.table(
        {"person_id": list(after), "score": list(after.values())},
        schema=pa.schema([("person_id", pa.string()), ("score", pa.int32())]),
    )
    with engine.begin() as store:
        _publish(store, "2026-09", before, now)
        _publish(store, "2026-10", after, now)
        store.execute(
            people.update()
            .where(people.c.person_id == "P5")
            .values(status="opted_out", birth_date=None)
        )
        assert alerts.raise_score_changes(store, "2026-10", "card-1", now, in_hand) == 2
    raised = {p: _kinds(engine, p) for p in before}
    assert raised == {"P1": ["score_change"], "P2": [], "P3": ["score_change"], "P4": [], "P5": []}
    [alert] = freezing.alerts_of(engine, Caller.person("P3"), "P3")
    assert alert.ref == "2026-10/card-1"
    assert alert.details == {
        "month": "2026-10",
        "from_score": 600,
        "to_score": 560,
        "from_month": "2026-09",
    }
    with pytest.raises(IntegrityError), engine.begin() as store:
        alerts.raise_score_changes(store, "2026-10", "card-1", now, in_hand)


def test_a_court_list_match_is_alerted_once(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    number = make_national_id(birth="19850512", sequence="001")
    zhang = enrol_one(engine, vault, "13800138000", number, "tester", now=NOW)
    path = tmp_path / "list.csv"
    path.write_text(
        "name,id_number,case_number,court,amount,currency,judgment_date,status\n"
        f"张三丰,{number},(2025)京01执1号,北京市第一中级人民法院,1200.50,,2025-06-01,entered\n",
        encoding="utf-8",
    )
    assert import_file(engine, vault, path, "tester", now=NOW).linked == 1
    assert import_file(engine, vault, path, "tester", now=NOW).replayed_file
    assert identity_links.link_exact_matches(engine, "tester").linked == 0
    [alert] = freezing.alerts_of(engine, Caller.person(zhang), zhang)
    assert alert.kind is alerts.AlertKind.COURT_LIST_MATCH
    assert alert.details["case_number"] == "(2025)京01执1号"
    assert alert.ref.startswith("K")


def test_the_monthly_publication_alerts_every_change_of_twenty_points(world: World) -> None:
    """The world's two months were published by `score_month`: exactly the people whose
    score moved 20 points or more between them have an alert of it, one each."""
    with world.engine.connect() as store:
        rows = store.execute(
            select(score_snapshots.c.person_id, score_snapshots.c.month, score_snapshots.c.score)
        ).all()
        raised = store.execute(
            select(alert_rows.c.person_id, alert_rows.c.ref).where(
                alert_rows.c.kind == "score_change"
            )
        ).all()
    scores: dict[str, dict[str, int | None]] = {}
    for person_id, month, score in rows:
        scores.setdefault(person_id, {})[month] = score
    expected = {
        person_id
        for person_id, by_month in scores.items()
        if by_month.get(PREVIOUS) is not None
        and by_month.get(LAST) is not None
        and abs((by_month[LAST] or 0) - (by_month[PREVIOUS] or 0)) >= alerts.SCORE_CHANGE_POINTS
    }
    assert expected  # the simulated months move some scores that far
    assert sorted(p for p, _ in raised) == sorted(expected)
    assert {ref.split("/")[0] for _, ref in raised} == {LAST}


def test_the_export_holds_the_alerts_and_the_freeze(world: World, setting: Setting) -> None:
    engine, person = world.engine, setting.person
    _freeze(engine, person, True)
    try:
        document = own_data.export(engine, VAULT, world.lake, person)
    finally:
        _freeze(engine, person, False)
    assert document.person.frozen_at is not None
    exported = [(a.alert_id, a.kind, a.ref) for a in document.alerts]
    held = [
        (a.alert_id, a.kind.value, a.ref)
        for a in freezing.alerts_of(engine, Caller.person(person), person)
    ]
    assert exported == held and held


def test_a_batch_writes_its_decisions_and_every_kind_of_refused_attempt_together(
    world: World, setting: Setting
) -> None:
    """PostgreSQL's batched write carries the decisions, the attempts without consent and the
    attempts on a frozen file in one statement: each person gets exactly their own rows."""
    engine = world.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes a batch in one transaction, statement by statement")
    from psycopg import AsyncConnection

    frozen, (consented, unasked) = setting.person, _scored(engine, 2, exclude=setting.person)
    consenting.grant_consent(
        engine,
        consented,
        consenting.ConsentRequest(PARTNER, "decision"),
        f"person:{consented}",
        dt.datetime.now(dt.UTC),
    )
    asked = (consented, frozen, unasked)
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def batch() -> list[deciding.Answer | KaimenError]:
        async with await AsyncConnection.connect(url, autocommit=True) as connection:
            questions = [deciding.question(setting.key, setting.offer_id, p) for p in asked]
            return await deciding.decide_many_async(connection, questions)

    before = {p: _rows_of(engine, p) for p in asked}
    _freeze(engine, frozen, True)
    try:
        results = asyncio.run(batch())
    finally:
        _freeze(engine, frozen, False)
    assert isinstance(results[0], deciding.Answer)
    assert all(isinstance(r, deciding.PersonNotFound) for r in results[1:])
    added = {
        p: tuple(a - b for a, b in zip(_rows_of(engine, p), before[p], strict=True)) for p in asked
    }
    # (decisions, access-log rows, inquiry alerts, frozen-attempt alerts)
    assert added == {
        consented: (1, 1, 1, 0),
        frozen: (0, 1, 0, 1),
        unasked: (0, 1, 0, 0),  # the attempt without consent, in the access log only
    }


def _rows_of(engine: Engine, person: str) -> tuple[int, int, int, int]:
    """The person's decisions, access-log rows, inquiry alerts and frozen-attempt alerts."""
    kinds = _kinds(engine, person)
    with engine.connect() as store:
        logged = len(access_log.of_person(store, person))
    return (
        _decisions(engine, person),
        logged,
        kinds.count("inquiry"),
        kinds.count("frozen_attempt"),
    )


def _scored(engine: Engine, count: int, exclude: str) -> list[str]:
    """`count` people with a score last month, other than `exclude`."""
    with engine.connect() as store:
        return list(
            store.execute(
                select(score_snapshots.c.person_id)
                .where(
                    score_snapshots.c.month == LAST,
                    score_snapshots.c.score.is_not(None),
                    score_snapshots.c.person_id != exclude,
                )
                .order_by(score_snapshots.c.person_id.desc())
                .limit(count)
            ).scalars()
        )


def test_reading_a_persons_alerts_is_in_their_access_log(world: World, setting: Setting) -> None:
    """The admin's look (`kaimen person alerts`) leaves a row; the person's own does not (the
    log lists what others saw: a person's own views buried those); nobody else may look."""
    engine, person = world.engine, setting.person
    with engine.connect() as store:
        before = {r.access_id for r in access_log.of_person(store, person)}
    shown = len(freezing.alerts_of(engine, Caller.person(person), person))
    unread = len(freezing.alerts_of(engine, Caller.admin(), person, unread_only=True))
    with pytest.raises(Forbidden):
        freezing.alerts_of(engine, Caller.person("someone-else"), person)
    with engine.connect() as store:
        rows = [r for r in access_log.of_person(store, person) if r.access_id not in before]
    assert shown >= unread
    assert sorted((r.actor, r.purpose, r.what, r.disclosed) for r in rows) == [
        ("admin", "alerts", "alerts", {"alerts": unread, "unread_only": True}),
    ]
