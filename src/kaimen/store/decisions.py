"""Decisions as stored: every answer a partner got, with what it rested on."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from kaimen.domain.decisions import Decision, DecisionReason
from kaimen.store.tables import decisions


def insert_decision(connection: Connection, decision: Decision) -> None:
    connection.execute(
        insert(decisions).values(
            decision_id=decision.decision_id,
            partner_id=decision.partner_id,
            offer_id=decision.offer_id,
            person_id=decision.person_id,
            decided_at=decision.decided_at,
            month=decision.month,
            model_version=decision.model_version,
            approved=decision.approved,
            score=decision.score,
            points_short=decision.points_short,
            reasons=[asdict(reason) for reason in decision.reasons],
            score_shared=decision.score_shared,
        )
    )


def _decision(row: Row[Any]) -> Decision:
    return Decision(
        row.decision_id,
        row.partner_id,
        row.offer_id,
        row.person_id,
        row.decided_at,
        row.month,
        row.model_version,
        row.approved,
        row.score,
        row.points_short,
        tuple(DecisionReason(**reason) for reason in row.reasons),
        row.score_shared,
    )


def of_person(connection: Connection, person_id: str) -> list[Decision]:
    rows = connection.execute(
        select(decisions)
        .where(decisions.c.person_id == person_id)
        .order_by(decisions.c.decided_at.desc(), decisions.c.decision_id)
    )
    return [_decision(r) for r in rows]


def get(connection: Connection, decision_id: str) -> Decision | None:
    row = connection.execute(
        select(decisions).where(decisions.c.decision_id == decision_id)
    ).first()
    return None if row is None else _decision(row)
