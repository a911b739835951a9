"""A dispute of an identity link ("that listing is not about me") that ends against the link
undoes it: the listing is no longer the person's, so restrictions and the score stop using it
at once, and no automatic step links it again.

Every end but `verified` does so: `deleted`, `unverifiable` and `lapsed` (the item is
suppressed) and `corrected` (kaimen's correction of a wrong link is to undo it). The un-merge
is `identity_links.unlink`, in its own transaction right after the answer's, with the dispute
as its reason; a link undone already is left as it is, so running it twice is harmless.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from kaimen.domain.disputes import DisputeState, ItemKind
from kaimen.dueprocess.identity_links import LinkNotLive, UnknownLink, unlink
from kaimen.store.disputes import DisputeRecord

UNDOING = frozenset(
    {
        DisputeState.DELETED,
        DisputeState.UNVERIFIABLE,
        DisputeState.LAPSED,
        DisputeState.CORRECTED,
    }
)


def undo_disputed_link(
    engine: Engine, dispute: DisputeRecord, actor: str, now: dt.datetime
) -> tuple[str, ...]:
    """Undo the link a closed dispute was about, when its end says so; returns the people
    whose standing changed (for re-scoring)."""
    if dispute.item.kind is not ItemKind.IDENTITY_LINK or dispute.state not in UNDOING:
        return ()
    reason = f"dispute {dispute.dispute_id} ended {dispute.state.value}"
    try:
        change = unlink(engine, dispute.item.ref, actor, reason, now)
    except (LinkNotLive, UnknownLink):
        return ()
    return change.people_changed
