"""Partners' offers: publish, list, change thresholds and withdraw (a partner with scope
`decisions`); how many people would qualify at a threshold (only ever a count of at least
`SMALLEST_COUNT`); and the open offers as a person sees them against their own latest score
(`offers_for`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.connections import ConnectionsNotRequirable
from kaimen.domain.errors import Forbidden
from kaimen.domain.json_values import JsonObject
from kaimen.domain.scores import BANDS, Dimension
from kaimen.store import audit, offer_reach, offers, partners, scores
from kaimen.store.offers import Offer, OfferRejected

__all__ = [
    "SMALLEST_COUNT",
    "Offer",
    "OfferRejected",
    "OfferTerms",
    "PersonsOffer",
    "Reach",
    "Thresholds",
    "change_thresholds",
    "check_thresholds",
    "offers_for",
    "offers_of",
    "publish_offer",
    "reach",
    "reach_of_offers",
    "withdraw_offer",
]
# Fewer people than this are never counted aloud: a count of 1 at a threshold would tell a
# partner that someone, perhaps someone it knows, scores there.
SMALLEST_COUNT = 10
# Counts are shown to the nearest this many (see `_reach`).
COUNT_STEP = 10


@dataclass(frozen=True)
class OfferTerms:
    """What a partner asks of a person's score for an offer to open."""

    name: str
    purpose: str
    min_score: int
    min_band: str | None = None
    min_dimensions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """An offer's thresholds alone: what a change sets and what a count is asked for."""

    min_score: int
    min_band: str | None = None
    min_dimensions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Reach:
    """How many people's latest published scores meet some thresholds, to the nearest ten:
    `people` is None when fewer than SMALLEST_COUNT do (the count itself is never shown
    then)."""

    people: int | None

    @property
    def fewer_than_smallest(self) -> bool:
        return self.people is None


def _no_connections(min_dimensions: Mapping[str, int]) -> None:
    if Dimension.CONNECTIONS.value in min_dimensions:
        raise ConnectionsNotRequirable()


def publish_offer(
    engine: Engine, partner_id: str, terms: OfferTerms, actor: str, now: dt.datetime | None = None
) -> Offer:
    """Publish an offer; every threshold is checked against the score's scales, and none
    may be on the connections sub-score (ConnectionsNotRequirable)."""
    _no_connections(terms.min_dimensions)

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


def change_thresholds(
    engine: Engine,
    partner_id: str,
    offer_id: int,
    thresholds: Thresholds,
    actor: str,
) -> Offer:
    """New thresholds for one of the partner's own live offers, checked as when publishing
    (OfferRejected, ConnectionsNotRequirable, UnknownOffer, OfferAlreadyWithdrawn); the
    audit row keeps the thresholds before and after."""
    _no_connections(thresholds.min_dimensions)

    def work(store: Connection) -> Offer:
        before, after = offers.change_thresholds(
            store,
            partner_id,
            offer_id,
            thresholds.min_score,
            thresholds.min_band,
            thresholds.min_dimensions,
        )
        audit.append(
            store,
            actor,
            "offer.thresholds_changed",
            subject=str(offer_id),
            details={"before": _terms_of(before), "after": _terms_of(after)},
        )
        return after

    return audit.audited_transaction(engine, work)


def _terms_of(offer: Offer) -> JsonObject:
    return {
        "min_score": offer.min_score,
        "min_band": offer.min_band,
        "min_dimensions": {d.value: m for d, m in sorted(offer.min_dimensions.items())},
    }


def _floor(
    min_score: int, min_band: str | None, dimensions: Mapping[Dimension, int]
) -> offer_reach.Floor:
    # As a decision judges it (`deciding._judge`): a minimum band raises the minimum score
    # to the band's lowest.
    if min_band is not None:
        min_score = max(min_score, next(b.low for b in BANDS if b.name == min_band))
    return offer_reach.Floor(min_score, dict(dimensions))


def _reach(count: int) -> Reach:
    """The count as a partner may see it: hidden below SMALLEST_COUNT, else to the nearest ten.
    Exact counts at thresholds a point apart told by their differences who lies between
    (87 at 700 and 86 at 701: one person scores exactly 700), which hiding the small counts
    alone did not stop."""
    if count < SMALLEST_COUNT:
        return Reach(None)
    return Reach((count + COUNT_STEP // 2) // COUNT_STEP * COUNT_STEP)


def check_thresholds(thresholds: Thresholds) -> dict[Dimension, int]:
    """The dimension minimums, once the thresholds pass every check an offer's do
    (OfferRejected naming the field, ConnectionsNotRequirable); nothing is read or stored."""
    _no_connections(thresholds.min_dimensions)
    return offers.check_thresholds(
        thresholds.min_score, thresholds.min_band, thresholds.min_dimensions
    )


def reach(engine: Engine, thresholds: Thresholds) -> Reach:
    """How many people's latest published scores meet `thresholds` (checked as an offer's
    are: OfferRejected, ConnectionsNotRequirable): what a partner sees before saving them."""
    dimensions = check_thresholds(thresholds)
    with engine.connect() as store:
        [count] = offer_reach.count_meeting(
            store, [_floor(thresholds.min_score, thresholds.min_band, dimensions)]
        )
    return _reach(count)


def reach_of_offers(engine: Engine, of: list[Offer]) -> dict[int, Reach]:
    """`reach` of each offer's thresholds, by offer id, in one pass over the scores."""
    floors = [_floor(o.min_score, o.min_band, o.min_dimensions) for o in of]
    with engine.connect() as store:
        counts = offer_reach.count_meeting(store, floors)
    return {o.offer_id: _reach(c) for o, c in zip(of, counts, strict=True)}
