"""The event inbox: each (source, event_id) once, typed as judged on receipt, and an event
leaves the unsealed set only when its sealing batch is recorded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.store import inbox, lake_manifest
from tests.store.inbox_rows import OCCURRED, rows, typed_event
from tests.store.store_rows import T0, enrol


@pytest.fixture
def engine_with_people(engine: Engine) -> Engine:
    enrol(engine, "P1", "P2")
    return engine


def add(engine: Engine, *events: dict[str, object]) -> None:
    with engine.begin() as connection:
        inbox.add(connection, rows(*events), T0)


def test_events_wait_in_arrival_order_typed_as_received(engine_with_people: Engine) -> None:
    engine = engine_with_people
    add(
        engine,
        typed_event(
            "bank-a",
            "e2",
            content_hash=7,
            kind="payment",
            amount="12.50",
            currency="CNY",
            merchant_category="café ☕",
            due_date=dt.date(2026, 3, 1),
        ),
    )
    add(engine, typed_event("bank-a", "e1", "P2", 5), typed_event("bank-b", "e1", content_hash=6))
    add(engine)  # nothing: a no-op
    with engine.connect() as connection:
        ids, waiting = inbox.unsealed(connection)
        keys = inbox.unsealed_keys(connection)
    assert ids == sorted(ids)
    assert waiting.column("event_id").to_pylist() == ["e2", "e1", "e1"]
    first = waiting.slice(0, 1).to_pylist()[0]
    assert (first["amount"], first["merchant_category"], first["due_date"]) == (
        Decimal("12.50"),
        "café ☕",
        dt.date(2026, 3, 1),
    )
    assert first["occurred_at"] == OCCURRED and first["schema_version"] == 1
    assert (first["month"], first["content_hash"], first["paid_date"]) == ("2026-02", 7, None)
    assert sorted(keys) == [("bank-a", "e1", 5), ("bank-a", "e2", 7), ("bank-b", "e1", 6)]


def test_the_same_event_twice_is_refused_whole(engine_with_people: Engine) -> None:
    engine = engine_with_people
    add(engine, typed_event("bank-a", "e1"))
    with pytest.raises(IntegrityError):
        add(engine, typed_event("bank-a", "e2"), typed_event("bank-a", "e1", "P2"))
    with engine.connect() as connection:
        assert inbox.unsealed(connection)[1].column("event_id").to_pylist() == ["e1"]


def test_an_event_about_no_enrolled_person_is_refused(engine_with_people: Engine) -> None:
    with pytest.raises(IntegrityError):
        add(engine_with_people, typed_event("bank-a", "e1", "nobody"))


def test_sealed_events_no_longer_wait(
    engine_with_people: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with_people
    add(engine, *(typed_event("bank-a", f"e{i}", content_hash=i + 1) for i in range(5)))
    monkeypatch.setattr(inbox, "KEY_CHUNK", 2)
    with engine.begin() as connection:
        ids, _ = inbox.unsealed(connection)
        batch_id = lake_manifest.record_batch(
            connection, channel="seal", received_at=T0, events_total=4, events_new=4, files=[]
        )
        inbox.mark_sealed(connection, ids[:4], batch_id)
    with engine.connect() as connection:
        assert inbox.unsealed(connection)[1].column("event_id").to_pylist() == ["e4"]
        assert inbox.unsealed_keys(connection) == [("bank-a", "e4", 5)]


def test_sealing_into_no_recorded_batch_is_refused(engine_with_people: Engine) -> None:
    engine = engine_with_people
    add(engine, typed_event("bank-a", "e1"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        ids, _ = inbox.unsealed(connection)
        inbox.mark_sealed(connection, ids, 12345)
    with engine.connect() as connection:
        assert len(inbox.unsealed(connection)[0]) == 1
