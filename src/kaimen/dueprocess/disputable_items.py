"""What a disputed item is: for each kind, one function that finds the item, says whose it is,
who furnished it and whether it is negative. A kind without a function here cannot be
disputed yet, and is refused by name; adding a kind is adding one function to `RESOLVERS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, select

from kaimen.domain.court_list import RESTRICTIVE
from kaimen.domain.disputes import (
    COURT,
    KAIMEN,
    DisputeRejected,
    ItemKind,
    ItemNotFound,
    ItemRef,
    is_negative_event,
)
from kaimen.engines.embedded import session
from kaimen.lake import reader
from kaimen.store import court_list, inbox, lake_manifest, partners, points_ledger
from kaimen.store.tables import event_inbox

NOT_YOURS = "no such item in your record"


@dataclass(frozen=True)
class ResolvedItem:
    """A disputable item as found: whose, from whom, whether negative, when it happened, and
    its fields as text (what a correction starts from)."""

    item: ItemRef
    person_id: str
    furnisher: str
    negative: bool
    occurred_at: dt.datetime | None
    fields: dict[str, str]


@dataclass(frozen=True)
class Lookup:
    """Where a person's items are looked up: the store (in the caller's transaction) and
    the lake (read for that person only)."""

    store: Connection
    lake_root: Path
    person_id: str


Resolver = Callable[[Lookup, ItemRef], ResolvedItem | None]


def _text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _event_fields(lookup: Lookup, source: str, event_id: str) -> dict[str, object] | None:
    """The event's columns, from the inbox (which keeps sealed rows too) or else the lake."""
    row = lookup.store.execute(
        select(*(event_inbox.c[name] for name in inbox.EVENT_COLUMNS)).where(
            event_inbox.c.source == source, event_inbox.c.event_id == event_id
        )
    ).first()
    if row is not None:
        return dict(row._mapping)
    files = lake_manifest.files(lookup.store)
    if not files:
        return None
    duck = session()
    try:
        relation = reader.events_of(duck, lookup.lake_root, files, lookup.person_id).filter(
            f"source = {_quoted(source)} AND event_id = {_quoted(event_id)}"
        )
        found = relation.fetch_arrow_table().to_pylist()
    finally:
        duck.close()
    return found[0] if found else None


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def resolve_event(lookup: Lookup, item: ItemRef) -> ResolvedItem | None:
    source, event_id = item.event_key()
    found = _event_fields(lookup, source, event_id)
    if found is None:
        return None
    fields = {
        name: _text(value)
        for name, value in found.items()
        if value is not None and name not in ("content_hash", "month")
    }
    occurred = found.get("occurred_at")
    furnisher = source if partners.get(lookup.store, source) is not None else KAIMEN
    return ResolvedItem(
        item=item,
        person_id=fields["person_id"],
        furnisher=furnisher,
        negative=is_negative_event(fields),
        occurred_at=occurred if isinstance(occurred, dt.datetime) else None,
        fields=fields,
    )


def resolve_court_listing(lookup: Lookup, item: ItemRef) -> ResolvedItem | None:
    """A court listing (ref: its listing id), the person's while a live link joins them to
    it; furnished by the court; negative while its status restricts. Its fields are the
    court's record, never the name or ID number as published."""
    listing = court_list.listing(lookup.store, item.ref)
    if listing is None:
        return None
    link = court_list.live_link_of_listing(lookup.store, listing.listing_id)
    if link is None:
        return None
    return ResolvedItem(
        item=item,
        person_id=link.person_id,
        furnisher=COURT,
        negative=listing.status in RESTRICTIVE,
        occurred_at=dt.datetime.combine(listing.judgment_date, dt.time(), dt.UTC),
        fields={
            "listing_id": listing.listing_id,
            "court": listing.court,
            "case_number": listing.case_number,
            "amount": _text(listing.amount),
            "currency": listing.currency,
            "judgment_date": _text(listing.judgment_date),
            "status": listing.status,
            "link_id": link.link_id,
        },
    )


def resolve_identity_link(lookup: Lookup, item: ItemRef) -> ResolvedItem | None:
    """An identity link (ref: its link id): "that listing is not about me". kaimen made
    it, so kaimen answers; negative while it is live, since a live link puts a court
    judgment in the person's record whatever the listing's status."""
    link = court_list.link(lookup.store, item.ref)
    if link is None:
        return None
    return ResolvedItem(
        item=item,
        person_id=link.person_id,
        furnisher=KAIMEN,
        negative=link.live,
        occurred_at=link.linked_at,
        fields={
            "link_id": link.link_id,
            "listing_id": link.listing_id,
            "method": link.method,
            "match_probability": f"{link.match_probability:.6f}",
            "approved_by": link.approved_by,
            "linked_at": _text(link.linked_at),
        },
    )


def resolve_points_entry(lookup: Lookup, item: ItemRef) -> ResolvedItem | None:
    """A points ledger entry (ref: its entry id). kaimen's award run wrote it, so kaimen
    answers; negative while it is a deduction that no reversal has cancelled."""
    entry = points_ledger.entry(lookup.store, item.ref)
    if entry is None:
        return None
    cancelled = points_ledger.reversal_of(lookup.store, entry.entry_id) is not None
    return ResolvedItem(
        item=item,
        person_id=entry.person_id,
        furnisher=KAIMEN,
        negative=entry.entry_kind == points_ledger.AWARD and entry.points < 0 and not cancelled,
        occurred_at=dt.datetime.combine(entry.period, dt.time(), dt.UTC),
        fields={
            "entry_id": entry.entry_id,
            "rule_id": entry.rule_id,
            "event": f"{entry.source}/{entry.event_id}",
            "points": str(entry.points),
            "period": _text(entry.period),
            "expires_on": "" if entry.expires_on is None else _text(entry.expires_on),
        },
    )


RESOLVERS: dict[ItemKind, Resolver] = {
    ItemKind.EVENT: resolve_event,
    ItemKind.COURT_LISTING: resolve_court_listing,
    ItemKind.IDENTITY_LINK: resolve_identity_link,
    ItemKind.POINTS_ENTRY: resolve_points_entry,
}


def resolve(lookup: Lookup, item: ItemRef) -> ResolvedItem:
    """The person's negative item, or a refusal: someone else's item is answered as an
    unknown one."""
    resolver = RESOLVERS.get(item.kind)
    if resolver is None:
        raise DisputeRejected(f"disputes of {item.kind.value} items are not open yet")
    found = resolver(lookup, item)
    if found is None or found.person_id != lookup.person_id:
        raise ItemNotFound(NOT_YOURS)
    if not found.negative:
        raise DisputeRejected(
            f"{item} is not a negative item: only items that can lower a score are disputed"
        )
    return found
