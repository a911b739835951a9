"""`POST /v1/decisions`: does a person's latest published score open a partner's offer?

The decision reads the stored snapshot, never recomputes a score: it is what the person
sees. Reasons are those of the snapshot, in its order (largest loss first), and only as many
as are needed to cover the shortfall against *this offer's* threshold, which is exactly what
`scorecard.reasons(..., threshold=...)` gives (the snapshot stores that ranking, and a
threshold only shortens it). Consent is checked in the same transaction that reads the
score, writes the decision and logs the access, so a revocation takes effect for the next
request and no read goes unlogged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from kaimen.domain.errors import NotFound
from kaimen.domain.scores import BANDS, MAX_REASONS
from kaimen.features.catalogue import CATALOGUE
from kaimen.scoring.reading import reason_text
from kaimen.store import access_log, consents, decisions, offers, scores
from kaimen.store.scores import Snapshot

NOT_FOUND = "no such person, or no consent for this use"


class PersonNotFound(NotFound):
    """Unknown person, or no live consent: deliberately the same error for both."""

    public_detail = NOT_FOUND


class OfferNotFound(NotFound):
    """No such offer of this partner's, or it was withdrawn."""


@dataclass(frozen=True)
class DecisionReason:
    feature: str
    text: str
    points: int  # what the person would gain back if this characteristic were at its best


@dataclass(frozen=True)
class Decision:
    decision_id: str
    offer_id: int
    offer_name: str
    person_id: str
    decided_at: dt.datetime
    approved: bool
    month: str | None
    model_version: str | None
    score: int | None
    points_short: int | None
    reasons: list[DecisionReason]
    unmet: list[str]
    # Whether the person consented to the partner seeing the score (and the points).
    score_shared: bool


def covering(losses: list[int], shortfall: int) -> int:
    """How many of the ranked losses (largest first) are needed to cover `shortfall`:
    0 when there is none, all of them when even all do not cover it."""
    if shortfall <= 0:
        return 0
    total = 0
    for index, loss in enumerate(losses):
        total += loss
        if total >= shortfall:
            return index + 1
    return len(losses)


def _raw(snapshot: Snapshot) -> int:
    return sum(snapshot.points.values())


def _judge(
    snapshot: Snapshot | None, offer: offers.Offer
) -> tuple[bool, int | None, list[DecisionReason], list[str]]:
    """(approved, points short, reasons, unmet requirements) of the snapshot against the offer."""
    if snapshot is None or snapshot.score is None:
        return False, None, [], ["too little history to score yet (thin file)"]
    minimum = offer.min_score
    unmet: list[str] = []
    if offer.min_band is not None:
        band = next(b for b in BANDS if b.name == offer.min_band)
        minimum = max(minimum, band.low)
    if snapshot.score < minimum:
        unmet.append(f"score below the offer's minimum of {minimum}")
    short = max(0, minimum - snapshot.score)
    ranked = [r for r in snapshot.reasons if int(r["points_lost"]) > 0]
    # Against the unclipped sum of points, as the batch ranks them: clipping to 350-950 only
    # changes how a score is shown, not which characteristics cost it.
    needed = covering([int(r["points_lost"]) for r in ranked], minimum - _raw(snapshot))
    chosen = ranked[:needed] if short else []
    for dimension, floor in sorted(offer.min_dimensions.items()):
        value = snapshot.dimensions.get(dimension)
        if value is None or value < floor:
            # Not the sub-score itself: like the score, it is the person's to share.
            unmet.append(
                f"{dimension.replace('_', ' ')} sub-score below the offer's minimum of {floor}"
            )
            for reason in ranked:
                spec = CATALOGUE.get(reason["feature"])
                if spec and spec.dimension.value == dimension and reason not in chosen:
                    chosen.append(reason)
    reasons = [
        DecisionReason(r["feature"], reason_text(r["feature"], r["value"]), int(r["points_lost"]))
        for r in chosen[:MAX_REASONS]
    ]
    return not unmet, short, reasons, unmet


def _disclosed(decision: Decision) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "offer_id": decision.offer_id,
        "offer": decision.offer_name,
        "approved": decision.approved,
        "reasons": [r.text for r in decision.reasons],
        "unmet": decision.unmet,
    }
    if decision.score_shared:
        shown |= {
            "score": decision.score,
            "points_short": decision.points_short,
            "reason_points": [r.points for r in decision.reasons],
        }
    return shown


def decide_in(
    store: Connection,
    partner_id: str,
    offer_id: int,
    person_id: str,
    actor: str,
    now: dt.datetime,
) -> Decision:
    """Decide within the caller's transaction (see `decide`)."""
    offer = offers.get(store, offer_id)
    if offer is None or offer.partner_id != partner_id or offer.withdrawn_at is not None:
        raise OfferNotFound(f"no open offer {offer_id} of yours")
    consent = consents.live(store, person_id, partner_id, "decision", now)
    if consent is None:
        raise PersonNotFound(NOT_FOUND)
    snapshot = scores.latest(store, person_id)
    approved, short, reasons, unmet = _judge(snapshot, offer)
    decision = Decision(
        decision_id=str(uuid.uuid4()),
        offer_id=offer.offer_id,
        offer_name=offer.name,
        person_id=person_id,
        decided_at=now,
        approved=approved,
        month=snapshot.month if snapshot else None,
        model_version=snapshot.model_version if snapshot else None,
        score=snapshot.score if snapshot else None,
        points_short=short,
        reasons=reasons,
        unmet=unmet,
        score_shared=consent.share_score,
    )
    decisions.insert_decision(
        store,
        decisions.StoredDecision(
            decision.decision_id,
            partner_id,
            offer.offer_id,
            person_id,
            now,
            decision.month,
            decision.model_version,
            approved,
            decision.score,
            short,
            [{"feature": r.feature, "text": r.text, "points": r.points} for r in decision.reasons],
            consent.share_score,
        ),
    )
    access_log.record(
        store, person_id, actor, f"decision: {offer.purpose}", "decision", _disclosed(decision), now
    )
    return decision


def decide(
    engine: Engine,
    partner_id: str,
    offer_id: int,
    person_id: str,
    actor: str,
    now: dt.datetime | None = None,
) -> Decision:
    """Decide, store the decision and log the access, in one transaction."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as store:
        return decide_in(store, partner_id, offer_id, person_id, actor, now)
