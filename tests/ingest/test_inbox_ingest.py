"""Events arriving over HTTP: held in the store's inbox, sealed into the lake later, and never
counted twice whichever door (request or file) an event comes in by first."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from kaimen.domain.errors import BatchRejected
from kaimen.ingest.file_ingest import ingest_file
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.store import audit
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import audit_log, event_inbox, ingest_batches
from tests.conftest import NOW
from tests.ingest import events_factory as f

CONFLICT = (
    "already recorded from this source with different content; "
    "correct a recorded event through a dispute"
)


@pytest.fixture
def people(engine: Engine, vault: IdentityVault) -> list[str]:
    return f.enrol(engine, vault)


def accept(engine: Engine, lake_root: Path, events: list[dict[str, str]]) -> tuple[int, int, int]:
    report = accept_events(engine, lake_root, events, "admin", now=NOW)
    return report.total, report.new, report.duplicate


def seal(engine: Engine, lake_root: Path) -> tuple[int, int, int]:
    report = seal_inbox(engine, lake_root, "admin", now=NOW)
    return report.total, report.new, report.duplicate


def from_file(engine: Engine, lake_root: Path, path: Path) -> tuple[int, int, int]:
    report = ingest_file(engine, lake_root, path, "tester", now=NOW)
    return report.total, report.new, report.duplicate


def test_accepted_events_wait_in_the_inbox_until_sealed(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    events = f.sample_events(30)
    assert accept(engine, lake_root, events) == (30, 30, 0)
    state = f.state(engine, lake_root)
    assert (state["event_inbox"], state["ingest_batches"], state["parquet_files"]) == (30, 0, [])
    with engine.connect() as store:
        entry = store.execute(select(audit_log).order_by(audit_log.c.seq.desc())).first()
        stored = store.execute(select(event_inbox).order_by(event_inbox.c.inbox_id)).all()
    assert entry is not None
    assert (entry.action, json.loads(entry.details)) == (
        "events.received",
        {"total": 30, "new": 30, "duplicate": 0},
    )
    assert [r.event_id for r in stored] == [e["event_id"] for e in events]
    assert all(r.sealed_batch_id is None for r in stored)

    later = NOW + dt.timedelta(hours=1)
    report = seal_inbox(engine, lake_root, "admin", now=later)
    assert (report.total, report.new, report.duplicate) == (30, 30, 0)
    with engine.connect() as store:
        batch = store.execute(select(ingest_batches)).one()
        sealed = store.execute(select(event_inbox.c.sealed_batch_id)).scalars().all()
    assert (batch.batch_id, batch.channel, batch.events_new) == (report.batch_id, "seal", 30)
    assert sealed == [report.batch_id] * 30
    lake = f.lake_events(engine, lake_root)
    assert [r["event_id"] for r in lake] == [e["event_id"] for e in events]
    # Not sent, recorded_at is the time of receipt, not the time of sealing.
    assert lake[0]["recorded_at"] == NOW
    assert audit.verify(engine) == 3  # enrolment, received, sealed

    assert seal_inbox(engine, lake_root, "admin", now=later).total == 0
    assert len(f.lake_events(engine, lake_root)) == 30


def test_sealed_events_match_the_same_events_ingested_from_a_file(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """The inbox keeps the text it was given, so sealing types it exactly as a file would."""
    events = f.sample_events()
    accept(engine, lake_root, [{**e, "source": "via-http"} for e in events])
    seal(engine, lake_root)
    path = f.write(tmp_path / "same.csv", [{**e, "source": "via-file"} for e in events])
    assert from_file(engine, lake_root, path) == (44, 44, 0)
    rows: dict[str, list[dict[str, object]]] = {}
    for row in f.lake_events(engine, lake_root):
        row.pop("content_hash", None)
        rows.setdefault(str(row.pop("source")), []).append(row)
    assert rows["via-http"] == rows["via-file"]


def test_bad_request_stores_nothing_and_names_every_bad_event(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    events = f.sample_events(25)
    events[0] = f.event("payment", "bad-a", occurred_at="2026-09-15T10:00:00")
    events[17] = f.event("friend_link", "bad-b", friend_id="P404")
    before = f.state(engine, lake_root)
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, events, "admin", now=NOW)
    assert f.problems(caught.value) == [
        (1, "occurred_at", "has no UTC offset; add Z or one like +08:00"),
        (18, "friend_id", "not an enrolled person: P404"),
    ]
    assert f.state(engine, lake_root) == before


def test_unknown_field_in_a_record_is_rejected(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    events = f.sample_events(3)
    events[1] = {**events[1], "colour": "red"}
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, events, "admin", now=NOW)
    assert f.problems(caught.value) == [(2, "colour", "unknown field")]
    assert f.state(engine, lake_root)["event_inbox"] == 0


def test_replayed_request_reports_duplicates_before_and_after_sealing(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    events = f.sample_events(20)
    assert accept(engine, lake_root, events) == (20, 20, 0)
    assert accept(engine, lake_root, list(reversed(events))) == (20, 0, 20)
    assert f.state(engine, lake_root)["event_inbox"] == 20
    assert seal(engine, lake_root) == (20, 20, 0)
    lake = f.state(engine, lake_root)["parquet_files"]
    assert accept(engine, lake_root, events[10:] + f.sample_events(25)[20:]) == (15, 5, 10)
    assert f.state(engine, lake_root)["event_inbox"] == 25
    assert seal(engine, lake_root) == (5, 5, 0)
    assert len(f.lake_events(engine, lake_root)) == 25
    assert set(lake) < set(f.state(engine, lake_root)["parquet_files"])


def test_parallel_resends_of_held_events_are_all_answered_as_duplicates(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    """A partner resending a batch from many connections at once: each resend only reads and
    audits, and on SQLite two of them used to read the audit chain's head together and one
    failed (a 500 over HTTP)."""
    events = f.sample_events(1)
    assert accept(engine, lake_root, events) == (1, 1, 0)
    audited = audit.verify(engine)
    writers, rounds = 24, 3
    for _ in range(rounds):
        start = threading.Barrier(writers)

        def resend(_: int, start: threading.Barrier = start) -> tuple[int, int, int]:
            start.wait()
            return accept(engine, lake_root, events)

        with ThreadPoolExecutor(max_workers=writers) as pool:
            assert list(pool.map(resend, range(writers))) == [(1, 0, 1)] * writers
    assert audit.verify(engine) == audited + rounds * writers


def test_overlapping_new_batches_at_once_are_each_stored_once(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    """Requests sharing some new events, at once: each is answered, every event is stored
    once. They inserted in their own line order, so on PostgreSQL two locked the same keys in
    opposite orders and deadlocked, and on SQLite the losers gave up after three rounds:
    500s, even with four requests at once."""
    pool_of = f.sample_events(60)
    draw = random.Random(5)
    writers = 8
    batches = [draw.sample(pool_of, 30) for _ in range(writers)]
    start = threading.Barrier(writers)

    def send(batch: list[dict[str, str | None]]) -> tuple[int, int, int]:
        start.wait()
        return accept(engine, lake_root, batch)

    with ThreadPoolExecutor(max_workers=writers) as pool:
        answered = list(pool.map(send, batches))
    assert all(total == 30 and new + duplicate == 30 for total, new, duplicate in answered)
    stored = {(e["source"], e["event_id"]) for b in batches for e in b}
    assert sum(new for _, new, _ in answered) == len(stored)
    assert f.state(engine, lake_root)["event_inbox"] == len(stored)


def test_duplicate_within_a_request_is_counted_once(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    events = f.sample_events(8)
    assert accept(engine, lake_root, [*events, events[2], events[5]]) == (10, 8, 2)
    assert f.state(engine, lake_root)["event_inbox"] == 8


@pytest.mark.parametrize("sealed", [False, True], ids=["in-inbox", "in-lake"])
def test_conflicting_resend_is_rejected(
    engine: Engine, lake_root: Path, people: list[str], sealed: bool
) -> None:
    original = f.event("payment", "pay-1")
    accept(engine, lake_root, [original])
    if sealed:
        seal(engine, lake_root)
    before = f.state(engine, lake_root)
    with pytest.raises(BatchRejected) as caught:
        accept_events(
            engine,
            lake_root,
            [f.event("donation", "d1"), {**original, "amount": "13"}],
            "admin",
            now=NOW,
        )
    assert f.problems(caught.value) == [(2, "event_id", CONFLICT)]
    assert f.state(engine, lake_root) == before


def test_conflicting_resend_in_another_month_is_rejected(
    engine: Engine, lake_root: Path, people: list[str]
) -> None:
    """(source, event_id) names one event whatever it says: moving it to another month is a
    change of content, not a new event."""
    original = f.event("payment", "pay-1", occurred_at="2026-09-15T10:00:00Z")
    accept(engine, lake_root, [original])
    seal(engine, lake_root)
    moved = {**original, "occurred_at": "2026-10-15T10:00:00Z"}
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, [moved], "admin", now=NOW)
    assert f.problems(caught.value) == [(1, "event_id", CONFLICT)]
    assert seal(engine, lake_root) == (0, 0, 0)
    assert f.raw_rows(lake_root) == 1


# --- one event, two doors --------------------------------------------------------------------


def test_file_event_later_sent_over_http_is_a_duplicate(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events(12)
    assert from_file(engine, lake_root, f.write(tmp_path / "a.parquet", events)) == (12, 12, 0)
    assert accept(engine, lake_root, events[6:]) == (6, 0, 6)
    assert f.state(engine, lake_root)["event_inbox"] == 0
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, [{**events[0], "amount": "1.00"}], "admin", now=NOW)
    assert f.problems(caught.value) == [(1, "event_id", CONFLICT)]


def test_http_event_sealed_then_sent_in_a_file_is_a_duplicate(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events(12)
    accept(engine, lake_root, events[:6])
    seal(engine, lake_root)
    assert from_file(engine, lake_root, f.write(tmp_path / "b.csv", events)) == (12, 6, 6)
    assert len(f.lake_events(engine, lake_root)) == 12
    assert f.raw_rows(lake_root) == 12


def test_http_event_not_yet_sealed_then_sent_in_a_file_is_a_duplicate(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """Accepted means stored: a file carrying the same event before the next seal must not
    count it as new a second time."""
    events = f.sample_events(12)
    assert accept(engine, lake_root, events[:6]) == (6, 6, 0)
    assert from_file(engine, lake_root, f.write(tmp_path / "b.csv", events)) == (12, 6, 6)
    assert seal(engine, lake_root)[0] == 6
    assert len(f.lake_events(engine, lake_root)) == 12
    assert f.raw_rows(lake_root) == 12


def test_file_conflicting_with_an_unsealed_http_event_is_rejected_and_seal_still_works(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    original = f.event("payment", "pay-1")
    accept(engine, lake_root, [original])
    changed = f.write(tmp_path / "c.csv", [{**original, "amount": "99.00"}])
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, changed, "tester", now=NOW)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "event_id")]
    # Whatever the file did, the inbox must still seal.
    assert seal(engine, lake_root)[0] == 1
