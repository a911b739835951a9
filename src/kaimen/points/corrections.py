"""A ledger entry in a dispute. While it is disputed, replays count it as the profile says
(`disputed_counts_while_pending`); once the dispute ends with the entry suppressed or
corrected, a reversal cancels it (the entry itself is never changed). Either way the
person's stored balance is replayed again at once, so it always equals a replay of the
ledger. Called by due process inside the transaction that moves the entry's standing."""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa
from sqlalchemy import Connection

from kaimen.domain.disputes import FINAL_ITEM_STATES, ItemState
from kaimen.domain.profiles import Profile
from kaimen.points import rulebooks
from kaimen.points.standing import balance_now
from kaimen.store import points_ledger as ledger


def standing_moved(
    store: Connection,
    entry_id: str,
    state: ItemState | None,
    dispute_id: str,
    profile: Profile,
    now: dt.datetime,
) -> bool:
    """Reverse the entry if `state` is final and it stands unreversed; replay the person's
    stored balance. Returns whether a reversal was written."""
    original = ledger.entry(store, entry_id)
    if original is None:
        return False
    reversed_now = False
    if (
        state in FINAL_ITEM_STATES
        and original.entry_kind == ledger.AWARD
        and ledger.reversal_of(store, entry_id) is None
    ):
        ledger.reverse(
            store,
            original,
            str(uuid.uuid4()),
            f"dispute {dispute_id} ended with the entry {state.value if state else ''}",
            now,
        )
        reversed_now = True
    _replay_stored(store, original.person_id, profile, now)
    return reversed_now


def event_standing_moved(
    store: Connection,
    source: str,
    event_id: str,
    state: ItemState | None,
    dispute_id: str,
    profile: Profile,
    now: dt.datetime,
) -> int:
    """An event's dispute moved it: once it is suppressed or corrected, every award made for
    it is reversed (a correction is a new event, which the next award run scores on its
    own); while it is disputed, replays read its awards as disputed. The stored balances of
    its people are replayed again. Returns how many awards were reversed."""
    awards = ledger.awards_of_event(store, source, event_id)
    if state in FINAL_ITEM_STATES:
        for award in awards:  # the few awards of one event, one per rule that scored it
            ledger.reverse(
                store,
                award,
                str(uuid.uuid4()),
                f"dispute {dispute_id} ended with its event {state.value if state else ''}",
                now,
            )
    for person_id in {award.person_id for award in awards}:
        _replay_stored(store, person_id, profile, now)
    return len(awards) if state in FINAL_ITEM_STATES else 0


def _replay_stored(store: Connection, person_id: str, profile: Profile, now: dt.datetime) -> None:
    stored = ledger.stored_balance(store, person_id)
    if stored is None:
        return  # no run has stored a balance for them yet: the next one will
    installed = ledger.rulebook(store, stored.rulebook_id)
    if installed is None:
        return
    base = rulebooks.parsed(installed.name, installed.text).rulebook.base
    balance = balance_now(store, profile, person_id, base, stored.month)
    ledger.set_balances(
        store,
        pa.table({"person_id": [person_id], "balance": pa.array([balance], pa.int64())}),
        stored.month,
        stored.rulebook_id,
        now,
    )
