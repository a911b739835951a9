"""Decisions in the store: the record a partner's answer was made as is the record read back."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.domain.decisions import Decision, DecisionReason
from kaimen.domain.scores import Dimension
from kaimen.store import decisions, offers
from tests.store.score_rows import PARTNER, T0, enrol, partner_with_offer


def _decision(decision_id: str, offer_id: int, minutes: int = 0, **changes: Any) -> Decision:
    made = Decision(
        decision_id=decision_id,
        partner_id=PARTNER,
        offer_id=offer_id,
        person_id="P1",
        decided_at=T0 + dt.timedelta(minutes=minutes),
        month="2026-10",
        model_version="card-1",
        approved=False,
        score=587,
        points_short=13,
        reasons=(
            DecisionReason("late_payments_12m", "2 late payments in the last 12 months", 31),
            DecisionReason("months_of_history", "only 7 months of history", 7),
        ),
        score_shared=True,
    )
    return dataclasses.replace(made, **changes)


@pytest.fixture
def offer_id(engine: Engine) -> int:
    enrol(engine, "P1", "P2")
    return partner_with_offer(engine).offer_id


def test_the_offer_decided_against_reads_back_with_its_minimum_sub_scores(
    engine: Engine, offer_id: int
) -> None:
    with engine.connect() as store:
        offer = offers.get(store, offer_id)
    assert offer is not None
    assert (offer.name, offer.purpose, offer.min_score) == ("Card", "a credit card", 600)
    assert offer.min_dimensions == {Dimension.CAPACITY: 55}


def test_a_decision_reads_back_as_it_was_made(engine: Engine, offer_id: int) -> None:
    declined = _decision("d-1", offer_id)
    thin = _decision(
        "d-2", offer_id, month=None, model_version=None, score=None, points_short=None,
        reasons=(), score_shared=False,
    )  # fmt: skip
    with engine.begin() as store:
        decisions.insert_decision(store, declined)
        decisions.insert_decision(store, thin)
    with engine.connect() as store:
        assert decisions.get(store, "d-1") == declined
        assert decisions.get(store, "d-2") == thin
        assert decisions.get(store, "d-3") is None


def test_a_persons_decisions_newest_first(engine: Engine, offer_id: int) -> None:
    approved = _decision("d-b", offer_id, minutes=5, approved=True, points_short=0, reasons=())
    with engine.begin() as store:
        for made in (_decision("d-a", offer_id), approved, _decision("d-c", offer_id)):
            decisions.insert_decision(store, made)
        decisions.insert_decision(store, _decision("d-p2", offer_id, person_id="P2"))
    with engine.connect() as store:
        mine = decisions.of_person(store, "P1")
        assert [d.decision_id for d in mine] == ["d-b", "d-a", "d-c"]
        assert mine[0].approved is True and mine[1].approved is False
        assert decisions.of_person(store, "P3") == []


def test_a_decision_rests_on_an_offer_that_exists(engine: Engine, offer_id: int) -> None:
    with pytest.raises(IntegrityError), engine.begin() as store:
        decisions.insert_decision(store, _decision("d-1", offer_id + 1))
