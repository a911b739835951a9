"""Everything the store holds about one person: read whole for their export, removed whole
when they leave, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain.decisions import Decision
from kaimen.store import (
    access_log,
    consents,
    decisions,
    inbox,
    lake_manifest,
    person_data,
    score_publishing,
)
from kaimen.store import scores as score_store
from kaimen.store.tables import event_inbox, people
from tests.store.inbox_rows import rows, typed_event
from tests.store.score_rows import (
    PARTNER,
    T0,
    enrol,
    partner_with_offer,
    register_models,
    snapshot,
)

LATER = T0 + dt.timedelta(hours=1)


def _event(event_id: str, person_id: str, **fields: str) -> pa.Table:
    return rows(typed_event("shop", event_id, person_id, **fields))


def _seal(engine: Engine, *event_ids: str) -> None:
    with engine.begin() as store:
        batch = lake_manifest.record_batch(
            store, channel="seal", received_at=T0, events_total=0, events_new=0, files=[]
        )
        ids = store.execute(
            select(event_inbox.c.inbox_id).where(event_inbox.c.event_id.in_(event_ids))
        ).scalars()
        inbox.mark_sealed(store, list(ids), batch)


@pytest.fixture
def held(engine: Engine) -> Engine:
    """P1 and P2 with snapshots under two models, a consent, a decision, an access-log entry
    and events in the inbox (P2 names P1 as a friend, once sealed and once not)."""
    enrol(engine, "P1", "P2", "P10")
    register_models(engine, "card-1", "card-2")
    offer = partner_with_offer(engine)
    with engine.begin() as store:
        for month, version, at in (
            ("2026-09", "card-1", T0),
            ("2026-10", "card-1", T0),
            ("2026-10", "card-2", LATER),
        ):
            rows = [snapshot(p, month, version, at) for p in ("P1", "P2")]
            score_publishing.publish(store, month, version, rows, at)
        consents.grant(store, "P1", PARTNER, "decision", T0)
        decisions.insert_decision(
            store,
            Decision(
                "d-1", PARTNER, offer.offer_id, "P1", T0, "2026-10", "card-2", True, 610, 0,
                (), False,
            ),
        )  # fmt: skip
        access_log.record(store, "P1", f"partner:{PARTNER}", "decision", "decision", {}, T0)
        inbox.add(store, _event("e-1", "P1", kind="payment", amount="12.50"), T0)
        inbox.add(store, _event("e-2", "P1", kind="payment", amount="3.00"), LATER)
        for friend_event, friend in (("f-1", "P1"), ("f-2", "P1"), ("f-3", "P10")):
            inbox.add(store, _event(friend_event, "P2", kind="friend_link", friend_id=friend), T0)
    _seal(engine, "e-1", "f-1")
    return engine


def test_every_snapshot_of_every_model_newest_month_first(held: Engine) -> None:
    with held.connect() as store:
        every = person_data.all_snapshots(store, "P1")
        latest_per_month = score_store.history(store, "P1")
    assert [(s.month, s.model_version, s.published_at) for s in every] == [
        ("2026-10", "card-2", LATER),
        ("2026-10", "card-1", T0),
        ("2026-09", "card-1", T0),
    ]
    assert every[0] == snapshot("P1", "2026-10", "card-2", LATER)
    assert latest_per_month == [every[0], every[2]]


def test_the_events_still_in_the_inbox_oldest_first(held: Engine) -> None:
    with held.connect() as store:
        waiting = person_data.unsealed_events(store, "P1")
        assert person_data.unsealed_events(store, "P10") == []
    assert [(e.received_at, e.fields["event_id"], e.fields["amount"]) for e in waiting] == [
        (LATER, "e-2", "3.00")
    ]


def test_erasing_removes_every_row_naming_the_person_and_only_theirs(held: Engine) -> None:
    with held.begin() as store:
        assert person_data.begin_opt_out(store, "P1")
        removed = person_data.erase(store, "P1")
        assert not person_data.begin_opt_out(store, "P1")
    assert {table: n for table, n in removed.items() if n} == {
        "identities": 2,
        "score_snapshots": 3,
        "consents": 1,
        "decisions": 1,
        "access_log": 1,
        "event_inbox": 2,
    }
    with held.connect() as store:
        record = person_data.person(store, "P1")
        assert record is not None and (record.status, record.birth_date) == ("opted_out", None)
        assert person_data.all_snapshots(store, "P1") == []
        assert len(person_data.all_snapshots(store, "P2")) == 3
        assert store.execute(select(func.count()).select_from(people)).scalar_one() == 3


def test_every_table_referring_to_a_person_is_cleared(held: Engine) -> None:
    tables = [column.table.name for column in person_data.personal_columns()]
    assert {
        "identities",
        "event_inbox",
        "score_snapshots",
        "person_tokens",
        "consents",
        "access_log",
        "decisions",
        "alerts",
    } <= set(tables)
    assert "people" not in tables


def test_friend_links_to_the_person_are_cut_from_the_inbox(held: Engine) -> None:
    with held.begin() as store:
        assert person_data.cut_inbox_links(store, "P1") == (1, 1)
        assert person_data.cut_inbox_links(store, "P1") == (0, 0)
        left = dict(store.execute(select(event_inbox.c.event_id, event_inbox.c.friend_id)).all())
    # f-1 was sealed: kept without the link; f-2 was not: dropped; P10 is not P1.
    assert left["f-1"] is None and "f-2" not in left
    assert left["f-3"] == "P10"
