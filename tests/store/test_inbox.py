"""The event inbox: each (source, event_id) once, fields kept exactly as submitted, and an
event leaves the unsealed set only when its sealing batch is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.store import inbox, lake_manifest
from kaimen.store.inbox import InboxEvent
from tests.store.store_rows import T0, enrol


def received(source: str, event_id: str, person_id: str = "P1", **fields: str | None) -> InboxEvent:
    submitted = {"source": source, "event_id": event_id, "person_id": person_id, **fields}
    return InboxEvent(
        source, event_id, person_id, "2026-02", f"hash-{source}-{event_id}", submitted
    )


@pytest.fixture
def engine_with_people(engine: Engine) -> Engine:
    enrol(engine, "P1", "P2")
    return engine


def add(engine: Engine, *events: InboxEvent) -> None:
    with engine.begin() as connection:
        inbox.add(connection, list(events), T0)


def test_events_wait_in_arrival_order_with_their_fields_as_submitted(
    engine_with_people: Engine,
) -> None:
    engine = engine_with_people
    add(engine, received("bank-a", "e2", merchant_category="café ☕", due_date=None))
    add(engine, received("bank-a", "e1", "P2"), received("bank-b", "e1"))
    add(engine)  # nothing: a no-op
    with engine.connect() as connection:
        waiting = inbox.unsealed(connection)
        keys = inbox.unsealed_keys(connection)
    assert [fields["event_id"] for _, fields in waiting] == ["e2", "e1", "e1"]
    assert [fields["source"] for _, fields in waiting] == ["bank-a", "bank-a", "bank-b"]
    assert waiting[0][1] == {
        "source": "bank-a",
        "event_id": "e2",
        "person_id": "P1",
        "merchant_category": "café ☕",
        "due_date": None,
    }
    assert [inbox_id for inbox_id, _ in waiting] == sorted(inbox_id for inbox_id, _ in waiting)
    assert sorted(keys) == [
        ("bank-a", "e1", "hash-bank-a-e1"),
        ("bank-a", "e2", "hash-bank-a-e2"),
        ("bank-b", "e1", "hash-bank-b-e1"),
    ]


def test_known_keys_finds_what_is_already_in_the_inbox_in_chunks(
    engine_with_people: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with_people
    add(engine, *(received("bank-a", f"e{i}") for i in range(5)))
    monkeypatch.setattr(inbox, "KEY_CHUNK", 2)
    asked = [("bank-a", f"e{i}") for i in range(7)] + [("bank-b", "e0")]
    with engine.connect() as connection:
        found = inbox.known_keys(connection, asked)
        assert inbox.known_keys(connection, []) == {}
    assert found == {("bank-a", f"e{i}"): f"hash-bank-a-e{i}" for i in range(5)}


def test_the_same_event_twice_is_refused_whole(engine_with_people: Engine) -> None:
    engine = engine_with_people
    add(engine, received("bank-a", "e1"))
    with pytest.raises(IntegrityError):
        add(engine, received("bank-a", "e2"), received("bank-a", "e1", "P2"))
    with engine.connect() as connection:
        assert [f["event_id"] for _, f in inbox.unsealed(connection)] == ["e1"]


def test_an_event_about_no_enrolled_person_is_refused(engine_with_people: Engine) -> None:
    with pytest.raises(IntegrityError):
        add(engine_with_people, received("bank-a", "e1", "nobody"))


def test_sealed_events_no_longer_wait(
    engine_with_people: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with_people
    add(engine, *(received("bank-a", f"e{i}") for i in range(5)))
    monkeypatch.setattr(inbox, "KEY_CHUNK", 2)
    with engine.begin() as connection:
        ids = [inbox_id for inbox_id, _ in inbox.unsealed(connection)]
        batch_id = lake_manifest.record_batch(
            connection, channel="seal", received_at=T0, events_total=4, events_new=4, files=[]
        )
        inbox.mark_sealed(connection, ids[:4], batch_id)
    with engine.connect() as connection:
        assert [f["event_id"] for _, f in inbox.unsealed(connection)] == ["e4"]
        assert inbox.unsealed_keys(connection) == [("bank-a", "e4", "hash-bank-a-e4")]
        # Sealed events are still known: a resend is a duplicate, not new.
        assert len(inbox.known_keys(connection, [("bank-a", "e0"), ("bank-a", "e4")])) == 2


def test_sealing_into_no_recorded_batch_is_refused(engine_with_people: Engine) -> None:
    engine = engine_with_people
    add(engine, received("bank-a", "e1"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        [(inbox_id, _)] = inbox.unsealed(connection)
        inbox.mark_sealed(connection, [inbox_id], 12345)
    with engine.connect() as connection:
        assert len(inbox.unsealed(connection)) == 1
