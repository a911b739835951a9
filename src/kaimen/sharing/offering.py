"""Partners' offers: publish, list and withdraw (a partner with scope `decisions`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from kaimen.domain.connections import ConnectionsNotRequirable
from kaimen.domain.scores import Dimension
from kaimen.store import audit, offers
from kaimen.store.offers import Offer

__all__ = ["Offer", "OfferTerms", "offers_of", "publish_offer", "withdraw_offer"]


@dataclass(frozen=True)
class OfferTerms:
    """What a partner asks of a person's score for an offer to open."""

    name: str
    purpose: str
    min_score: int
    min_band: str | None = None
    min_dimensions: Mapping[str, int] = field(default_factory=dict)


def publish_offer(
    engine: Engine, partner_id: str, terms: OfferTerms, actor: str, now: dt.datetime | None = None
) -> Offer:
    """Publish an offer; every threshold is checked against the score's scales, and none
    may be on the connections sub-score (ConnectionsNotRequirable)."""
    if Dimension.CONNECTIONS.value in terms.min_dimensions:
        raise ConnectionsNotRequirable()

    def work(store: Connection) -> Offer:
        offer = offers.publish(
            store,
            partner_id,
            terms.name,
            terms.purpose,
            terms.min_score,
            now or dt.datetime.now(dt.UTC),
            terms.min_band,
            terms.min_dimensions,
        )
        audit.append(store, actor, "offer.published", subject=str(offer.offer_id))
        return offer

    return audit.audited_transaction(engine, work)


def offers_of(engine: Engine, partner_id: str) -> list[Offer]:
    """The partner's own offers, open and withdrawn."""
    with engine.connect() as store:
        return offers.of_partner(store, partner_id)


def withdraw_offer(
    engine: Engine, partner_id: str, offer_id: int, actor: str, now: dt.datetime | None = None
) -> Offer:
    """Withdraw one of the partner's own offers (UnknownOffer, OfferAlreadyWithdrawn)."""

    def work(store: Connection) -> Offer:
        offer = offers.withdraw(store, partner_id, offer_id, now or dt.datetime.now(dt.UTC))
        audit.append(store, actor, "offer.withdrawn", subject=str(offer_id))
        return offer

    return audit.audited_transaction(engine, work)
