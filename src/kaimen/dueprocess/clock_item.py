"""One running clock, as `kaimen sla` lists it (see `clocks`): a type of its own so the
services that own a clock (disputes, the outbox, settlement, identity reviews) can each
report theirs without importing the list that gathers them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockItem:
    source: str  # "dispute", "furnisher_notice", "outbox", "pending_removal", ...
    ref: str  # the dispute's, message's, listing's, payment's or review's id
    subject: str  # whom it concerns: a person id, a partner id or "court"
    due_at: dt.datetime | None
    overdue: bool
    detail: str
