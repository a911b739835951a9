"""The event inbox: events received over HTTP, held transactionally until sealed.

Rows are typed as in the lake (the event as judged on receipt, `recorded_at` filled in then),
so sealing copies them into the lake as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, and_, insert, or_, select, update

from kaimen.store.tables import event_inbox

KEY_CHUNK = 2_000
# An event's own columns: the lake's, its month and its content hash.
_COLUMNS = [
    c for c in event_inbox.c if c.name not in ("inbox_id", "received_at", "sealed_batch_id")
]
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in _COLUMNS)


def add(connection: Connection, events: pa.Table, received_at: dt.datetime) -> None:
    """Store `events` (EVENT_COLUMNS, typed as in the lake) in the caller's transaction."""
    if events.num_rows == 0:
        return
    rows: list[dict[str, Any]] = events.select(list(EVENT_COLUMNS)).to_pylist()
    for row in rows:
        row["received_at"] = received_at
    connection.execute(insert(event_inbox), rows)


def unsealed(connection: Connection) -> tuple[list[int], pa.Table]:
    """Inbox ids and rows (EVENT_COLUMNS; the caller casts them to the lake's types) of
    every event not yet in the lake, oldest first."""
    rows = connection.execute(
        select(event_inbox.c.inbox_id, *_COLUMNS)
        .where(event_inbox.c.sealed_batch_id.is_(None))
        .order_by(event_inbox.c.inbox_id)
    ).all()
    columns: list[Sequence[object]] = (
        list(zip(*rows, strict=True)) if rows else [[] for _ in range(len(_COLUMNS) + 1)]
    )
    table = pa.table([pa.array(c) for c in columns[1:]], names=list(EVENT_COLUMNS))
    return [int(str(i)) for i in columns[0]], table


def unsealed_cases(
    connection: Connection, originals: Sequence[tuple[str, str]], people: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(kind, person_id, case_number) of the events waiting to be sealed whose (kind, status)
    is one of `originals`, about one of `people`."""
    found: list[tuple[str, str, str]] = []
    for start in range(0, len(people), KEY_CHUNK):
        rows = connection.execute(
            select(event_inbox.c.kind, event_inbox.c.person_id, event_inbox.c.case_number)
            .where(event_inbox.c.sealed_batch_id.is_(None))
            .where(event_inbox.c.case_number.is_not(None))
            .where(event_inbox.c.person_id.in_(people[start : start + KEY_CHUNK]))
            .where(
                or_(
                    *(
                        and_(event_inbox.c.kind == k, event_inbox.c.status == s)
                        for k, s in originals
                    )
                )
            )
        )
        found += [(r.kind, r.person_id, r.case_number) for r in rows]
    return found


def unsealed_keys(connection: Connection) -> list[tuple[str, str, int]]:
    """(source, event_id, content_hash) of every event waiting to be sealed."""
    rows = connection.execute(
        select(event_inbox.c.source, event_inbox.c.event_id, event_inbox.c.content_hash).where(
            event_inbox.c.sealed_batch_id.is_(None)
        )
    )
    return [(r.source, r.event_id, r.content_hash) for r in rows]


def mark_sealed(connection: Connection, inbox_ids: Sequence[int], batch_id: int) -> None:
    for start in range(0, len(inbox_ids), KEY_CHUNK):
        chunk = list(inbox_ids[start : start + KEY_CHUNK])
        connection.execute(
            update(event_inbox)
            .where(event_inbox.c.inbox_id.in_(chunk))
            .values(sealed_batch_id=batch_id)
        )
