"""The partner's decisions log: every decision it asked for (whose pseudonymous id, which
offer, approved or declined, when), newest first, a page at a time.

Nothing is read about anyone here beyond what the partner was answered at the time, and the
score is left out even where the person shared it, so reading the log is not a new look at
a person and writes no access-log row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from kaimen.store import decision_log
from kaimen.store.decision_log import LoggedDecision

__all__ = ["PAGE_SIZE", "Cursor", "DecisionPage", "LoggedDecision", "decisions_page"]
PAGE_SIZE = 25


@dataclass(frozen=True)
class Cursor:
    """Where a page of the log ends: the last decision shown."""

    decided_at: dt.datetime
    decision_id: str


@dataclass(frozen=True)
class DecisionPage:
    decisions: tuple[LoggedDecision, ...]
    # Where the next (older) page starts; None on the last page.
    older: Cursor | None


def decisions_page(
    engine: Engine, partner_id: str, after: Cursor | None = None, size: int = PAGE_SIZE
) -> DecisionPage:
    """One page of the partner's own decisions, newest first, after `after` (or the newest)."""
    before = None if after is None else (after.decided_at, after.decision_id)
    with engine.connect() as store:
        # One more than a page, to know whether an older page exists without counting.
        found = decision_log.of_partner(store, partner_id, size + 1, before)
    shown = tuple(found[:size])
    last = shown[-1] if shown and len(found) > size else None
    return DecisionPage(shown, None if last is None else Cursor(last.decided_at, last.decision_id))
