"""Offers: every threshold checked against the score's own scales; only its partner withdraws
an offer, once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from kaimen.store import offers
from kaimen.store.offers import OfferRejected, UnknownOffer
from tests.store.store_rows import T0, add_partners

LATER = T0 + dt.timedelta(days=1)


@pytest.fixture
def engine_with_partners(engine: Engine) -> Engine:
    add_partners(engine, "bank-a", "rent-co")
    return engine


def publish(engine: Engine, partner: str = "bank-a", **fields: Any) -> offers.Offer:
    values: dict[str, Any] = {"name": "Bike rental", "purpose": "rental", "min_score": 600}
    with engine.begin() as connection:
        return offers.publish(connection, partner, now=T0, **(values | fields))


def test_an_offer_is_published_and_read_back_as_it_was(engine_with_partners: Engine) -> None:
    engine = engine_with_partners
    offer = publish(
        engine,
        name="  Deposit-free bike  ",
        min_band="good",
        min_dimensions={"identity": 40, "credit_history": 55},
    )
    assert (offer.name, offer.purpose, offer.min_score, offer.min_band) == (
        "Deposit-free bike",
        "rental",
        600,
        "good",
    )
    assert offer.min_dimensions == {"credit_history": 55, "identity": 40}
    assert (offer.created_at, offer.withdrawn_at) == (T0, None)
    plain = publish(engine, min_score=350)
    publish(engine, "rent-co", min_score=950)
    with engine.connect() as connection:
        assert offers.get(connection, offer.offer_id) == offer
        assert offers.get(connection, plain.offer_id + 100) is None
        assert offers.of_partner(connection, "bank-a") == [offer, plain]
        assert offers.get(connection, plain.offer_id) == plain
    assert plain.min_dimensions == {}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": "  "}, "1-200 characters"),
        ({"purpose": "p" * 201}, "1-200 characters"),
        ({"name": "Bike\x00"}, "offer's name contains control"),
        ({"min_score": 349}, "between 350 and 950"),
        ({"min_score": 951}, "between 350 and 950"),
        ({"min_score": True}, "whole number"),
        ({"min_score": 600.0}, "whole number"),
        ({"min_band": "great"}, "min_band must be one of poor, fair, good, very good, excellent"),
        ({"min_dimensions": {"charm": 10}}, "unknown dimension 'charm'"),
        ({"min_dimensions": {"capacity": 101}}, "capacity must be a whole number 0-100"),
        ({"min_dimensions": {"capacity": False}}, "capacity must be a whole number 0-100"),
    ],
)
def test_a_threshold_off_the_scales_is_refused(
    engine_with_partners: Engine, fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(OfferRejected, match=problem):
        publish(engine_with_partners, **fields)
    with engine_with_partners.connect() as connection:
        assert offers.of_partner(connection, "bank-a") == []


def test_only_its_partner_withdraws_an_offer_and_only_once(engine_with_partners: Engine) -> None:
    engine = engine_with_partners
    offer = publish(engine)
    with pytest.raises(UnknownOffer), engine.begin() as connection:
        offers.withdraw(connection, "rent-co", offer.offer_id, LATER)
    with pytest.raises(UnknownOffer), engine.begin() as connection:
        offers.withdraw(connection, "bank-a", offer.offer_id + 100, LATER)
    with engine.begin() as connection:
        withdrawn = offers.withdraw(connection, "bank-a", offer.offer_id, LATER)
    assert withdrawn == offers.Offer(**{**offer.__dict__, "withdrawn_at": LATER})
    with pytest.raises(OfferRejected, match="already withdrawn"), engine.begin() as connection:
        offers.withdraw(connection, "bank-a", offer.offer_id, LATER + dt.timedelta(days=1))
    with engine.connect() as connection:
        assert offers.get(connection, offer.offer_id) == withdrawn
