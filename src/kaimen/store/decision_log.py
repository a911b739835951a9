"""A partner's own decisions, newest first, a page at a time (keyset paging: a deep page costs
what the first does)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, and_, or_, select

from kaimen.store.tables import decisions, offers


@dataclass(frozen=True)
class LoggedDecision:
    decision_id: str
    person_id: str  # the person's pseudonymous id, as the partner asked about them
    offer_id: int
    offer_name: str
    approved: bool
    decided_at: dt.datetime


def of_partner(
    connection: Connection,
    partner_id: str,
    limit: int,
    before: tuple[dt.datetime, str] | None = None,
) -> list[LoggedDecision]:
    """Up to `limit` of the partner's decisions, newest first, from just after `before` (the
    (decided_at, decision_id) of the last one of the page before), or from the newest."""
    d = decisions.c
    query = (
        select(d.decision_id, d.person_id, d.offer_id, offers.c.name, d.approved, d.decided_at)
        .join(offers, offers.c.offer_id == d.offer_id)
        .where(d.partner_id == partner_id)
        .order_by(d.decided_at.desc(), d.decision_id.desc())
        .limit(limit)
    )
    if before is not None:
        at, decision_id = before
        query = query.where(
            or_(d.decided_at < at, and_(d.decided_at == at, d.decision_id < decision_id))
        )
    return [LoggedDecision(*row) for row in connection.execute(query)]
