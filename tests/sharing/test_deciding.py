"""The decision's own path (kaimen.store.decision_path): the partner's key checked in the
decision's transaction, one pooled connection per decision, exactly one decision row and one
access-log row per answer, nothing written for any refusal (but the attempt without consent,
for the person to see), a revocation effective for the very next request, and no row lost
when decisions run at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg import AsyncConnection
from sqlalchemy import Engine, event, func, select

from kaimen.domain.errors import KaimenError
from kaimen.sharing import consenting, deciding, decision_batches, offering, partnering
from kaimen.sharing.authentication import REFUSED, CredentialRefused, ScopeMissing
from kaimen.store import decision_path
from kaimen.store.database import SQLITE_BUSY_TIMEOUT_MS
from kaimen.store.tables import access_log, decisions, score_snapshots
from tests.population import LAST, Population, World

PARTNER = "path-lender"


@dataclass(frozen=True)
class Setting:
    key: str
    key_id: str
    reports_key: str
    offer_id: int
    consented: list[str]  # lowest score first; the last one shares the score
    without_consent: str


@pytest.fixture(scope="module")
def world(scored_copy: Population) -> Iterator[World]:
    with scored_copy.opened() as opened:
        yield opened


@pytest.fixture(scope="module")
def setting(world: World) -> Setting:
    engine = world.engine
    with engine.connect() as store:
        scored = list(
            store.execute(
                select(score_snapshots.c.person_id)
                .where(score_snapshots.c.month == LAST, score_snapshots.c.score.is_not(None))
                .order_by(score_snapshots.c.score, score_snapshots.c.person_id)
            ).scalars()
        )
    partnering.add_partner(engine, PARTNER, "Path Lender", "admin")
    issued = partnering.issue_key(engine, PARTNER, ["decisions"], "admin")
    reports = partnering.issue_key(engine, PARTNER, ["reports"], "admin").secret
    offer = offering.publish_offer(
        engine, PARTNER, offering.OfferTerms("Card", "a card", 650), "partner"
    )
    consented = scored[:: max(1, len(scored) // 12)][:12]
    now = dt.datetime.now(dt.UTC)
    for index, person in enumerate(consented):
        request = consenting.ConsentRequest(
            PARTNER, "decision", share_score=index == len(consented) - 1
        )
        consenting.grant_consent(engine, person, request, f"person:{person}", now)
    without = next(p for p in reversed(scored) if p not in consented)
    return Setting(issued.secret, issued.key.key_id, reports, offer.offer_id, consented, without)


def _rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as store:
        return (
            store.execute(select(func.count()).select_from(decisions)).scalar_one(),
            store.execute(select(func.count()).select_from(access_log)).scalar_one(),
        )


def test_each_answer_leaves_one_decision_row_and_one_access_log_row(
    world: World, setting: Setting
) -> None:
    before = _rows(world.engine)
    answers = [
        deciding.decide(world.engine, setting.key, setting.offer_id, person)
        for person in setting.consented
    ]
    assert _rows(world.engine) == (before[0] + len(answers), before[1] + len(answers))
    with world.engine.connect() as store:
        for answer in answers:
            decision = answer.decision
            stored = store.execute(
                select(decisions).where(decisions.c.decision_id == decision.decision_id)
            ).one()
            assert (stored.person_id, stored.partner_id, stored.approved) == (
                decision.person_id,
                PARTNER,
                decision.approved,
            )
            assert stored.decided_at == decision.decided_at
            assert [r["text"] for r in stored.reasons] == [r.text for r in decision.reasons]
            logged = store.execute(
                select(access_log).where(
                    access_log.c.person_id == decision.person_id,
                    access_log.c.accessed_at == decision.decided_at,
                )
            ).one()
            assert (logged.actor, logged.what, logged.purpose) == (
                f"partner:{PARTNER}",
                "decision",
                "decision: a card",
            )
            assert logged.disclosed["decision_id"] == decision.decision_id
            assert ("score" in logged.disclosed) == decision.score_shared
    assert [a.decision.score_shared for a in answers] == [False] * (len(answers) - 1) + [True]
    # Approved exactly when the published score reaches the offer's minimum.
    for answer in answers:
        assert answer.decision.approved == ((answer.decision.score or 0) >= 650)


def test_one_pooled_connection_per_decision(world: World, setting: Setting) -> None:
    checkouts: list[int] = []

    def counted(*_: Any) -> None:
        checkouts.append(1)

    event.listen(world.engine, "checkout", counted)
    try:
        deciding.decide(world.engine, setting.key, setting.offer_id, setting.consented[0])
        assert len(checkouts) == 1
        with pytest.raises(deciding.PersonNotFound):
            deciding.decide(world.engine, setting.key, setting.offer_id, setting.without_consent)
        with pytest.raises(CredentialRefused):
            deciding.decide(world.engine, setting.key + "x", setting.offer_id, "S1")
        # The malformed key never reached the store.
        assert len(checkouts) == 2
    finally:
        event.remove(world.engine, "checkout", counted)


def test_a_revocation_refuses_the_very_next_request(world: World, setting: Setting) -> None:
    person = setting.consented[1]
    deciding.decide(world.engine, setting.key, setting.offer_id, person)
    [live] = [c for c in consenting.consents_of(world.engine, person) if c.revoked_at is None]
    now = dt.datetime.now(dt.UTC)
    consenting.revoke_consent(world.engine, person, live.consent_id, f"person:{person}", now)
    before = _rows(world.engine)
    with pytest.raises(deciding.PersonNotFound):
        deciding.decide(world.engine, setting.key, setting.offer_id, person)
    # No decision: only the refused attempt, in the person's access log.
    assert _rows(world.engine) == (before[0], before[1] + 1)
    request = consenting.ConsentRequest(PARTNER, "decision")
    consenting.grant_consent(world.engine, person, request, f"person:{person}", now)
    deciding.decide(world.engine, setting.key, setting.offer_id, person)
    assert _rows(world.engine) == (before[0] + 1, before[1] + 2)


def test_a_refused_key_is_refused_and_writes_nothing(world: World, setting: Setting) -> None:
    revoked = partnering.issue_key(world.engine, PARTNER, ["decisions"], "admin")
    partnering.revoke_key(world.engine, revoked.key.key_id, "admin")
    other_secret = f"kmk_{setting.key_id}_{secrets.token_urlsafe(32)}"
    unknown_id = f"kmk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    person = setting.consented[2]
    before = _rows(world.engine)
    for key in (revoked.secret, other_secret, unknown_id, "kmk_nonsense", setting.key[:-1]):
        with pytest.raises(CredentialRefused) as refused:
            deciding.decide(world.engine, key, setting.offer_id, person)
        assert (refused.value.status, refused.value.detail) == (401, REFUSED)
    with pytest.raises(ScopeMissing) as wrong_scope:
        deciding.decide(world.engine, setting.reports_key, setting.offer_id, person)
    assert wrong_scope.value.status == 403
    assert _rows(world.engine) == before


def test_an_unknown_person_and_one_without_consent_are_told_the_same(
    world: World, setting: Setting
) -> None:
    before = _rows(world.engine)
    refusals: list[KaimenError] = []
    for person in ("S9999-99999999", setting.without_consent):
        with pytest.raises(deciding.PersonNotFound) as refused:
            deciding.decide(world.engine, setting.key, setting.offer_id, person)
        refusals.append(refused.value)
    assert {(r.status, r.problem, r.detail) for r in refusals} == {
        (404, "not-found", deciding.NOT_FOUND)
    }
    with pytest.raises(deciding.OfferNotFound):
        deciding.decide(world.engine, setting.key, setting.offer_id + 999, setting.consented[0])
    # Only the attempt on the person who exists, in their access log.
    assert _rows(world.engine) == (before[0], before[1] + 1)


def test_concurrent_decisions_lose_no_rows(world: World, setting: Setting) -> None:
    before = _rows(world.engine)
    people = [setting.consented[i % len(setting.consented)] for i in range(96)]
    people[::8] = [setting.without_consent] * len(people[::8])

    def one(person: str) -> str | None:
        try:
            return deciding.decide(
                world.engine, setting.key, setting.offer_id, person
            ).decision.decision_id
        except deciding.PersonNotFound:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        answered = [d for d in pool.map(one, people) if d is not None]
    assert len(answered) == len(set(answered)) == 96 - len(people[::8])
    refused = len(people[::8])  # each attempt without consent is in the person's log
    assert _rows(world.engine) == (before[0] + len(answered), before[1] + len(answered) + refused)


def test_a_decision_that_may_not_wait_is_refused_whole_while_another_connection_writes(
    world: World, setting: Setting
) -> None:
    """`wait=False` (the API's decision on the event loop): on SQLite, while another
    connection holds the write lock, `WriterBusy` at once and nothing read or written; the
    same decision that may wait is made once the lock is free. PostgreSQL never waits for
    such a lock, so it decides either way."""
    engine = world.engine
    person = setting.consented[-1]
    before = _rows(engine)
    used: list[Any] = []

    def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        used.append(dbapi_connection)

    writer = engine.raw_connection()
    event.listen(engine, "checkout", checked_out)
    try:
        if engine.dialect.name == "sqlite":
            writer.driver_connection.execute("BEGIN IMMEDIATE")
            started = time.perf_counter()
            with pytest.raises(deciding.WriterBusy):
                deciding.decide(engine, setting.key, setting.offer_id, person, wait=False)
            assert time.perf_counter() - started < 1.0  # refused, not after a busy timeout
            assert _rows(engine) == before
            # The refused connection went back to the pool waiting as every other does.
            busy = used[-1].execute("PRAGMA busy_timeout").fetchone()[0]
            assert busy == SQLITE_BUSY_TIMEOUT_MS
            writer.driver_connection.rollback()
        answer = deciding.decide(engine, setting.key, setting.offer_id, person, wait=False)
    finally:
        event.remove(engine, "checkout", checked_out)
        writer.close()
    assert answer.decision.person_id == person
    assert _rows(engine) == (before[0] + 1, before[1] + 1)


def test_a_decision_that_may_not_wait_is_refused_while_a_thread_of_ours_writes(
    world: World, setting: Setting
) -> None:
    """On SQLite a decision already waiting in this process keeps its turn: one that may not
    wait is refused (`WriterBusy`) rather than overtaking it."""
    if world.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite has one writer")
    engine = world.engine
    before = _rows(engine)
    inside, release = threading.Event(), threading.Event()

    def slow() -> None:
        with decision_path.transaction(engine):
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=slow)
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(deciding.WriterBusy):
            deciding.decide(engine, setting.key, setting.offer_id, setting.consented[0], wait=False)
    finally:
        release.set()
        holder.join()
    assert _rows(engine) == before


# -- the API's decisions, in batches (kaimen.sharing.decision_batches) ------------------------


def _asked_together(engine: Engine, asks: list[tuple[str, int, str]]) -> list[object]:
    """Every question asked at once in one event loop, as the API asks them: each one's
    answer, or the error it got."""

    async def ask() -> list[object]:
        batches = decision_batches.batches_for(engine)
        try:
            return await asyncio.gather(
                *(batches.decide(key, offer, person) for key, offer, person in asks),
                return_exceptions=True,
            )
        finally:
            batches.close()

    return asyncio.run(ask())


def test_decisions_asked_together_leave_one_decision_row_and_one_access_log_row_each(
    world: World, setting: Setting
) -> None:
    """Questions that arrive together are answered in one batch (on SQLite one transaction:
    one pooled connection for all of them) and each gets its own rows, or its own refusal
    and nothing written."""
    engine = world.engine
    people = setting.consented * 2
    asks = [(setting.key, setting.offer_id, person) for person in people]
    asks += [
        (setting.key, setting.offer_id, setting.without_consent),
        (setting.key, setting.offer_id + 999, setting.consented[0]),
        (setting.reports_key, setting.offer_id, setting.consented[0]),
        (setting.key[:-1] + "x", setting.offer_id, setting.consented[0]),
    ]
    checkouts: list[int] = []

    def counted(*_: Any) -> None:
        checkouts.append(1)

    before = _rows(engine)
    event.listen(engine, "checkout", counted)
    try:
        results = _asked_together(engine, asks)
    finally:
        event.remove(engine, "checkout", counted)
    answers = [r for r in results if isinstance(r, deciding.Answer)]
    assert [type(r) for r in results[len(people) :]] == [
        deciding.PersonNotFound,
        deciding.OfferNotFound,
        ScopeMissing,
        CredentialRefused,
    ]
    assert [a.decision.person_id for a in answers] == people
    assert len({a.decision.decision_id for a in answers}) == len(people)
    # And the attempt without consent, in the person's access log.
    assert _rows(engine) == (before[0] + len(people), before[1] + len(people) + 1)
    with engine.connect() as store:
        stored = set(
            store.execute(
                select(decisions.c.decision_id).where(
                    decisions.c.decision_id.in_([a.decision.decision_id for a in answers])
                )
            ).scalars()
        )
    assert stored == {a.decision.decision_id for a in answers}
    if engine.dialect.name == "sqlite":
        assert len(checkouts) == 1  # one transaction for the whole batch
    else:
        assert checkouts == []  # the batches' own async connections


def test_a_revocation_refuses_the_very_next_batched_request(world: World, setting: Setting) -> None:
    engine = world.engine
    person = setting.consented[3]
    [first] = _asked_together(engine, [(setting.key, setting.offer_id, person)])
    assert isinstance(first, deciding.Answer)
    [live] = [c for c in consenting.consents_of(engine, person) if c.revoked_at is None]
    now = dt.datetime.now(dt.UTC)
    consenting.revoke_consent(engine, person, live.consent_id, f"person:{person}", now)
    before = _rows(engine)
    [refused] = _asked_together(engine, [(setting.key, setting.offer_id, person)])
    assert isinstance(refused, deciding.PersonNotFound)
    assert _rows(engine) == (before[0], before[1] + 1)
    request = consenting.ConsentRequest(PARTNER, "decision")
    consenting.grant_consent(engine, person, request, f"person:{person}", now)


def test_a_consent_revoked_between_the_read_and_the_write_writes_nothing(
    world: World, setting: Setting
) -> None:
    """On PostgreSQL a batch reads in one statement and writes in another (autocommit): the
    write checks the consent itself, so a revocation committed in between leaves no row and
    the decision is refused."""
    engine = world.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite holds the write lock from the read to the write")
    person = setting.consented[4]
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def read_then_write(revoke: bool) -> set[str]:
        async with await AsyncConnection.connect(conninfo, autocommit=True) as connection:
            asked = deciding.question(setting.key, setting.offer_id, person)
            [grounds] = await decision_path.read_many(connection, [asked], deciding.SCOPE)
            [outcome] = deciding.answered_all([asked], [grounds])
            assert isinstance(outcome, tuple)
            answer, disclosure = outcome
            if revoke:
                [live] = [c for c in consenting.consents_of(engine, person) if not c.revoked_at]
                consenting.revoke_consent(
                    engine, person, live.consent_id, f"person:{person}", dt.datetime.now(dt.UTC)
                )
            written = await decision_path.record_many_async(
                connection, [(answer.decision, disclosure)]
            )
            assert written <= {answer.decision.decision_id}
            return written

    before = _rows(engine)
    assert asyncio.run(read_then_write(revoke=True)) == set()
    assert _rows(engine) == before
    request = consenting.ConsentRequest(PARTNER, "decision")
    consenting.grant_consent(engine, person, request, f"person:{person}", dt.datetime.now(dt.UTC))
    assert len(asyncio.run(read_then_write(revoke=False))) == 1
    assert _rows(engine) == (before[0] + 1, before[1] + 1)


def test_a_batch_waits_in_a_thread_while_another_connection_writes(
    world: World, setting: Setting
) -> None:
    """On SQLite a batch runs on the event loop only while the write lock is free; else it
    waits for the lock in a worker thread, and is answered when the lock is released. The
    connection it committed on keeps SQLite's automatic checkpoints."""
    engine = world.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite has one writer")
    before = _rows(engine)
    writer = engine.raw_connection()
    writer.driver_connection.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.5, writer.driver_connection.rollback)
    released.start()
    try:
        started = time.perf_counter()
        [answer] = _asked_together(engine, [(setting.key, setting.offer_id, setting.consented[5])])
        assert time.perf_counter() - started >= 0.4  # it waited for the lock
    finally:
        released.join()
        writer.close()
    assert isinstance(answer, deciding.Answer)
    assert _rows(engine) == (before[0] + 1, before[1] + 1)
    # On the loop (no writer now): the commit leaves checkpoints to a thread, then restores.
    _asked_together(engine, [(setting.key, setting.offer_id, setting.consented[5])])
    pooled = engine.raw_connection()
    try:
        pages = pooled.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    finally:
        pooled.close()
    assert pages == decision_path.SQLITE_AUTOCHECKPOINT_PAGES
    decision_path.checkpoint(engine)


def _steady_load(engine: Engine, setting: Setting, clients: int, rounds: int) -> list[object]:
    """`clients` askers in one event loop, each asking again as soon as answered, `rounds`
    times (as the load benchmark's keep-alive clients do), so that a question is always
    waiting: every answer, once the last checkpoint has ended (within 30 s, or a hold that
    is never released fails the test)."""

    async def load() -> list[object]:
        batches = decision_batches.batches_for(engine)
        answers: list[object] = []

        async def client(index: int) -> None:
            for turn in range(rounds):
                person = setting.consented[(index + turn) % len(setting.consented)]
                answers.append(await batches.decide(setting.key, setting.offer_id, person))

        try:
            await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(clients))), 30)
            while batches._checkpointing:  # the last checkpoint ends before the loop does
                await asyncio.sleep(0.01)
        finally:
            batches.close()
        return answers

    return asyncio.run(load())


def test_the_wal_starts_again_under_steady_decisions(
    world: World, setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the batches' commits leave the WAL to a checkpoint in a worker thread, and
    SQLite writes the WAL from its start again only when a commit finds all of it copied:
    with questions always waiting that never happened, and the WAL grew without end. The
    checkpoint's last pass holds the batches back, so the WAL starts again after each
    checkpoint: at the end it holds only what came after the last one."""
    engine = world.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no WAL of ours to checkpoint")
    monkeypatch.setattr(decision_batches, "SQLITE_CHECKPOINT_EVERY", 40)
    clients, rounds = 16, 60  # 960 decisions in about 60 batches, always one waiting
    before = _rows(engine)

    answers = _steady_load(engine, setting, clients, rounds)
    assert all(isinstance(a, deciding.Answer) for a in answers)
    assert _rows(engine) == (before[0] + clients * rounds, before[1] + clients * rounds)
    pooled = engine.raw_connection()
    try:
        _, frames, _ = pooled.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        pooled.close()
    # A WAL never started again holds every page the run wrote (about 2,500 here: a batch
    # dirties pages of five tables and their indexes); started again after the last
    # checkpoint, it holds what the last 40-odd decisions wrote (about 200).
    assert frames < 600


def test_a_checkpoint_that_fails_holds_no_decision_back(
    world: World, setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint's last pass holds new batches back; should a pass fail, the batches
    go on, every question is answered, and the next checkpoint is tried again later."""
    engine = world.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no WAL of ours to checkpoint")
    monkeypatch.setattr(decision_batches, "SQLITE_CHECKPOINT_EVERY", 20)
    passes: list[int] = []

    def failing(_engine: Engine) -> int:
        """Two passes beside the batches that copy nothing new, then the held pass fails."""
        passes.append(1)
        if len(passes) % 3 == 0:
            raise OSError("disk I/O error")
        return 0

    monkeypatch.setattr(decision_path, "checkpoint", failing)
    before = _rows(engine)
    clients, rounds = 8, 15

    answers = _steady_load(engine, setting, clients, rounds)
    assert len(answers) == clients * rounds
    assert all(isinstance(a, deciding.Answer) for a in answers)
    assert _rows(engine) == (before[0] + clients * rounds, before[1] + clients * rounds)
    assert len(passes) >= 6  # the held pass failed, and was tried again at the next checkpoint


def test_decision_ids_are_version_7_uuids_of_the_decision_time() -> None:
    """Time-ordered (RFC 9562 version 7): ids of decisions made together sort together, and
    those made later sort later; the rest is random."""
    at = dt.datetime(2026, 12, 4, 22, 30, 1, 234_000, tzinfo=dt.UTC)
    ids = [deciding.time_ordered_id(at + dt.timedelta(milliseconds=i)) for i in range(50)]
    assert ids == sorted(ids)
    assert len({deciding.time_ordered_id(at) for _ in range(1000)}) == 1000
    for text in ids[:3]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert int(ids[0].replace("-", "")[:12], 16) == int(at.timestamp() * 1000)
