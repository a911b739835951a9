"""The event inbox: events received over HTTP, held transactionally until sealed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, tuple_, update

from kaimen.store.tables import event_inbox

KEY_CHUNK = 2_000


@dataclass(frozen=True)
class InboxEvent:
    source: str
    event_id: str
    person_id: str
    month: str
    content_hash: str
    fields: dict[str, str | None]


def known_keys(
    connection: Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Content hash of every (source, event_id) in `keys` already in the inbox."""
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = list(keys[start : start + KEY_CHUNK])
        rows = connection.execute(
            select(event_inbox.c.source, event_inbox.c.event_id, event_inbox.c.content_hash).where(
                tuple_(event_inbox.c.source, event_inbox.c.event_id).in_(chunk)
            )
        )
        found.update({(r.source, r.event_id): r.content_hash for r in rows})
    return found


def unsealed_keys(connection: Connection) -> list[tuple[str, str, str]]:
    """(source, event_id, content_hash) of every event waiting to be sealed."""
    rows = connection.execute(
        select(event_inbox.c.source, event_inbox.c.event_id, event_inbox.c.content_hash).where(
            event_inbox.c.sealed_batch_id.is_(None)
        )
    )
    return [(r.source, r.event_id, r.content_hash) for r in rows]


def add(connection: Connection, events: Sequence[InboxEvent], received_at: dt.datetime) -> None:
    if not events:
        return
    connection.execute(
        insert(event_inbox),
        [
            {
                "source": e.source,
                "event_id": e.event_id,
                "person_id": e.person_id,
                "month": e.month,
                "content_hash": e.content_hash,
                "received_at": received_at,
                "fields": json.dumps(e.fields, separators=(",", ":"), ensure_ascii=False),
            }
            for e in events
        ],
    )


def unsealed(connection: Connection) -> list[tuple[int, dict[str, str | None]]]:
    """(inbox id, submitted fields) of every event not yet in the lake, oldest first."""
    rows = connection.execute(
        select(event_inbox.c.inbox_id, event_inbox.c.fields)
        .where(event_inbox.c.sealed_batch_id.is_(None))
        .order_by(event_inbox.c.inbox_id)
    )
    return [(r.inbox_id, json.loads(r.fields)) for r in rows]


def mark_sealed(connection: Connection, inbox_ids: Sequence[int], batch_id: int) -> None:
    for start in range(0, len(inbox_ids), KEY_CHUNK):
        chunk = list(inbox_ids[start : start + KEY_CHUNK])
        connection.execute(
            update(event_inbox)
            .where(event_inbox.c.inbox_id.in_(chunk))
            .values(sealed_batch_id=batch_id)
        )
