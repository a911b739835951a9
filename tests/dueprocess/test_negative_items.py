"""The items a person can choose to dispute: their negative events, sealed in the lake or
still in the inbox, never a positive one or someone else's, each with its standing now; and
every one offered is one `file_dispute` accepts. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from kaimen.domain.disputes import ItemRef, ItemState
from kaimen.dueprocess.negative_items import negative_items_of
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from tests.dueprocess.world import LENDER, NOW, loan_event, make_world
from tests.store.score_rows import enrol


def test_negative_events_sealed_or_not_each_with_its_standing(
    engine: Engine, tmp_path: Path
) -> None:
    world = make_world(engine, tmp_path)
    seal_inbox(engine, world.lake_root, "admin", NOW - dt.timedelta(days=20))
    # Received after the seal: still in the inbox, disputable already.
    late = {**loan_event("alice", "L-3", status="late"), "paid_date": "2026-09-20"}
    accept_events(engine, world.lake_root, [late], "admin", NOW - dt.timedelta(days=10))

    offered = negative_items_of(engine, world.lake_root, "alice")
    refs = [str(i.item) for i in offered]
    assert sorted(refs) == sorted(
        [
            f"event:{LENDER}/L-1",
            f"event:{LENDER}/L-2",
            f"event:{LENDER}/L-3",
            "event:operator-feed/K-1",
        ]
    )
    l3 = next(i for i in offered if i.item == ItemRef.event(LENDER, "L-3"))
    assert (l3.what, l3.detail, l3.state) == ("loan_repayment", "late 1200.00 CNY", None)
    assert all(i.occurred_at.tzinfo is not None for i in offered)
    assert [str(i.item) for i in negative_items_of(engine, world.lake_root, "bob")] == [
        f"event:{LENDER}/B-1"
    ]

    # Each one offered can be disputed, and then says it is.
    for item in offered:
        source, event_id = item.item.event_key()
        world.file("alice", event_id, source=source)
    after = negative_items_of(engine, world.lake_root, "alice")
    assert {i.state for i in after} == {ItemState.DISPUTED}
    assert sorted(str(i.item) for i in after) == sorted(refs)


def test_nothing_offered_to_someone_with_no_negative_item(engine: Engine, tmp_path: Path) -> None:
    world = make_world(engine, tmp_path)
    enrol(engine, "carol")
    assert negative_items_of(engine, world.lake_root, "carol") == []
