"""Filing disputes: the person's own negative items only, a statement within the profile's
word limit, evidence of known types and bounded size, everything recorded at once; on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.disputes import (
    MAX_EVIDENCE_BYTES,
    DisputeRejected,
    DisputeState,
    Evidence,
    ItemNotFound,
    ItemRef,
    ItemState,
)
from kaimen.domain.errors import Forbidden
from kaimen.dueprocess import disputing, evidence
from kaimen.sharing import own_data
from kaimen.store import access_log, outbox
from kaimen.store import disputes as dispute_rows
from kaimen.store.tables import audit_log, dispute_evidence, disputes, outbox_messages
from tests.dueprocess.world import LENDER, NOW, World, make_world

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    return make_world(engine, tmp_path)


def test_a_person_disputes_their_own_event_and_everything_is_recorded_at_once(
    world: World,
) -> None:
    receipt = Evidence("receipt.pdf", PDF)
    filed = world.file("alice", "L-1", evidence=[receipt])
    d = filed.dispute
    assert (d.state, d.furnisher, d.item) == (
        DisputeState.OPEN,
        LENDER,
        ItemRef.event(LENDER, "L-1"),
    )
    # cn: 20 days from the local (Shanghai) date of filing, to the first instant after it.
    assert d.answer_due_at == dt.datetime(2026, 11, 22, 16, 0, tzinfo=dt.UTC)
    assert d.furnisher_notice_due_at > NOW
    assert d.item_occurred_at == dt.datetime(2026, 9, 10, 8, 0, tzinfo=dt.UTC)
    # cn does not count a disputed item while pending: the person is re-scored now.
    assert filed.rescore == ("alice",)
    with world.engine.connect() as store:
        state = dispute_rows.item_state(store, d.item)
        assert state is not None and state.state is ItemState.DISPUTED
        [message] = outbox.messages_of_dispute(store, d.dispute_id)
        assert (message.recipient, message.topic) == (LENDER, disputing.DISPUTE_FILED)
        assert message.payload["statement"] == d.statement
        assert "name" not in message.payload and "national_id" not in message.payload
        [logged] = access_log.of_person(store, "alice")
        assert logged.disclosed["dispute_id"] == d.dispute_id
        actions = list(store.execute(select(audit_log.c.action)).scalars())
        assert actions[-1] == disputing.DISPUTE_FILED
        [row] = store.execute(select(dispute_evidence)).all()
    assert (row.media_type, row.original_name, row.size) == (
        "application/pdf",
        "receipt.pdf",
        len(PDF),
    )
    stored = evidence.path_of(world.evidence_dir, row.sha256)
    assert stored.read_bytes() == PDF


def test_someone_elses_item_or_a_positive_one_is_refused_and_nothing_stored(world: World) -> None:
    with pytest.raises(ItemNotFound):
        world.file("alice", "B-1")  # bob's
    with pytest.raises(ItemNotFound):
        world.file("alice", "no-such-event")
    with pytest.raises(DisputeRejected, match="not a negative item"):
        world.file("alice", "L-ok")
    with pytest.raises(Forbidden):
        disputing.file_dispute(
            world.engine,
            world.lake_root,
            world.evidence_dir,
            world.profile,
            Caller.person("bob"),
            "alice",
            ItemRef.event(LENDER, "L-1"),
            "not mine",
        )
    assert world.count(disputes) == world.count(outbox_messages) == 0


def test_a_refused_dispute_leaves_no_evidence_on_disk(world: World) -> None:
    """The files were written before the dispute was judged: a refused one left them (the
    person's details in them) with no row to find them by, so opting out could not remove
    them, and any person could fill the disk."""
    receipt = Evidence("receipt.txt", b"paid in full by Alice, phone 13800000000")
    for item in ("no-such-event", "L-ok"):
        with pytest.raises((ItemNotFound, DisputeRejected)):
            world.file("alice", item, evidence=[receipt])
    assert world.count(disputes) == world.count(dispute_evidence) == 0
    assert [p for p in world.evidence_dir.rglob("*") if p.is_file()] == []
    # The same file, held by a dispute that stands, is kept.
    kept = world.file("alice", "L-1", evidence=[receipt]).evidence[0]
    with pytest.raises(ItemNotFound):
        world.file("alice", "no-such-event", evidence=[receipt])
    assert evidence.path_of(world.evidence_dir, kept.sha256).is_file()


def _words(n: int) -> str:
    return " ".join(["wrong"] * n)


def test_statement_limits_follow_the_profile(engine: Engine, tmp_path: Path) -> None:
    cn = make_world(engine, tmp_path)
    us = World(cn.engine, cn.lake_root, cn.evidence_dir, profiles.load("us"))
    with pytest.raises(DisputeRejected, match="150 words; United States"):
        us.file("alice", "L-1", statement=_words(150))
    assert cn.file("alice", "L-1", statement=_words(150)).dispute.state is DisputeState.OPEN
    with pytest.raises(DisputeRejected, match="201 words"):
        cn.file("alice", "L-2", statement=_words(201))
    # Chinese counts each character as a word.
    with pytest.raises(DisputeRejected, match="101 words"):
        us.file("alice", "L-2", statement="错" * 101)
    assert cn.count(disputes) == 1


@pytest.mark.parametrize(
    ("file", "refusal"),
    [
        (Evidence("setup.pdf", b"MZ\x90\x00\x03\x00\x00\x00"), "not a PDF, PNG, JPEG"),
        (Evidence("photo.pdf", PNG), "holds image/png"),
        (Evidence("big.txt", b"a" * (MAX_EVIDENCE_BYTES + 1)), "at most"),
        (Evidence("empty.txt", b""), "is empty"),
        (Evidence("../../etc/\x00x.txt", b"hello"), "control characters"),
    ],
)
def test_evidence_of_unknown_type_or_size_is_refused(
    world: World, file: Evidence, refusal: str
) -> None:
    with pytest.raises(DisputeRejected, match=refusal):
        world.file("alice", "L-1", evidence=[file])
    assert world.count(disputes) == world.count(dispute_evidence) == 0
    assert not world.evidence_dir.exists()


def test_too_many_evidence_files_are_refused(world: World) -> None:
    files = [Evidence(f"note-{i}.txt", f"note {i}".encode()) for i in range(6)]
    with pytest.raises(DisputeRejected, match="at most 5"):
        world.file("alice", "L-1", evidence=files)


def test_a_repeat_dispute_is_accepted_and_names_the_one_before(world: World) -> None:
    first = world.file("alice", "L-1").dispute
    second = world.file("alice", "L-1", now=NOW + dt.timedelta(days=1)).dispute
    assert second.previous_dispute_id == first.dispute_id
    with world.engine.connect() as store:
        state = dispute_rows.item_state(store, first.item)
    assert state is not None and state.dispute_id == second.dispute_id
    # The person's view lists both, newest first.
    views = disputing.disputes_of(world.engine, Caller.person("alice"), "alice")
    assert [v.dispute.dispute_id for v in views] == [second.dispute_id, first.dispute_id]


def test_reading_a_persons_disputes_is_in_their_access_log(world: World) -> None:
    """The admin's look leaves a row, the person's own does not (the log lists what others
    saw); nobody else may look."""
    world.file("alice", "L-1")
    with world.engine.connect() as store:
        before = {r.access_id for r in access_log.of_person(store, "alice")}
    disputing.disputes_of(world.engine, Caller.person("alice"), "alice", now=NOW)
    disputing.disputes_of(world.engine, Caller.admin(), "alice", now=NOW)
    with pytest.raises(Forbidden):
        disputing.disputes_of(world.engine, Caller.person("bob"), "alice", now=NOW)
    with world.engine.connect() as store:
        rows = [r for r in access_log.of_person(store, "alice") if r.access_id not in before]
    assert sorted((r.actor, r.purpose, r.what, r.disclosed) for r in rows) == [
        ("admin", "dispute", "disputes", {"disputes": 1}),
    ]


def test_a_person_who_disputed_can_leave_and_the_dispute_goes_with_them(world: World) -> None:
    """The dispute's evidence and its notice in the outbox refer to the dispute, not to the
    person: the opt-out failed on their foreign keys (a 500, exit 70) and kept everything."""
    filed = world.file("alice", "L-1", evidence=[Evidence("receipt.pdf", PDF)])
    dispute_id = filed.dispute.dispute_id
    [kept] = filed.evidence
    stored = evidence.path_of(world.evidence_dir, kept.sha256)
    assert stored.read_bytes() == PDF
    report = own_data.opt_out(
        world.engine,
        world.lake_root,
        "alice",
        "person:alice",
        now=NOW,
        evidence_dir=world.evidence_dir,
    )
    assert not stored.exists()  # the file their evidence was kept in goes too
    assert report.files_left == []
    assert report.rows_removed["outbox_messages"] == 1
    assert report.rows_removed["dispute_evidence"] == 1
    with world.engine.connect() as store:
        for table in (disputes, dispute_evidence):
            assert store.execute(select(table).where(table.c.dispute_id == dispute_id)).all() == []
        assert outbox.messages_of_dispute(store, dispute_id) == []
        assert store.execute(select(outbox_messages)).all() == []
