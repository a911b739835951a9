"""How a dispute moves its item's standing, and who is told when an item is suppressed or
corrected. Called inside the transaction of the filing, answer or sweep that moves it.

An item that is suppressed or corrected stays so whatever follows (a repeat dispute, a late
answer to an older dispute): nothing a person does can make an item count again, so a
repeat dispute never lowers a score.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from kaimen.domain.disputes import FINAL_ITEM_STATES, ItemKind, ItemState
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.points import corrections
from kaimen.store import disclosure_recipients, outbox
from kaimen.store import disputes as dispute_rows
from kaimen.store.disputes import DisputeRecord

ITEM_CHANGED = "item.changed"


def counts(state: ItemState | None, profile: Profile) -> bool:
    """Whether an item in `state` counts in the score under `profile`."""
    if state is None:
        return True
    if state is ItemState.DISPUTED:
        return profile.disputed_counts_while_pending
    return False


def move(
    store: Connection,
    dispute: DisputeRecord,
    state: ItemState | None,
    profile: Profile,
    now: dt.datetime,
) -> bool:
    """Put the dispute's item in `state` (None: it stands), unless it is final already or
    another dispute holds it. Returns whether its counting in the score changed, that is
    whether the person needs re-scoring."""
    current = dispute_rows.item_state(store, dispute.item)
    before = None if current is None else current.state
    if before in FINAL_ITEM_STATES:
        return False
    if state is None:
        if current is not None and current.dispute_id != dispute.dispute_id:
            return False  # a later dispute of the item holds it
        # Still disputed while another dispute of the item is open.
        other = dispute_rows.open_of_item(store, dispute.item, besides=dispute.dispute_id)
        if other is not None:
            dispute_rows.set_item_state(
                store, dispute.item, dispute.person_id, ItemState.DISPUTED, other.dispute_id, now
            )
            return False
        dispute_rows.clear_item_state(store, dispute.item)
    else:
        dispute_rows.set_item_state(
            store, dispute.item, dispute.person_id, state, dispute.dispute_id, now
        )
    if dispute.item.kind is ItemKind.EVENT:
        source, event_id = dispute.item.event_key()
        corrections.event_standing_moved(
            store, source, event_id, state, dispute.dispute_id, profile, now
        )
    if dispute.item.kind is ItemKind.POINTS_ENTRY:
        # Points are no part of the credit score: the entry's ledger and stored balance
        # change here, and nobody needs re-scoring.
        corrections.standing_moved(store, dispute.item.ref, state, dispute.dispute_id, profile, now)
        return False
    return counts(before, profile) != counts(state, profile)


def tell_recipients(
    store: Connection,
    dispute: DisputeRecord,
    state: ItemState,
    now: dt.datetime,
    correction: JsonObject | None = None,
) -> list[str]:
    """An outbox notice to every partner that got a decision or report about the person
    since the item's conduct: the item they may have relied on is suppressed or corrected."""
    recipients = disclosure_recipients.partners_since(
        store, dispute.person_id, dispute.item_occurred_at
    )
    for partner_id in recipients:
        payload: JsonObject = {
            "person_id": dispute.person_id,
            "item_kind": dispute.item.kind.value,
            "item_ref": dispute.item.ref,
            "state": state.value,
            "since": now.isoformat(),
            "dispute_id": dispute.dispute_id,
        }
        if correction is not None:
            payload["correction"] = correction
        outbox.enqueue(store, partner_id, ITEM_CHANGED, payload, now, dispute.dispute_id)
    return recipients
