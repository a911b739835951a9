"""The furnisher's answers, the deadline sweep under cn and us (an injected clock), partners
told of corrections, and a verified item's statement travelling with the next report; on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.decisions import Decision
from kaimen.domain.disputes import (
    Answer,
    Correction,
    DisputeClosed,
    DisputeNotFound,
    DisputeState,
    ItemRef,
    ItemState,
)
from kaimen.dueprocess import answering, disputing, sweeps
from kaimen.dueprocess.item_standing import ITEM_CHANGED
from kaimen.sharing import reports
from kaimen.store import consents, decisions, offers, outbox, partners
from kaimen.store import disputes as dispute_rows
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import event_inbox, score_runs
from tests.dueprocess.world import LENDER, NOW, World, dispute_of, make_world
from tests.store.score_rows import register_models

LENDER_KEY = Caller.partner(LENDER, "k1", ("disputes",))
VAULT = IdentityVault(bytes(range(32)))


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    return make_world(engine, tmp_path)


def _state(world: World, item: ItemRef) -> ItemState | None:
    with world.engine.connect() as store:
        found = dispute_rows.item_state(store, item)
    return None if found is None else found.state


def _sweep(world: World, now: dt.datetime) -> sweeps.Round:
    return sweeps.run_round(world.engine, VAULT, world.lake_root, world.profile, now)


def _add_letter(world: World, dispute_id: str, now: dt.datetime) -> disputing.Filed:
    """Alice adds a bank's letter to her dispute at `now`."""
    return disputing.add_information(
        world.engine,
        world.evidence_dir,
        world.profile,
        Caller.person("alice"),
        "alice",
        dispute_id,
        "Here is the bank's letter.",
        now=now,
    )


def test_cn_deadline_passes_after_20_days_and_the_sweep_suppresses(world: World) -> None:
    d = world.file("alice", "L-1").dispute
    assert d.answer_due_at - d.filed_at < dt.timedelta(days=21)
    before = _sweep(world, d.answer_due_at - dt.timedelta(seconds=1))
    assert before.lapsed == ()
    assert _state(world, d.item) is ItemState.DISPUTED
    after = _sweep(world, d.answer_due_at)
    assert after.lapsed == (d.dispute_id,)
    # cn already left it out while disputed: suppressing it changes no score.
    assert after.rescore == ()
    assert dispute_of(world, d.dispute_id).state is DisputeState.LAPSED
    assert _state(world, d.item) is ItemState.SUPPRESSED
    # A late answer changes nothing.
    with pytest.raises(DisputeClosed):
        answering.answer_dispute(
            world.engine, world.lake_root, world.profile, LENDER_KEY, d.dispute_id, Answer.VERIFIED
        )
    # A repeat dispute is accepted and never makes the suppressed item count again.
    again = world.file("alice", "L-1", now=d.answer_due_at + dt.timedelta(days=1)).dispute
    assert _state(world, d.item) is ItemState.SUPPRESSED
    answering.answer_dispute(
        world.engine,
        world.lake_root,
        world.profile,
        LENDER_KEY,
        again.dispute_id,
        Answer.VERIFIED,
        now=d.answer_due_at + dt.timedelta(days=1, hours=1),
    )
    assert _state(world, d.item) is ItemState.SUPPRESSED


def test_us_deadline_is_30_days_and_45_after_added_information(
    engine: Engine, tmp_path: Path
) -> None:
    world = make_world(engine, tmp_path, "us")
    plain = world.file("alice", "L-1").dispute
    added = world.file("alice", "L-2").dispute
    # 22:00 in New York on 1 November: day 0 is 1 November, the deadline midnight after 1 Dec.
    assert plain.answer_due_at == dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)
    # us counts a disputed item while pending: no re-score on filing.
    own = world.file("alice", "K-1", source="operator-feed")
    assert own.rescore == ()
    more = _add_letter(world, added.dispute_id, NOW + dt.timedelta(days=3))
    assert more.dispute.answer_due_at == dt.datetime(2026, 12, 17, 5, 0, tzinfo=dt.UTC)
    assert more.dispute.statement.endswith("Here is the bank's letter.")
    round_30 = _sweep(world, plain.answer_due_at)
    assert set(round_30.lapsed) == {plain.dispute_id, own.dispute.dispute_id}
    assert _state(world, plain.item) is ItemState.SUPPRESSED
    assert round_30.rescore == ("alice",)  # it counted while pending; now it does not
    assert _state(world, added.item) is ItemState.DISPUTED
    round_45 = _sweep(world, more.dispute.answer_due_at)
    assert added.dispute_id in round_45.lapsed
    assert _state(world, added.item) is ItemState.SUPPRESSED


def test_an_answer_after_the_deadline_is_refused_before_the_sweep_has_run(
    world: World,
) -> None:
    """No answer by the deadline suppresses the item: one an hour late (the worker has not
    swept yet) is refused, and the sweep then suppresses the item."""
    d = world.file("alice", "L-1").dispute
    late = d.answer_due_at + dt.timedelta(hours=1)
    with pytest.raises(DisputeClosed, match="unanswered by then, the item is suppressed"):
        answering.answer_dispute(
            world.engine,
            world.lake_root,
            world.profile,
            LENDER_KEY,
            d.dispute_id,
            Answer.VERIFIED,
            now=late,
        )
    done = _sweep(world, late)
    assert d.dispute_id in done.lapsed
    assert _state(world, d.item) is ItemState.SUPPRESSED


def test_us_information_added_after_the_deadline_does_not_extend_it(
    engine: Engine, tmp_path: Path
) -> None:
    world = make_world(engine, tmp_path, "us")
    d = world.file("alice", "L-1").dispute
    late = d.answer_due_at + dt.timedelta(days=1)
    more = _add_letter(world, d.dispute_id, late)
    assert more.dispute.answer_due_at == d.answer_due_at
    done = _sweep(world, late)
    assert d.dispute_id in done.lapsed


def test_only_the_furnisher_answers(world: World) -> None:
    d = world.file("alice", "L-1").dispute
    other = Caller.partner("other-co", "k2", ("disputes",))
    for caller in (other, Caller.admin(), Caller.person("alice")):
        with pytest.raises(DisputeNotFound):
            answering.answer_dispute(
                world.engine, world.lake_root, world.profile, caller, d.dispute_id, Answer.DELETED
            )
    # The operator's own event is answered by the admin.
    own = world.file("alice", "K-1", source="operator-feed").dispute
    assert own.furnisher == "kaimen" and own.furnisher_notified_at == NOW
    done = answering.answer_dispute(
        world.engine,
        world.lake_root,
        world.profile,
        Caller.admin(),
        own.dispute_id,
        Answer.DELETED,
        now=NOW + dt.timedelta(hours=1),
    )
    assert done.dispute.state is DisputeState.DELETED


def _publish_month(world: World) -> None:
    register_models(world.engine, "card-1")
    with world.engine.begin() as store:
        store.execute(
            insert(score_runs).values(
                month="2026-10", model_version="card-1", people=2, published_at=NOW
            )
        )


def test_a_verified_item_stands_and_its_statement_travels_with_the_next_report(
    world: World,
) -> None:
    statement = "The loan was paid in cash at the branch; see the stamped receipt."
    d = world.file("alice", "L-1", statement=statement).dispute
    open_dispute = world.file("alice", "L-2").dispute
    answered = answering.answer_dispute(
        world.engine,
        world.lake_root,
        world.profile,
        LENDER_KEY,
        d.dispute_id,
        Answer.VERIFIED,
        now=NOW + dt.timedelta(days=1),
    )
    assert answered.dispute.state is DisputeState.VERIFIED
    assert answered.rescore == ("alice",)  # counted again under cn
    assert _state(world, d.item) is None
    _publish_month(world)
    with world.engine.begin() as store:
        consents.grant(store, "alice", LENDER, "report", NOW)
    report = reports.issue_report(
        world.engine,
        world.lake_root,
        LENDER,
        "alice",
        "tenancy",
        "partner:lender-a",
        now=NOW + dt.timedelta(days=1),
        profile=world.profile,
    )
    assert report.disputes is not None
    assert [(s.item_ref, s.statement) for s in report.disputes.statements] == [
        (d.item.ref, statement)
    ]
    assert [o.item_ref for o in report.disputes.open] == [open_dispute.item.ref]
    # A profile without those sections shows neither.
    bare = world.profile.model_copy(update={"report_sections": ("standing",)})
    own = reports.own_report(world.engine, world.lake_root, "alice", profile=bare)
    assert own.disputes is None


def _decision_for(world: World, partner_id: str, when: dt.datetime) -> None:
    with world.engine.begin() as store:
        partners.add(store, partner_id, f"{partner_id} Ltd", NOW - dt.timedelta(days=500))
        offer = offers.publish(
            store, partner_id, "Card", "a card", 600, NOW - dt.timedelta(days=500)
        )
        decisions.insert_decision(
            store,
            Decision(
                f"dec-{partner_id}",
                partner_id,
                offer.offer_id,
                "alice",
                when,
                None,
                None,
                False,
                None,
                None,
                (),
                False,
            ),
        )


def test_corrected_and_deleted_answers_notify_partners_that_decided_since(world: World) -> None:
    _decision_for(world, "bank-recent", dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    _decision_for(world, "bank-old", dt.datetime(2026, 8, 1, tzinfo=dt.UTC))  # before the item
    fixed = world.file("alice", "L-1").dispute
    gone = world.file("alice", "L-2").dispute
    corrected = answering.answer_dispute(
        world.engine,
        world.lake_root,
        world.profile,
        LENDER_KEY,
        fixed.dispute_id,
        Answer.CORRECTED,
        Correction({"status": "late", "paid_date": "2026-09-05"}, "paid four days late"),
        now=NOW + dt.timedelta(days=2),
    )
    assert corrected.notified == ("bank-recent",)
    assert corrected.rescore == ("alice",)
    new_event = corrected.correction_event
    assert new_event is not None and new_event.ref.startswith(f"{LENDER}/L-1.corr-")
    assert _state(world, fixed.item) is ItemState.CORRECTED
    with world.engine.connect() as store:
        source, event_id = new_event.event_key()
        row = store.execute(
            event_inbox.select().where(
                event_inbox.c.source == source, event_inbox.c.event_id == event_id
            )
        ).one()
        assert (row.status, row.person_id, str(row.paid_date)) == ("late", "alice", "2026-09-05")
    deleted = answering.answer_dispute(
        world.engine,
        world.lake_root,
        world.profile,
        LENDER_KEY,
        gone.dispute_id,
        Answer.DELETED,
        now=NOW + dt.timedelta(days=2),
    )
    assert deleted.notified == ("bank-recent",)
    assert _state(world, gone.item) is ItemState.SUPPRESSED
    with world.engine.connect() as store:
        told = [m for m in outbox.undelivered(store) if m.topic == ITEM_CHANGED]
    assert sorted((m.recipient, m.payload["state"]) for m in told) == [
        ("bank-recent", "corrected"),
        ("bank-recent", "suppressed"),
    ]
    assert all("name" not in m.payload for m in told)


def test_a_furnisher_notice_not_delivered_in_time_is_flagged_once(world: World) -> None:
    d = world.file("alice", "L-1").dispute
    first = _sweep(world, d.furnisher_notice_due_at)
    assert first.notices_late == (d.dispute_id,)
    assert first.delivery.retrying  # no webhook set: the notice waits in the outbox
    assert _sweep(world, d.furnisher_notice_due_at + dt.timedelta(hours=1)).notices_late == ()


def test_profiles_of_the_tests_are_the_shipped_ones() -> None:
    assert profiles.load("cn").dispute_answer.days == 20
    assert profiles.load("us").dispute_answer_extended.days == 45
