"""A small world the due-process tests start from: people, partners and events put in through
kaimen's own services and store functions (the inbox ingest for events)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.disputes import ItemRef
from kaimen.domain.profiles import Profile
from kaimen.dueprocess import disputing
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.store import partners
from kaimen.store.disputes import DisputeRecord
from tests.store.score_rows import enrol

NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai, 22:00 in New York
LENDER = "lender-a"


def loan_event(
    person_id: str, event_id: str, status: str = "defaulted", source: str = LENDER
) -> dict[str, str | None]:
    return {
        "source": source,
        "event_id": event_id,
        "person_id": person_id,
        "kind": "loan_repayment",
        "occurred_at": "2026-09-10T08:00:00+00:00",
        "amount": "1200.00",
        "currency": "CNY",
        "due_date": "2026-09-01",
        "paid_date": None if status == "defaulted" else "2026-08-30",
        "status": status,
    }


@dataclass
class World:
    engine: Engine
    lake_root: Path
    evidence_dir: Path
    profile: Profile

    def file(
        self,
        person_id: str,
        event_id: str,
        statement: str = "I repaid this loan on time; the bank recorded it against someone else.",
        now: dt.datetime = NOW,
        source: str = LENDER,
        **more: object,
    ) -> disputing.Filed:
        return disputing.file_dispute(
            self.engine,
            self.lake_root,
            self.evidence_dir,
            self.profile,
            Caller.person(person_id),
            person_id,
            ItemRef.event(source, event_id),
            statement,
            now=now,
            **more,  # type: ignore[arg-type]
        )

    def count(self, table: object) -> int:
        with self.engine.connect() as store:
            return int(store.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def make_world(engine: Engine, tmp_path: Path, profile: str = "cn") -> World:
    enrol(engine, "alice", "bob")
    with engine.begin() as store:
        partners.add(store, LENDER, "Lender A", NOW - dt.timedelta(days=400))
    world = World(engine, tmp_path / "lake", tmp_path / "evidence", profiles.load(profile))
    events = [
        loan_event("alice", "L-1"),
        loan_event("alice", "L-2"),
        loan_event("alice", "L-ok", status="on_time"),
        loan_event("bob", "B-1"),
        loan_event("alice", "K-1", source="operator-feed"),
    ]
    accept_events(engine, world.lake_root, events, "admin", NOW - dt.timedelta(days=30))
    return world


def dispute_of(world: World, dispute_id: str) -> DisputeRecord:
    from kaimen.store import disputes

    with world.engine.connect() as store:
        found = disputes.get(store, dispute_id)
    assert found is not None
    return found
