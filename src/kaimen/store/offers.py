"""Partners' offers: a door and the score (and optionally band and sub-scores) that opens it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from kaimen.domain.errors import Conflict, NotFound, Rejected
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN, Dimension, DimensionScores
from kaimen.domain.text import excerpt, readable_problem
from kaimen.store.tables import offers


class OfferRejected(Rejected):
    """An offer that cannot be published, changed or withdrawn as asked; `field` names the
    term at fault (`min_score`, `min_band`, `min_dimensions.<dimension>`, ...) when one is, so
    a form can show the message beside it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownOffer(NotFound, OfferRejected):
    """No such offer of this partner's."""


class OfferAlreadyWithdrawn(Conflict, OfferRejected):
    """The offer was withdrawn before."""


@dataclass(frozen=True)
class Offer:
    offer_id: int
    partner_id: str
    name: str
    purpose: str
    min_score: int
    min_band: str | None
    min_dimensions: Mapping[Dimension, int] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    withdrawn_at: dt.datetime | None = None

    @property
    def required_score(self) -> int:
        """The score that opens the offer: its minimum, or its band's floor when higher."""
        if self.min_band is None:
            return self.min_score
        band = next(b for b in BANDS if b.name == self.min_band)
        return max(self.min_score, band.low)

    def unmet_dimensions(self, dimensions: DimensionScores) -> list[tuple[Dimension, int]]:
        """Each sub-score the offer asks for that `dimensions` falls short of (none on record
        falls short), with the offer's minimum, in the dimensions' order."""
        return [
            (dimension, floor)
            for dimension, floor in sorted(self.min_dimensions.items())
            if (value := dimensions.get(dimension)) is None or value < floor
        ]


def _offer(r: Row[Any]) -> Offer:
    return Offer(
        r.offer_id,
        r.partner_id,
        r.name,
        r.purpose,
        r.min_score,
        r.min_band,
        {Dimension(d): minimum for d, minimum in r.min_dimensions.items()},
        r.created_at,
        r.withdrawn_at,
    )


def publish(
    connection: Connection,
    partner_id: str,
    name: str,
    purpose: str,
    min_score: int,
    now: dt.datetime,
    min_band: str | None = None,
    min_dimensions: Mapping[str, int] | None = None,
) -> Offer:
    """Publish an offer; every threshold is checked against the score's own scales."""
    name, purpose = name.strip(), purpose.strip()
    for what, text in (("name", name), ("purpose", purpose)):
        if not 0 < len(text) <= 200:
            raise OfferRejected("an offer needs a name and a purpose of 1-200 characters", what)
        problem = readable_problem(text)
        if problem:
            raise OfferRejected(f"the offer's {what} {problem}", what)
    dimensions = check_thresholds(min_score, min_band, min_dimensions)
    offer_id = connection.execute(
        insert(offers)
        .values(
            partner_id=partner_id,
            name=name,
            purpose=purpose,
            min_score=min_score,
            min_band=min_band,
            min_dimensions=dict(sorted(dimensions.items())),
            created_at=now,
        )
        .returning(offers.c.offer_id)
    ).scalar_one()
    return Offer(offer_id, partner_id, name, purpose, min_score, min_band, dimensions, now)


def check_thresholds(
    min_score: int, min_band: str | None, min_dimensions: Mapping[str, int] | None
) -> dict[Dimension, int]:
    """The dimension minimums by dimension, once every threshold is found on the score's own
    scales (OfferRejected naming the field otherwise)."""
    if isinstance(min_score, bool) or not isinstance(min_score, int):
        raise OfferRejected(f"min_score must be a whole number, not {min_score!r}", "min_score")
    if not SCORE_MIN <= min_score <= SCORE_MAX:
        raise OfferRejected(f"min_score must be between {SCORE_MIN} and {SCORE_MAX}", "min_score")
    bands = [b.name for b in BANDS]
    if min_band is not None and min_band not in bands:
        raise OfferRejected(
            f"min_band must be one of {', '.join(bands)}, not {excerpt(min_band)!r}", "min_band"
        )
    known = {d.value for d in Dimension}
    dimensions: dict[Dimension, int] = {}
    for dimension, minimum in (min_dimensions or {}).items():
        if dimension not in known:
            raise OfferRejected(
                f"unknown dimension {excerpt(dimension)!r}: choose from {', '.join(sorted(known))}",
                "min_dimensions",
            )
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 0 <= minimum <= 100:
            raise OfferRejected(
                f"the minimum for {dimension} must be a whole number 0-100",
                f"min_dimensions.{dimension}",
            )
        dimensions[Dimension(dimension)] = minimum
    return dimensions


def get(connection: Connection, offer_id: int) -> Offer | None:
    row = connection.execute(select(offers).where(offers.c.offer_id == offer_id)).first()
    return None if row is None else _offer(row)


def of_partner(connection: Connection, partner_id: str) -> list[Offer]:
    rows = connection.execute(
        select(offers).where(offers.c.partner_id == partner_id).order_by(offers.c.offer_id)
    )
    return [_offer(r) for r in rows]


def open_offers(connection: Connection) -> list[Offer]:
    """Every partner's offers not withdrawn, oldest first."""
    rows = connection.execute(
        select(offers).where(offers.c.withdrawn_at.is_(None)).order_by(offers.c.offer_id)
    )
    return [_offer(r) for r in rows]


def withdraw(connection: Connection, partner_id: str, offer_id: int, now: dt.datetime) -> Offer:
    """Withdraw one of the partner's own offers; later decisions against it are refused."""
    offer = get(connection, offer_id)
    if offer is None or offer.partner_id != partner_id:
        raise UnknownOffer(f"no offer {offer_id} of yours")
    if offer.withdrawn_at is not None:
        raise OfferAlreadyWithdrawn(f"offer {offer_id} was already withdrawn")
    connection.execute(update(offers).where(offers.c.offer_id == offer_id).values(withdrawn_at=now))
    return Offer(**{**offer.__dict__, "withdrawn_at": now})


def change_thresholds(
    connection: Connection,
    partner_id: str,
    offer_id: int,
    min_score: int,
    min_band: str | None,
    min_dimensions: Mapping[str, int] | None,
) -> tuple[Offer, Offer]:
    """Set new thresholds on one of the partner's own live offers: (before, after). Decisions
    already made keep what they were judged against; the next one meets the new terms."""
    dimensions = check_thresholds(min_score, min_band, min_dimensions)
    offer = get(connection, offer_id)
    if offer is None or offer.partner_id != partner_id:
        raise UnknownOffer(f"no offer {offer_id} of yours")
    if offer.withdrawn_at is not None:
        raise OfferAlreadyWithdrawn(
            f"offer {offer_id} was withdrawn: publish a new offer instead", "min_score"
        )
    connection.execute(
        update(offers)
        .where(offers.c.offer_id == offer_id)
        .values(
            min_score=min_score,
            min_band=min_band,
            min_dimensions=dict(sorted(dimensions.items())),
        )
    )
    changed = Offer(
        **{
            **offer.__dict__,
            "min_score": min_score,
            "min_band": min_band,
            "min_dimensions": dimensions,
        }
    )
    return offer, changed
