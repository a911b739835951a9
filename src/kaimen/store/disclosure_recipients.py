"""Who was shown a person's data: the partners that got a decision or a report about them
since a moment (those a correction of an item from before then must reach)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from kaimen.store.tables import access_log, decisions

PARTNER_ACTOR = "partner:"


def partners_since(connection: Connection, person_id: str, since: dt.datetime | None) -> list[str]:
    """Partner ids with a decision, a logged report or a restriction check about the person
    at or after `since` (all time when None), sorted."""
    decided = select(decisions.c.partner_id).where(decisions.c.person_id == person_id)
    reported = select(access_log.c.actor).where(
        access_log.c.person_id == person_id,
        # A report, or a restriction check: both told the partner of the person's record.
        access_log.c.purpose.in_(("report", "restrictions_check")),
        access_log.c.actor.startswith(PARTNER_ACTOR),
    )
    if since is not None:
        decided = decided.where(decisions.c.decided_at >= since)
        reported = reported.where(access_log.c.accessed_at >= since)
    found = set(connection.execute(decided.distinct()).scalars())
    found.update(
        a.removeprefix(PARTNER_ACTOR) for a in connection.execute(reported.distinct()).scalars()
    )
    return sorted(found)
