"""Partners' offers: publish, list and withdraw (a partner with scope `decisions`); and the
open offers as a person sees them against their own latest score (`offers_for`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.connections import ConnectionsNotRequirable
from kaimen.domain.errors import Forbidden
from kaimen.domain.scores import Dimension
from kaimen.store import audit, offers, partners, scores
from kaimen.store.offers import Offer

__all__ = [
    "Offer",
    "OfferTerms",
    "PersonsOffer",
    "offers_for",
    "offers_of",
    "publish_offer",
    "withdraw_offer",
]


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


@dataclass(frozen=True)
class PersonsOffer:
    """An open offer against a person's latest published score: unlocked when the score and
    every sub-score it asks for reach its minimums; else what is still missing."""

    offer_id: int
    partner_id: str
    partner_name: str
    name: str
    purpose: str
    required_score: int  # the offer's minimum score, or its band's floor when higher
    unlocked: bool
    # Points the score still needs (0 when it is enough); None without a published score.
    points_needed: int | None
    # Sub-scores below the offer's minimum: (dimension, the offer's minimum).
    dimensions_short: tuple[tuple[Dimension, int], ...]


def offers_for(engine: Engine, person_id: str, reader: Caller) -> list[PersonsOffer]:
    """Every open offer, unlocked first, then by the points still needed. Only the person
    reads this (nothing is disclosed to a partner: it is the person's own score)."""
    if not reader.is_person(person_id):
        raise Forbidden("only the person sees the offers against their own score")
    with engine.connect() as store:
        history = scores.history(store, person_id)
        live = offers.open_offers(store)
        names = {p.partner_id: p.name for p in partners.all_partners(store)}
    latest = history[0] if history else None
    score = None if latest is None else latest.score
    found: list[PersonsOffer] = []
    for offer in live:
        needed = None if score is None else max(0, offer.required_score - score)
        short = tuple(offer.unmet_dimensions({} if latest is None else latest.dimensions))
        found.append(
            PersonsOffer(
                offer.offer_id,
                offer.partner_id,
                names.get(offer.partner_id, offer.partner_id),
                offer.name,
                offer.purpose,
                offer.required_score,
                needed == 0 and not short,
                needed,
                short,
            )
        )
    return sorted(
        found,
        key=lambda o: (not o.unlocked, o.points_needed is None, o.points_needed or 0, o.offer_id),
    )
