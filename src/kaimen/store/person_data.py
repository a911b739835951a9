"""Everything the store holds about one person: read for their export, removed when they go.

Which tables hold a person's rows is read from the schema (every foreign key to
`people.person_id`), so a table added later is cleared on opting out without anyone having to
remember to list it here. The `people` row itself stays, keeping no personal data, because
the audit log names the person's pseudonymous id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Table,
    delete,
    select,
    update,
)

from kaimen.domain.court_list import ENROLLED_ID_KIND
from kaimen.domain.snapshots import Snapshot
from kaimen.store import alerts as alert_rows
from kaimen.store import event_keys as key_index
from kaimen.store import scores
from kaimen.store.scores import published_query, snapshot_of
from kaimen.store.tables import (
    alerts,
    connection_points,
    event_inbox,
    identities,
    metadata,
    outbox_messages,
    payments,
    people,
    score_revisions,
    score_snapshots,
)


@dataclass(frozen=True)
class PersonRecord:
    person_id: str
    birth_date: dt.date | None
    enrolled_at: dt.datetime
    status: str


def person(connection: Connection, person_id: str) -> PersonRecord | None:
    row = connection.execute(select(people).where(people.c.person_id == person_id)).first()
    if row is None:
        return None
    return PersonRecord(row.person_id, row.birth_date, row.enrolled_at, row.status)


def sealed_identities(connection: Connection, person_id: str) -> dict[str, str]:
    """kind -> encrypted value of the person's identities (decrypt with the vault)."""
    rows = connection.execute(
        select(identities.c.kind, identities.c.encrypted_value).where(
            identities.c.person_id == person_id
        )
    )
    return {r.kind: r.encrypted_value for r in rows}


# The columns of an inbox row that are the event's own fields.
_EVENT_FIELDS = [
    c
    for c in event_inbox.c
    if c.name not in ("inbox_id", "month", "content_hash", "received_at", "sealed_batch_id")
]


@dataclass(frozen=True)
class UnsealedEvent:
    """An event received over HTTP and not yet sealed into the lake."""

    received_at: dt.datetime
    # Field -> text, as judged on receipt; which fields an event has depends on its kind.
    fields: dict[str, str | None]


def _as_text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def unsealed_events(connection: Connection, person_id: str) -> list[UnsealedEvent]:
    """The person's events received over HTTP and not yet in the lake, oldest first."""
    rows = connection.execute(
        select(event_inbox.c.received_at, *_EVENT_FIELDS)
        .where(event_inbox.c.person_id == person_id, event_inbox.c.sealed_batch_id.is_(None))
        .order_by(event_inbox.c.inbox_id)
    ).mappings()
    return [
        UnsealedEvent(
            r["received_at"],
            {c.name: _as_text(r[c.name]) for c in _EVENT_FIELDS if r[c.name] is not None},
        )
        for r in rows
    ]


def all_snapshots(connection: Connection, person_id: str) -> list[Snapshot]:
    """Every published score snapshot of the person, every model, newest month first."""
    return [snapshot_of(r) for r in connection.execute(published_query(person_id))]


# Columns naming a person without a foreign key to `people` (see store.tables).
UNKEYED_PERSONAL_COLUMNS: tuple[Column[Any], ...] = (
    score_snapshots.c.person_id,
    score_revisions.c.person_id,
    connection_points.c.person_id,
    alerts.c.person_id,
)


def personal_columns() -> list[Column[Any]]:
    """Every column referring to a person, children before parents (the order to delete in)."""
    # Nothing refers to the unkeyed ones' tables, so they can go first.
    found: list[Column[Any]] = list(UNKEYED_PERSONAL_COLUMNS)
    for table in reversed(metadata.sorted_tables):
        if table is people:
            continue
        found += [fk.parent for fk in table.foreign_keys if fk.column is people.c.person_id]
    return found


def begin_opt_out(connection: Connection, person_id: str) -> bool:
    """Mark the person opted out and drop their birth date; False when they were not active.

    The first statement of the opt-out's transaction, so it takes the row's lock before
    anything is deleted: an ingest storing events for them waits on it or is waited for
    (see `people.opted_out_among`).
    """
    result = connection.execute(
        update(people)
        .where(people.c.person_id == person_id, people.c.status == "active")
        .values(status="opted_out", birth_date=None)
    )
    return result.rowcount == 1


def erase(connection: Connection, person_id: str) -> dict[str, int]:
    """Delete every row referring to the person (but the `people` row); rows per table.

    A row that refers to one of the person's rows rather than to the person (a dispute's
    evidence, the notice of it waiting in the outbox and that notice's deliveries) is theirs
    too, and goes first: it would otherwise hold the person's row in place (the opt-out of
    anyone who had disputed failed on the foreign key)."""
    removed: dict[str, int] = {}
    personal = {column.table for column in personal_columns()} | {people}
    # Held without a person column, and found by what names the person: the payer's details
    # of a payment of theirs (by their ID number's keyed hash, before their identities go)
    # and the notices to partners naming them. The payment stays, as the bank's record of a
    # sum that settled a court's listing, with no payer.
    removed["payments (payer details)"] = _forget_payer(connection, person_id)
    named = outbox_messages.c.payload["person_id"].as_string() == person_id
    _erase_rows(connection, outbox_messages, named, personal, removed)
    for column in personal_columns():
        _erase_rows(connection, column.table, _rows_of(column, person_id), personal, removed)
    return removed


def _forget_payer(connection: Connection, person_id: str) -> int:
    their_numbers = select(identities.c.lookup_hash).where(
        identities.c.person_id == person_id, identities.c.kind == ENROLLED_ID_KIND
    )
    result = connection.execute(
        update(payments)
        .where(payments.c.payer_id_hash.in_(their_numbers))
        .values(
            payer_id_hash=None,
            payer_id_encrypted=None,
            payer_name_hash=None,
            payer_name_encrypted=None,
        )
    )
    return int(result.rowcount)


def _erase_rows(
    connection: Connection,
    table: Table,
    rows: ColumnElement[bool],
    personal: set[Table],
    removed: dict[str, int],
) -> None:
    """Delete `rows` of `table`, after the rows of other tables that refer to them (those of
    a table with a person column of its own are deleted by that column)."""
    for child in metadata.sorted_tables:
        if child in personal:
            continue
        for key in child.foreign_keys:
            if key.column.table is table:
                held = select(key.column).where(rows)
                _erase_rows(connection, child, key.parent.in_(held), personal, removed)
    result = connection.execute(delete(table).where(rows))
    removed[table.name] = removed.get(table.name, 0) + result.rowcount


def _rows_of(column: Column[Any], person_id: str) -> ColumnElement[bool]:
    """The condition on `column`'s table that picks the person's rows, as its keys find them."""
    if column is score_snapshots.c.person_id:
        return scores.of_person(person_id)
    if column is alerts.c.person_id:
        return alerts.c.alert_id.in_(alert_rows.person_alert_ids(person_id))
    return column == person_id


def cut_inbox_links(connection: Connection, person_id: str) -> tuple[int, int]:
    """Remove the person from other people's friend links in the inbox: (sealed rows
    redacted, unsealed rows deleted).

    A sealed row is a record of what went into the lake, where the link is emptied too. An
    unsealed friend link cannot be kept: sealing copies it into the lake as it is, link and
    all. It leaves the key index with it, so a resend is judged afresh (and refused).
    """
    linking = (event_inbox.c.friend_id == person_id, event_inbox.c.sealed_batch_id)
    waiting = select(event_inbox.c.source, event_inbox.c.event_id).where(
        linking[0], linking[1].is_(None)
    )
    key_index.forget(connection, [(s, e) for s, e in connection.execute(waiting)])
    dropped = connection.execute(
        delete(event_inbox).where(linking[0], linking[1].is_(None))
    ).rowcount
    redacted = connection.execute(
        update(event_inbox).where(linking[0], linking[1].is_not(None)).values(friend_id=None)
    ).rowcount
    return redacted, dropped
