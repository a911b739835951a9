"""A partner's decision about a person: one record from the moment it is made to the person's
own copy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class DecisionReason:
    feature: str
    text: str  # in plain language, with the person's own value
    points: int  # what the person would gain back if this characteristic were at its best


@dataclass(frozen=True)
class Decision:
    """Every answer a partner got, with what it rested on (the snapshot's month and model)."""

    decision_id: str
    partner_id: str
    offer_id: int
    person_id: str
    decided_at: dt.datetime
    # Empty when the person had no snapshot yet.
    month: str | None
    model_version: str | None
    approved: bool
    # Empty for a thin file: declined, nothing to compare.
    score: int | None
    points_short: int | None
    # Against this offer's threshold, largest first, at most MAX_REASONS.
    reasons: tuple[DecisionReason, ...]
    # Whether the person consented to the partner seeing the score (and the points).
    score_shared: bool
