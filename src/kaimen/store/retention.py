"""Negative items past retention, as stored: events that stopped counting and whether they are
purged yet, and the court listings whose retention has ended (found and deleted here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from kaimen.domain.disputes import ItemKind
from kaimen.store.tables import (
    court_listing_history,
    court_listings,
    event_inbox,
    expired_items,
    identity_links,
    item_states,
    link_reviews,
    listing_settlements,
    payments,
    retention_marks,
)

CHUNK = 2_000
EXPIRED_KEYS = pa.schema(
    [("person_id", pa.string()), ("source", pa.string()), ("event_id", pa.string())]
)


@dataclass(frozen=True)
class ExpiredEvent:
    person_id: str
    source: str
    event_id: str

    @property
    def ref(self) -> str:
        return f"{self.source}/{self.event_id}"


def _event(person_id: str, ref: str) -> ExpiredEvent:
    source, _, event_id = ref.partition("/")
    return ExpiredEvent(person_id, source, event_id)


def record_expired(connection: Connection, expired: pa.Table, now: dt.datetime) -> None:
    """Mark (person_id, source, event_id, conduct_ended) events expired, in the caller's
    transaction (a key expired before is refused by the primary key)."""
    rows = [
        {
            "item_kind": ItemKind.EVENT.value,
            "item_ref": f"{r['source']}/{r['event_id']}",
            "person_id": r["person_id"],
            "conduct_ended": r["conduct_ended"],
            "expired_at": now,
            "purged_at": None,
        }
        for r in expired.to_pylist()
    ]
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(expired_items), rows[start : start + CHUNK])


def searched(connection: Connection, profile: str) -> tuple[dt.date, int] | None:
    """(cutoff, newest lake file id) of the profile's last expiry search, if any."""
    row = connection.execute(
        select(retention_marks.c.cutoff, retention_marks.c.last_file_id).where(
            retention_marks.c.profile == profile
        )
    ).first()
    return None if row is None else (row.cutoff, int(row.last_file_id))


def mark_searched(
    connection: Connection, profile: str, cutoff: dt.date, last_file_id: int, now: dt.datetime
) -> None:
    connection.execute(delete(retention_marks).where(retention_marks.c.profile == profile))
    connection.execute(
        insert(retention_marks).values(
            profile=profile, cutoff=cutoff, last_file_id=last_file_id, searched_at=now
        )
    )


def unpurged(connection: Connection, person_id: str | None = None) -> list[ExpiredEvent]:
    """Events that stopped counting and are still in the lake (of one person, or all)."""
    query = select(expired_items.c.person_id, expired_items.c.item_ref).where(
        expired_items.c.item_kind == ItemKind.EVENT.value, expired_items.c.purged_at.is_(None)
    )
    if person_id is not None:
        query = query.where(expired_items.c.person_id == person_id)
    rows = connection.execute(query.order_by(expired_items.c.item_ref))
    return [_event(r.person_id, r.item_ref) for r in rows]


def keys_table(events: Sequence[ExpiredEvent]) -> pa.Table:
    return pa.table(
        {
            "person_id": [e.person_id for e in events],
            "source": [e.source for e in events],
            "event_id": [e.event_id for e in events],
        },
        schema=EXPIRED_KEYS,
    )


def _refs(events: Sequence[ExpiredEvent]) -> list[str]:
    return [e.ref for e in events]


def mark_purged(connection: Connection, events: Sequence[ExpiredEvent], now: dt.datetime) -> None:
    refs = _refs(events)
    for start in range(0, len(refs), CHUNK):
        connection.execute(
            update(expired_items)
            .where(
                expired_items.c.item_kind == ItemKind.EVENT.value,
                expired_items.c.item_ref.in_(refs[start : start + CHUNK]),
            )
            .values(purged_at=now)
        )


def forget_event_rows(connection: Connection, events: Sequence[ExpiredEvent]) -> tuple[int, int]:
    """Delete the purged events' inbox rows (sealed ones are copies of lake rows) and their
    dispute standing (the item no longer exists to be counted or not); (inbox rows, states).
    The key index keeps their keys, so a resend is a duplicate, not a new event."""
    inbox_rows = states = 0
    by_source: dict[str, list[str]] = {}
    for e in events:
        by_source.setdefault(e.source, []).append(e.event_id)
    for source, event_ids in by_source.items():
        for start in range(0, len(event_ids), CHUNK):
            chunk = event_ids[start : start + CHUNK]
            inbox_rows += connection.execute(
                delete(event_inbox).where(
                    event_inbox.c.source == source, event_inbox.c.event_id.in_(chunk)
                )
            ).rowcount
    refs = _refs(events)
    for start in range(0, len(refs), CHUNK):
        states += connection.execute(
            delete(item_states).where(
                item_states.c.item_kind == ItemKind.EVENT.value,
                item_states.c.item_ref.in_(refs[start : start + CHUNK]),
            )
        ).rowcount
    return inbox_rows, states


# -- court listings -------------------------------------------------------------------------


def expired_listings(
    connection: Connection,
    closed_statuses: Sequence[str],
    cutoff: dt.date,
    closed_before: dt.datetime,
) -> list[str]:
    """Closed listings whose conduct ended by `cutoff`: reached their status (their newest
    history row into it) before `closed_before` (the first instant after `cutoff`, local
    time, in UTC), or, with no such row, judged on or before `cutoff`."""
    h = court_listing_history.c
    listing = court_listings.c
    closed = (
        select(h.listing_id, func.max(h.changed_at).label("closed_at"))
        .join(court_listings, listing.listing_id == h.listing_id)
        .where(h.new_status == listing.status)
        .group_by(h.listing_id)
        .subquery()
    )
    query = (
        select(listing.listing_id)
        .outerjoin(closed, closed.c.listing_id == listing.listing_id)
        .where(
            listing.status.in_(list(closed_statuses)),
            or_(
                closed.c.closed_at < closed_before,
                and_(closed.c.closed_at.is_(None), listing.judgment_date <= cutoff),
            ),
        )
        .order_by(listing.listing_id)
    )
    return [r.listing_id for r in connection.execute(query)]


def undo_live_links(
    connection: Connection, listing_ids: Sequence[str], actor: str, reason: str, now: dt.datetime
) -> list[tuple[str, str, str]]:
    """Undo every live link of the listings; (link id, listing id, person id) of each."""
    undone: list[tuple[str, str, str]] = []
    link = identity_links.c
    for start in range(0, len(listing_ids), CHUNK):
        chunk = list(listing_ids[start : start + CHUNK])
        live = (link.listing_id.in_(chunk), link.undone_at.is_(None))
        rows = connection.execute(
            select(link.link_id, link.listing_id, link.person_id).where(*live)
        )
        undone += [(r.link_id, r.listing_id, r.person_id) for r in rows]
        connection.execute(
            update(identity_links)
            .where(*live)
            .values(undone_at=now, undone_by=actor, undo_reason=reason)
        )
    return undone


def delete_listings(connection: Connection, listing_ids: Sequence[str]) -> dict[str, int]:
    """Delete the listings with everything that records them: history, settlements, the
    payments that settled them (matched to them; a payment only proposed for one loses its
    candidate and stays in its queue), candidate reviews, identity links and the standing of
    the listing or a link as a disputed item. Rows deleted, per table."""
    removed: dict[str, int] = {}

    def count(name: str, rows: int) -> None:
        removed[name] = removed.get(name, 0) + rows

    for start in range(0, len(listing_ids), CHUNK):
        chunk = list(listing_ids[start : start + CHUNK])
        links = select(identity_links.c.link_id).where(identity_links.c.listing_id.in_(chunk))
        link_ids = list(connection.execute(links).scalars())
        count(
            "item_states",
            connection.execute(
                delete(item_states).where(
                    or_(
                        and_(
                            item_states.c.item_kind == ItemKind.COURT_LISTING.value,
                            item_states.c.item_ref.in_(chunk),
                        ),
                        and_(
                            item_states.c.item_kind == ItemKind.IDENTITY_LINK.value,
                            item_states.c.item_ref.in_(link_ids),
                        ),
                    )
                )
            ).rowcount,
        )
        settled = select(listing_settlements.c.payment_id).where(
            listing_settlements.c.listing_id.in_(chunk)
        )
        paid = list(connection.execute(settled).scalars())
        count(
            "listing_settlements",
            connection.execute(
                delete(listing_settlements).where(listing_settlements.c.listing_id.in_(chunk))
            ).rowcount,
        )
        count(
            "payments",
            connection.execute(
                delete(payments).where(
                    or_(
                        payments.c.payment_id.in_(paid),
                        and_(payments.c.listing_id.in_(chunk), payments.c.state == "matched"),
                    )
                )
            ).rowcount,
        )
        connection.execute(
            update(payments).where(payments.c.listing_id.in_(chunk)).values(listing_id=None)
        )
        count(
            "link_reviews",
            connection.execute(
                delete(link_reviews).where(link_reviews.c.listing_id.in_(chunk))
            ).rowcount,
        )
        count(
            "identity_links",
            connection.execute(
                delete(identity_links).where(identity_links.c.listing_id.in_(chunk))
            ).rowcount,
        )
        count(
            "court_listing_history",
            connection.execute(
                delete(court_listing_history).where(court_listing_history.c.listing_id.in_(chunk))
            ).rowcount,
        )
        count(
            "court_listings",
            connection.execute(
                delete(court_listings).where(court_listings.c.listing_id.in_(chunk))
            ).rowcount,
        )
    return removed
