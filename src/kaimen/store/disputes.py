"""Disputes, their evidence and the states of disputed items, as stored.

`disputed_items` and `item_state` are what reports, decisions and scoring read to know
whether an item is disputed, suppressed or corrected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from kaimen.domain.disputes import (
    DisputeState,
    ItemKind,
    ItemRef,
    ItemState,
    StoredEvidence,
)
from kaimen.domain.json_values import JsonObject
from kaimen.store.tables import dispute_evidence, disputes, item_states


@dataclass(frozen=True)
class DisputeRecord:
    dispute_id: str
    person_id: str
    item: ItemRef
    furnisher: str
    previous_dispute_id: str | None
    state: DisputeState
    statement: str
    profile: str
    item_occurred_at: dt.datetime | None
    filed_at: dt.datetime
    answer_due_at: dt.datetime
    furnisher_notice_due_at: dt.datetime
    furnisher_notified_at: dt.datetime | None
    information_added_at: dt.datetime | None
    answered_at: dt.datetime | None
    answered_by: str | None
    correction: JsonObject | None
    correction_note: str | None


@dataclass(frozen=True)
class ItemStateRecord:
    """An item's standing: disputed (pending), suppressed or corrected, since when, and the
    dispute that put it there."""

    item: ItemRef
    person_id: str
    state: ItemState
    since: dt.datetime
    dispute_id: str


@dataclass(frozen=True)
class DisputedItem:
    """One item of a person's that was disputed: its state now (None: it stands as it was,
    the dispute rejected), its latest dispute, and the person's statement with it."""

    item: ItemRef
    state: ItemState | None
    dispute_id: str
    dispute_state: DisputeState
    filed_at: dt.datetime
    answer_due_at: dt.datetime
    statement: str


@dataclass(frozen=True)
class NewDispute:
    dispute_id: str
    person_id: str
    item: ItemRef
    furnisher: str
    previous_dispute_id: str | None
    statement: str
    profile: str
    item_occurred_at: dt.datetime | None
    filed_at: dt.datetime
    answer_due_at: dt.datetime
    furnisher_notice_due_at: dt.datetime
    furnisher_notified_at: dt.datetime | None


def _record(row: Row[Any]) -> DisputeRecord:
    return DisputeRecord(
        dispute_id=row.dispute_id,
        person_id=row.person_id,
        item=ItemRef(ItemKind(row.item_kind), row.item_ref),
        furnisher=row.furnisher,
        previous_dispute_id=row.previous_dispute_id,
        state=DisputeState(row.state),
        statement=row.statement,
        profile=row.profile,
        item_occurred_at=row.item_occurred_at,
        filed_at=row.filed_at,
        answer_due_at=row.answer_due_at,
        furnisher_notice_due_at=row.furnisher_notice_due_at,
        furnisher_notified_at=row.furnisher_notified_at,
        information_added_at=row.information_added_at,
        answered_at=row.answered_at,
        answered_by=row.answered_by,
        correction=row.correction,
        correction_note=row.correction_note,
    )


def insert_dispute(connection: Connection, new: NewDispute) -> None:
    connection.execute(
        insert(disputes).values(
            dispute_id=new.dispute_id,
            person_id=new.person_id,
            item_kind=new.item.kind.value,
            item_ref=new.item.ref,
            furnisher=new.furnisher,
            previous_dispute_id=new.previous_dispute_id,
            state=DisputeState.OPEN.value,
            statement=new.statement,
            profile=new.profile,
            item_occurred_at=new.item_occurred_at,
            filed_at=new.filed_at,
            answer_due_at=new.answer_due_at,
            furnisher_notice_due_at=new.furnisher_notice_due_at,
            furnisher_notified_at=new.furnisher_notified_at,
        )
    )


def get(connection: Connection, dispute_id: str, lock: bool = False) -> DisputeRecord | None:
    query = select(disputes).where(disputes.c.dispute_id == dispute_id)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else _record(row)


def of_person(connection: Connection, person_id: str) -> list[DisputeRecord]:
    """The person's disputes, newest first."""
    rows = connection.execute(
        select(disputes)
        .where(disputes.c.person_id == person_id)
        .order_by(disputes.c.filed_at.desc(), disputes.c.dispute_id)
    )
    return [_record(r) for r in rows]


def of_furnisher(connection: Connection, furnisher: str, closed_limit: int) -> list[DisputeRecord]:
    """The disputes addressed to `furnisher`: every open one, soonest deadline first, then the
    `closed_limit` most recently closed."""
    d = disputes.c
    open_rows = connection.execute(
        select(disputes)
        .where(d.furnisher == furnisher, d.state == DisputeState.OPEN.value)
        .order_by(d.answer_due_at, d.dispute_id)
    )
    closed_rows = connection.execute(
        select(disputes)
        .where(d.furnisher == furnisher, d.state != DisputeState.OPEN.value)
        .order_by(d.answered_at.desc(), d.dispute_id)
        .limit(closed_limit)
    )
    return [_record(r) for r in (*open_rows, *closed_rows)]


def latest_of_item(connection: Connection, item: ItemRef) -> DisputeRecord | None:
    """The item's newest dispute, if it was ever disputed."""
    row = connection.execute(
        select(disputes)
        .where(disputes.c.item_kind == item.kind.value, disputes.c.item_ref == item.ref)
        .order_by(disputes.c.filed_at.desc(), disputes.c.dispute_id.desc())
        .limit(1)
    ).first()
    return None if row is None else _record(row)


def open_of_item(connection: Connection, item: ItemRef, besides: str) -> DisputeRecord | None:
    """The item's newest open dispute other than `besides`."""
    row = connection.execute(
        select(disputes)
        .where(
            disputes.c.item_kind == item.kind.value,
            disputes.c.item_ref == item.ref,
            disputes.c.state == DisputeState.OPEN.value,
            disputes.c.dispute_id != besides,
        )
        .order_by(disputes.c.filed_at.desc(), disputes.c.dispute_id.desc())
        .limit(1)
    ).first()
    return None if row is None else _record(row)


def open_disputes(connection: Connection) -> list[DisputeRecord]:
    """Every open dispute, soonest deadline first."""
    rows = connection.execute(
        select(disputes)
        .where(disputes.c.state == DisputeState.OPEN.value)
        .order_by(disputes.c.answer_due_at, disputes.c.dispute_id)
    )
    return [_record(r) for r in rows]


def overdue(connection: Connection, now: dt.datetime) -> list[DisputeRecord]:
    """Open disputes whose answer deadline has passed."""
    rows = connection.execute(
        select(disputes)
        .where(disputes.c.state == DisputeState.OPEN.value, disputes.c.answer_due_at <= now)
        .order_by(disputes.c.answer_due_at, disputes.c.dispute_id)
    )
    return [_record(r) for r in rows]


def notices_newly_late(connection: Connection, now: dt.datetime) -> list[DisputeRecord]:
    """Open disputes whose furnisher was not told by the notice deadline, not yet flagged."""
    rows = connection.execute(
        select(disputes).where(
            disputes.c.state == DisputeState.OPEN.value,
            disputes.c.furnisher_notified_at.is_(None),
            disputes.c.furnisher_notice_late_at.is_(None),
            disputes.c.furnisher_notice_due_at <= now,
        )
    )
    return [_record(r) for r in rows]


def flag_notice_late(connection: Connection, dispute_id: str, now: dt.datetime) -> bool:
    """Flag a late notice once; False when another sweep flagged it first."""
    result = connection.execute(
        update(disputes)
        .where(disputes.c.dispute_id == dispute_id, disputes.c.furnisher_notice_late_at.is_(None))
        .values(furnisher_notice_late_at=now)
    )
    return result.rowcount == 1


def mark_notified(connection: Connection, dispute_id: str, now: dt.datetime) -> None:
    """The furnisher has the notice (the first delivery counts; later ones change nothing)."""
    connection.execute(
        update(disputes)
        .where(disputes.c.dispute_id == dispute_id, disputes.c.furnisher_notified_at.is_(None))
        .values(furnisher_notified_at=now)
    )


def add_information(
    connection: Connection,
    dispute_id: str,
    statement: str,
    answer_due_at: dt.datetime,
    now: dt.datetime,
) -> None:
    connection.execute(
        update(disputes)
        .where(disputes.c.dispute_id == dispute_id)
        .values(statement=statement, answer_due_at=answer_due_at, information_added_at=now)
    )


def close(
    connection: Connection,
    dispute_id: str,
    state: DisputeState,
    actor: str,
    now: dt.datetime,
    correction: JsonObject | None = None,
    correction_note: str | None = None,
) -> bool:
    """Close an open dispute; False when it was closed already (by a concurrent answer)."""
    result = connection.execute(
        update(disputes)
        .where(disputes.c.dispute_id == dispute_id, disputes.c.state == DisputeState.OPEN.value)
        .values(
            state=state.value,
            answered_at=now,
            answered_by=actor,
            correction=correction,
            correction_note=correction_note,
        )
    )
    return result.rowcount == 1


# -- evidence ---------------------------------------------------------------------------


def add_evidence(
    connection: Connection,
    dispute_id: str,
    files: Sequence[StoredEvidence],
    now: dt.datetime,
) -> None:
    if files:
        connection.execute(
            insert(dispute_evidence),
            [
                {
                    "dispute_id": dispute_id,
                    "sha256": f.sha256,
                    "size": f.size,
                    "media_type": f.media_type,
                    "original_name": f.original_name,
                    "added_at": now,
                }
                for f in files
            ],
        )


def evidence_of(connection: Connection, dispute_id: str) -> list[StoredEvidence]:
    rows = connection.execute(
        select(dispute_evidence)
        .where(dispute_evidence.c.dispute_id == dispute_id)
        .order_by(dispute_evidence.c.evidence_id)
    )
    return [StoredEvidence(r.sha256, r.size, r.media_type, r.original_name) for r in rows]


# -- item states --------------------------------------------------------------------------


def _state(row: Row[Any]) -> ItemStateRecord:
    return ItemStateRecord(
        ItemRef(ItemKind(row.item_kind), row.item_ref),
        row.person_id,
        ItemState(row.state),
        row.since,
        row.dispute_id,
    )


def item_state(connection: Connection, item: ItemRef) -> ItemStateRecord | None:
    """The item's standing, or None when it counts as it is."""
    row = connection.execute(
        select(item_states).where(
            item_states.c.item_kind == item.kind.value, item_states.c.item_ref == item.ref
        )
    ).first()
    return None if row is None else _state(row)


def set_item_state(
    connection: Connection,
    item: ItemRef,
    person_id: str,
    state: ItemState,
    dispute_id: str,
    now: dt.datetime,
) -> None:
    """Record the item's standing (replacing any before it, in the caller's transaction)."""
    clear_item_state(connection, item)
    connection.execute(
        insert(item_states).values(
            item_kind=item.kind.value,
            item_ref=item.ref,
            person_id=person_id,
            state=state.value,
            since=now,
            dispute_id=dispute_id,
        )
    )


def clear_item_state(connection: Connection, item: ItemRef) -> None:
    connection.execute(
        delete(item_states).where(
            item_states.c.item_kind == item.kind.value, item_states.c.item_ref == item.ref
        )
    )


def states_of_person(connection: Connection, person_id: str) -> list[ItemStateRecord]:
    rows = connection.execute(
        select(item_states)
        .where(item_states.c.person_id == person_id)
        .order_by(item_states.c.item_kind, item_states.c.item_ref)
    )
    return [_state(r) for r in rows]


def excluded_items(
    connection: Connection, disputed_counts: bool, person_id: str | None = None
) -> list[ItemStateRecord]:
    """Items scoring must leave out: suppressed and corrected ones always, disputed ones
    too unless the profile counts disputed items while pending. All people, or one."""
    states = [ItemState.SUPPRESSED.value, ItemState.CORRECTED.value]
    if not disputed_counts:
        states.append(ItemState.DISPUTED.value)
    query = select(item_states).where(item_states.c.state.in_(states))
    if person_id is not None:
        query = query.where(item_states.c.person_id == person_id)
    return [_state(r) for r in connection.execute(query.order_by(item_states.c.item_ref))]


def disputed_items(connection: Connection, person_id: str) -> list[DisputedItem]:
    """Every item of the person's that was ever disputed, with its state now and its latest
    dispute (whose statement a later report carries), newest dispute first."""
    rows = connection.execute(
        select(disputes)
        .where(disputes.c.person_id == person_id)
        .order_by(disputes.c.filed_at.desc(), disputes.c.dispute_id.desc())
    ).all()
    states = {
        (s.item.kind.value, s.item.ref): s.state for s in states_of_person(connection, person_id)
    }
    seen: set[tuple[str, str]] = set()
    items: list[DisputedItem] = []
    for row in rows:
        key = (row.item_kind, row.item_ref)
        if key in seen:
            continue
        seen.add(key)
        items.append(
            DisputedItem(
                item=ItemRef(ItemKind(row.item_kind), row.item_ref),
                state=states.get(key),
                dispute_id=row.dispute_id,
                dispute_state=DisputeState(row.state),
                filed_at=row.filed_at,
                answer_due_at=row.answer_due_at,
                statement=row.statement,
            )
        )
    return items


def evidence_hashes_of(connection: Connection, person_id: str) -> set[str]:
    """The hashes of every evidence file the person's disputes hold."""
    query = (
        select(dispute_evidence.c.sha256)
        .join(disputes, disputes.c.dispute_id == dispute_evidence.c.dispute_id)
        .where(disputes.c.person_id == person_id)
    )
    return set(connection.execute(query).scalars())


def evidence_held(connection: Connection, hashes: set[str]) -> set[str]:
    """Those of `hashes` some dispute still holds (a file is stored once, by its hash)."""
    if not hashes:
        return set()
    query = select(dispute_evidence.c.sha256).where(dispute_evidence.c.sha256.in_(hashes))
    return set(connection.execute(query).scalars())
