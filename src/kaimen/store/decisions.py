"""Decisions as stored: every answer a partner got, with what it rested on."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from kaimen.store.tables import decisions


@dataclass(frozen=True)
class StoredDecision:
    decision_id: str
    partner_id: str
    offer_id: int
    person_id: str
    decided_at: dt.datetime
    month: str | None
    model_version: str | None
    approved: bool
    score: int | None
    points_short: int | None
    reasons: list[dict[str, Any]]
    score_shared: bool


def insert_decision(connection: Connection, decision: StoredDecision) -> None:
    connection.execute(
        insert(decisions).values(
            decision_id=decision.decision_id,
            partner_id=decision.partner_id,
            offer_id=decision.offer_id,
            person_id=decision.person_id,
            decided_at=decision.decided_at,
            month=decision.month,
            model_version=decision.model_version,
            approved=int(decision.approved),
            score=decision.score,
            points_short=decision.points_short,
            reasons=json.dumps(decision.reasons, sort_keys=True),
            score_shared=int(decision.score_shared),
        )
    )


def _stored(row: Any) -> StoredDecision:
    return StoredDecision(
        row.decision_id,
        row.partner_id,
        row.offer_id,
        row.person_id,
        row.decided_at,
        row.month,
        row.model_version,
        bool(row.approved),
        row.score,
        row.points_short,
        json.loads(row.reasons),
        bool(row.score_shared),
    )


def of_person(connection: Connection, person_id: str) -> list[StoredDecision]:
    rows = connection.execute(
        select(decisions)
        .where(decisions.c.person_id == person_id)
        .order_by(decisions.c.decided_at.desc(), decisions.c.decision_id)
    )
    return [_stored(r) for r in rows]


def get(connection: Connection, decision_id: str) -> StoredDecision | None:
    row = connection.execute(
        select(decisions).where(decisions.c.decision_id == decision_id)
    ).first()
    return None if row is None else _stored(row)
