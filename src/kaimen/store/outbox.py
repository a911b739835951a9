"""The outbox: messages to partners and the court, written in the transaction of what they
announce, and the log of every attempt to deliver one.

Workers claim a message with a lease (one UPDATE that succeeds only while no live lease is
held, the same on SQLite and PostgreSQL), deliver it outside any transaction, then record
the attempt. Marking a message delivered is idempotent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from kaimen.domain.json_values import JsonObject
from kaimen.store.tables import outbox_deliveries, outbox_messages

MAX_ERROR = 500
MAX_PREFIX = 200


@dataclass(frozen=True)
class Message:
    message_id: str
    recipient: str
    topic: str
    payload: JsonObject
    dispute_id: str | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    attempts: int
    delivered_at: dt.datetime | None
    dead_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Attempt:
    attempted_at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response_prefix: str | None


@dataclass(frozen=True)
class Backlog:
    pending: int
    dead: int
    oldest_pending: dt.datetime | None


def _message(row: Row[Any]) -> Message:
    return Message(
        row.message_id,
        row.recipient,
        row.topic,
        row.payload,
        row.dispute_id,
        row.created_at,
        row.next_attempt_at,
        row.attempts,
        row.delivered_at,
        row.dead_at,
        row.last_error,
    )


def enqueue(
    connection: Connection,
    recipient: str,
    topic: str,
    payload: JsonObject,
    now: dt.datetime,
    dispute_id: str | None = None,
) -> str:
    """Add a message in the caller's transaction; returns its id (the idempotency key)."""
    message_id = str(uuid.uuid4())
    connection.execute(
        insert(outbox_messages).values(
            message_id=message_id,
            recipient=recipient,
            topic=topic,
            payload=payload,
            dispute_id=dispute_id,
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )
    return message_id


def get(connection: Connection, message_id: str) -> Message | None:
    row = connection.execute(
        select(outbox_messages).where(outbox_messages.c.message_id == message_id)
    ).first()
    return None if row is None else _message(row)


def _due(now: dt.datetime) -> Any:
    return (
        outbox_messages.c.delivered_at.is_(None),
        outbox_messages.c.dead_at.is_(None),
        outbox_messages.c.next_attempt_at <= now,
        or_(outbox_messages.c.lease_until.is_(None), outbox_messages.c.lease_until <= now),
    )


def due(connection: Connection, now: dt.datetime, limit: int) -> list[str]:
    """Ids of messages due for an attempt and not leased, oldest first."""
    rows = connection.execute(
        select(outbox_messages.c.message_id)
        .where(*_due(now))
        .order_by(outbox_messages.c.next_attempt_at, outbox_messages.c.message_id)
        .limit(limit)
    )
    return [r.message_id for r in rows]


def claim(
    connection: Connection, message_id: str, owner: str, now: dt.datetime, lease: dt.timedelta
) -> Message | None:
    """Take the message for `lease` if it is still due and unleased; None when another worker
    has it (or it was delivered meanwhile). Commit before delivering."""
    result = connection.execute(
        update(outbox_messages)
        .where(outbox_messages.c.message_id == message_id, *_due(now))
        .values(lease_owner=owner, lease_until=now + lease)
    )
    if result.rowcount != 1:
        return None
    return get(connection, message_id)


def record_attempt(connection: Connection, message_id: str, attempt: Attempt) -> None:
    connection.execute(
        insert(outbox_deliveries).values(
            message_id=message_id,
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=None if attempt.error is None else attempt.error[:MAX_ERROR],
            duration_ms=attempt.duration_ms,
            response_prefix=None
            if attempt.response_prefix is None
            else attempt.response_prefix[:MAX_PREFIX],
        )
    )


def mark_delivered(connection: Connection, message_id: str, owner: str, now: dt.datetime) -> bool:
    """Delivered, once: False when it was marked before (nothing changes then)."""
    result = connection.execute(
        update(outbox_messages)
        .where(
            outbox_messages.c.message_id == message_id,
            outbox_messages.c.delivered_at.is_(None),
            outbox_messages.c.lease_owner == owner,
        )
        .values(
            delivered_at=now,
            attempts=outbox_messages.c.attempts + 1,
            last_error=None,
            lease_owner=None,
            lease_until=None,
        )
    )
    return result.rowcount == 1


def mark_failed(
    connection: Connection,
    message_id: str,
    owner: str,
    error: str,
    next_attempt_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    """A failed attempt: retry at `next_attempt_at`, or dead-letter when it is None."""
    connection.execute(
        update(outbox_messages)
        .where(
            outbox_messages.c.message_id == message_id,
            outbox_messages.c.delivered_at.is_(None),
            outbox_messages.c.lease_owner == owner,
        )
        .values(
            attempts=outbox_messages.c.attempts + 1,
            last_error=error[:MAX_ERROR],
            next_attempt_at=next_attempt_at or now,
            dead_at=None if next_attempt_at is not None else now,
            lease_owner=None,
            lease_until=None,
        )
    )


def attempts_of(connection: Connection, message_id: str) -> list[Attempt]:
    rows = connection.execute(
        select(outbox_deliveries)
        .where(outbox_deliveries.c.message_id == message_id)
        .order_by(outbox_deliveries.c.delivery_id)
    )
    return [
        Attempt(r.attempted_at, r.status_code, r.error, r.duration_ms, r.response_prefix)
        for r in rows
    ]


def messages_of_dispute(connection: Connection, dispute_id: str) -> list[Message]:
    rows = connection.execute(
        select(outbox_messages)
        .where(outbox_messages.c.dispute_id == dispute_id)
        .order_by(outbox_messages.c.created_at, outbox_messages.c.message_id)
    )
    return [_message(r) for r in rows]


def undelivered(connection: Connection, limit: int = 500) -> list[Message]:
    """Messages not delivered (pending and dead), oldest first."""
    rows = connection.execute(
        select(outbox_messages)
        .where(outbox_messages.c.delivered_at.is_(None))
        .order_by(outbox_messages.c.created_at, outbox_messages.c.message_id)
        .limit(limit)
    )
    return [_message(r) for r in rows]


def backlog(connection: Connection) -> Backlog:
    """How many messages wait (pending) or gave up (dead letters), and since when."""
    undelivered_rows = outbox_messages.c.delivered_at.is_(None)
    pending, dead = connection.execute(
        select(
            func.count().filter(outbox_messages.c.dead_at.is_(None)),
            func.count().filter(outbox_messages.c.dead_at.is_not(None)),
        ).where(undelivered_rows)
    ).one()
    # Read as a column (not an aggregate) so that the column's type converts it.
    oldest = connection.execute(
        select(outbox_messages.c.created_at)
        .where(undelivered_rows, outbox_messages.c.dead_at.is_(None))
        .order_by(outbox_messages.c.created_at)
        .limit(1)
    ).scalar_one_or_none()
    return Backlog(int(pending), int(dead), oldest)
