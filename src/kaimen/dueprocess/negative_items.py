"""The items a person can dispute, as they would choose one: the negative events in the lake,
the court listings linked to them and the links themselves, and the deductions in their
points ledger, each with its standing now (disputed, suppressed, corrected or as it is).

The same items `disputable_items.resolve` accepts (the person's own, negative ones): a list to
choose from, read for the person only and not logged (it is theirs, as the own report is).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kaimen.domain.court_list import RESTRICTIVE
from kaimen.domain.disputes import (
    ItemKind,
    ItemRef,
    ItemState,
    is_negative_event,
    negative_event_sql,
)
from kaimen.engines.embedded import session
from kaimen.lake import reader
from kaimen.store import court_list, lake_manifest, person_data, points_ledger
from kaimen.store import disputes as dispute_rows


@dataclass(frozen=True)
class NegativeItem:
    item: ItemRef
    occurred_at: dt.datetime
    what: str  # the item's kind of record: an event kind, "court_listing", ...
    detail: str  # its defining fields, as text ("status late, 120.00 CNY")
    state: ItemState | None  # None: it counts as it is


def _events(lake_root: Path, files: list[str], person_id: str) -> list[NegativeItem]:
    if not files:
        return []
    duck = session()
    try:
        mine = reader.events_of(duck, lake_root, files, person_id)
        negative = mine.query(
            "mine",
            "SELECT source, event_id, kind, occurred_at, coalesce(status, outcome) AS state, "
            "CAST(amount AS VARCHAR) AS amount, currency FROM mine "
            f"WHERE {negative_event_sql()} ORDER BY occurred_at DESC, source, event_id",
        )
        assert negative is not None
        rows = negative.fetchall()
    finally:
        duck.close()
    return [
        NegativeItem(
            ItemRef.event(source, event_id),
            occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.UTC),
            kind,
            " ".join(part for part in (state, amount, currency) if part),
            None,
        )
        for source, event_id, kind, occurred, state, amount, currency in rows
    ]


def _received(
    unsealed: list[person_data.UnsealedEvent], sealed: set[ItemRef]
) -> list[NegativeItem]:
    """Events received and not yet sealed into the lake: disputable already (the resolver
    finds them in the inbox). At most a month of one person's, so read one by one."""
    found = []
    for event in unsealed:
        fields = {k: v for k, v in event.fields.items() if v is not None}
        item = ItemRef.event(fields["source"], fields["event_id"])
        if item in sealed or not is_negative_event(fields):
            continue
        state = fields.get("status") or fields.get("outcome")
        detail = (state, fields.get("amount"), fields.get("currency"))
        found.append(
            NegativeItem(
                item,
                dt.datetime.fromisoformat(fields["occurred_at"]),
                fields["kind"],
                " ".join(part for part in detail if part),
                None,
            )
        )
    return found


def negative_items_of(engine: Engine, lake_root: Path, person_id: str) -> list[NegativeItem]:
    """The person's negative items, newest first, each with its standing now."""
    with engine.connect() as store:
        files = lake_manifest.files(store)
        linked = court_list.linked_listings(store, person_id)
        ledger = points_ledger.entries_of(store, person_id)
        states = {s.item: s.state for s in dispute_rows.states_of_person(store, person_id)}
        unsealed = person_data.unsealed_events(store, person_id)
    reversed_ids = {e.reverses for e in ledger if e.reverses is not None}
    found = _events(lake_root, files, person_id)
    found.extend(_received(unsealed, {i.item for i in found}))
    for link, listing in linked:
        judged = dt.datetime.combine(listing.judgment_date, dt.time(), dt.UTC)
        detail = f"{listing.court} {listing.case_number} {listing.amount:.2f} {listing.currency}"
        if listing.status in RESTRICTIVE:
            found.append(
                NegativeItem(
                    ItemRef(ItemKind.COURT_LISTING, listing.listing_id),
                    judged,
                    "court_listing",
                    f"{detail} {listing.status}",
                    None,
                )
            )
        # A live link puts the judgment in the record whatever its status: "not about me".
        found.append(
            NegativeItem(
                ItemRef(ItemKind.IDENTITY_LINK, link.link_id),
                link.linked_at,
                "identity_link",
                detail,
                None,
            )
        )
    found.extend(
        NegativeItem(
            ItemRef.points_entry(e.entry_id),
            dt.datetime.combine(e.period, dt.time(), dt.UTC),
            "points_entry",
            f"{e.rule_id} {e.points}",
            None,
        )
        for e in ledger
        if e.entry_kind == points_ledger.AWARD and e.points < 0 and e.entry_id not in reversed_ids
    )
    found.sort(key=lambda i: (i.occurred_at, str(i.item)), reverse=True)
    return [
        NegativeItem(i.item, i.occurred_at, i.what, i.detail, states.get(i.item)) for i in found
    ]
