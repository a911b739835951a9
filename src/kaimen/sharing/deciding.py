"""`POST /v1/decisions`: does a person's latest published score open a partner's offer?

The decision reads the stored snapshot, never recomputes a score: it is what the person
sees. Reasons are those of the snapshot, in its order (largest loss first), and only as many
as are needed to cover the shortfall against *this offer's* threshold, which is exactly what
`scorecard.reasons(..., threshold=...)` gives (the snapshot stores that ranking, and a
threshold only shortens it). Consent is checked in the same transaction that reads the
score, writes the decision and logs the access, so a revocation takes effect for the next
request and no read goes unlogged. The partner's API key is checked in that transaction too:
one connection and one transaction per decision, whatever door it came through.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from kaimen.domain.callers import Caller
from kaimen.domain.decisions import Decision, DecisionReason
from kaimen.domain.errors import KaimenError, NotFound
from kaimen.domain.json_values import JsonObject
from kaimen.domain.reasons import Reason
from kaimen.domain.scores import MAX_REASONS
from kaimen.domain.snapshots import Snapshot
from kaimen.features.catalogue import CATALOGUE
from kaimen.scoring.reading import reason_text
from kaimen.sharing import rate_limits
from kaimen.sharing.attempts import NO_CONSENT, PROBING, PROBING_LIMIT, refused_attempt
from kaimen.sharing.authentication import REFUSED, CredentialRefused, scope_missing
from kaimen.sharing.rate_limits import PartnerLimits
from kaimen.store import alerts, decision_path, offers, partners

if TYPE_CHECKING:
    from psycopg import AsyncConnection

NOT_FOUND = "no such person, or no consent for this use"


class PersonNotFound(NotFound):
    """Unknown person, or no live consent: deliberately the same error for both."""

    public_detail = NOT_FOUND


class OfferNotFound(NotFound):
    """No such offer of this partner's, or it was withdrawn."""


class LoggedRefusal(Exception):
    """Raised by `answered` for a refusal that the person sees in their access log (asked
    without consent, stopped for probing): the refusal the partner gets, and the row."""

    def __init__(self, refusal: KaimenError, logged: decision_path.Disclosure) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.logged = logged


@dataclass(frozen=True)
class Answer:
    """What the partner is told: the decision (as stored), the name of the offer it answers
    and the offer's requirements the person does not meet."""

    decision: Decision
    offer_name: str
    unmet: tuple[str, ...]
    # The person disputes an item on their record and its furnisher has not answered yet.
    under_dispute: bool = False


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


def _judge(
    snapshot: Snapshot | None, offer: offers.Offer
) -> tuple[bool, int | None, tuple[DecisionReason, ...], tuple[str, ...]]:
    """(approved, points short, reasons, unmet requirements) of the snapshot against the offer."""
    if snapshot is None or snapshot.score is None:
        return False, None, (), ("too little history to score yet (thin file)",)
    minimum = offer.required_score
    unmet: list[str] = []
    if snapshot.score < minimum:
        unmet.append(f"score below the offer's minimum of {minimum}")
    short = max(0, minimum - snapshot.score)
    ranked = [r for r in snapshot.reasons if r.points_lost > 0]
    # Against the unclipped sum of points, as the batch ranks them: clipping to 350-950 only
    # changes how a score is shown, not which characteristics cost it.
    needed = covering([r.points_lost for r in ranked], minimum - snapshot.raw_score)
    chosen: list[Reason] = ranked[:needed] if short else []
    for dimension, floor in offer.unmet_dimensions(snapshot.dimensions):
        # Not the sub-score itself: like the score, it is the person's to share.
        unmet.append(
            f"{dimension.replace('_', ' ')} sub-score below the offer's minimum of {floor}"
        )
        for reason in ranked:
            spec = CATALOGUE.get(reason.feature)
            if spec and spec.dimension == dimension and reason not in chosen:
                chosen.append(reason)
    reasons = tuple(
        DecisionReason(r.feature, reason_text(r.feature, r.value, r.detail), r.points_lost)
        for r in chosen[:MAX_REASONS]
    )
    return not unmet, short, reasons, tuple(unmet)


def _disclosed(answer: Answer) -> JsonObject:
    decision = answer.decision
    shown: JsonObject = {
        "decision_id": decision.decision_id,
        "offer_id": decision.offer_id,
        "offer": answer.offer_name,
        "approved": decision.approved,
        "reasons": [r.text for r in decision.reasons],
        "unmet": list(answer.unmet),
        "under_dispute": answer.under_dispute,
    }
    if decision.score_shared:
        shown |= {
            "score": decision.score,
            "points_short": decision.points_short,
            "reason_points": [r.points for r in decision.reasons],
        }
    return shown


SCOPE = "decisions"
# What a decision is in the access log.
SCOPE_WHAT = "decision"
# Raised by `decide(..., wait=False)` when SQLite's write lock is held elsewhere; nothing was
# read or written, and the same call with `wait=True` will wait its turn.
WriterBusy = decision_path.WriterBusy


def decide(
    engine: Engine,
    api_key: str,
    offer_id: int,
    person_id: str,
    now: dt.datetime | None = None,
    wait: bool = True,
    limits: PartnerLimits | None = None,
) -> Answer:
    """Decide for the partner whose API key (scope `decisions`) this is: check the key,
    read the offer, the consent and the snapshot, store the decision and log the access, on
    one connection and in one transaction (see `kaimen.store.decision_path`).

    A refused key raises `CredentialRefused` (or `ScopeMissing`) and nothing about the person
    is read; without a live consent nothing of theirs is read either, and only the attempt
    is logged for the person to see. With `limits`, `RateLimited` past them (see
    `rate_limits`). With `wait=False`, `WriterBusy` instead of waiting for SQLite's write
    lock."""
    [answer] = decide_many(engine, [question(api_key, offer_id, person_id, now)], wait, limits)
    if isinstance(answer, KaimenError):
        raise answer
    return answer


def question(
    api_key: str, offer_id: int, person_id: str, now: dt.datetime | None = None
) -> decision_path.Question:
    """The question a decision reads for; `CredentialRefused` at once for a malformed key,
    which never reaches the store."""
    parsed = partners.parse_key(api_key)
    if parsed is None:
        raise CredentialRefused(REFUSED)
    key_id, secret_hash = parsed
    return decision_path.Question(
        key_id, secret_hash, offer_id, person_id, now or dt.datetime.now(dt.UTC)
    )


def decide_many(
    engine: Engine,
    questions: Sequence[decision_path.Question],
    wait: bool = True,
    limits: PartnerLimits | None = None,
) -> list[Answer | KaimenError]:
    """`decide` for each question, all in one transaction on one connection (a group
    commit): each answer, or the refusal that question got (nothing of its own written but
    the attempt's access-log row, for a refusal the person sees). An unexpected error writes
    nothing for any of them."""
    with decision_path.transaction(engine, wait) as store:
        grounds = [
            store.grounds(
                asked.key_id, asked.secret_hash, SCOPE, asked.offer_id, asked.person_id, asked.now
            )
            for asked in questions
        ]
        outcomes = answered_all(questions, grounds, limits)
        results, decided, attempts, frozen = _sorted(questions, grounds, outcomes)
        store.record_many(decided)
        if attempts:
            store.record_attempts(attempts)
        store.record_frozen_attempts(frozen)
    return results


# What `answered` gives for one question: the answer and its access-log row, or a refusal.
_Outcome = tuple[Answer, decision_path.Disclosure] | LoggedRefusal | KaimenError


def _sorted(
    questions: Sequence[decision_path.Question],
    grounds: Sequence[decision_path.Grounds | None],
    outcomes: Sequence[_Outcome],
) -> tuple[
    list[Answer | KaimenError],
    list[tuple[Decision, decision_path.Disclosure]],
    list[decision_path.Attempt],
    list[alerts.FrozenAttempt],
]:
    """A batch's outcomes as what to write: each asker's answer or refusal; the decisions with
    their access-log rows; the refused attempts the person sees; and the attempts to log
    should the person's file be frozen."""
    results: list[Answer | KaimenError] = []
    decided: list[tuple[Decision, decision_path.Disclosure]] = []
    attempts: list[decision_path.Attempt] = []
    frozen: list[alerts.FrozenAttempt] = []
    for asked, found, outcome in zip(questions, grounds, outcomes, strict=True):
        if isinstance(outcome, LoggedRefusal):
            results.append(outcome.refusal)
            attempts.append(decision_path.Attempt(asked.person_id, asked.now, outcome.logged))
            frozen.extend(_attempt(asked, found, outcome.refusal))
        elif isinstance(outcome, KaimenError):
            results.append(outcome)
            frozen.extend(_attempt(asked, found, outcome))
        else:
            results.append(outcome[0])
            decided.append((outcome[0].decision, outcome[1]))
    return results, decided, attempts, frozen


def _attempt(
    asked: decision_path.Question, grounds: decision_path.Grounds | None, refusal: KaimenError
) -> list[alerts.FrozenAttempt]:
    """The attempt to log should the person's file be frozen (the store reads the freeze
    where it writes): a refusal as no consent, by a key that opened an offer of its own."""
    if grounds is None:
        return []
    key, offer = grounds.key, grounds.offer
    if not isinstance(refusal, PersonNotFound) or key is None or offer is None:
        return []
    return [
        alerts.FrozenAttempt(
            asked.person_id,
            Caller.partner(key.partner_id, asked.key_id, key.scopes).actor,
            key.partner_id,
            f"decision: {offer.purpose}",
            "decision",
            time_ordered_id(asked.now),
            asked.now,
        )
    ]


async def decide_many_async(
    connection: AsyncConnection[Any],
    questions: Sequence[decision_path.Question],
    limits: PartnerLimits | None = None,
) -> list[Answer | KaimenError]:
    """`decide_many` on PostgreSQL through an async connection, in two statements: one read
    for every question, then one write of every decision with its access-log row, which
    writes each only while the person's consent is still live (with the rows of the attempts
    refused in a way the person sees, and of those refused on a frozen file). A decision whose
    consent was revoked in between is refused like one without consent, and nothing of it
    written."""
    grounds: list[decision_path.Grounds | None] = (
        list(await decision_path.read_many(connection, questions, SCOPE)) if questions else []
    )
    outcomes = answered_all(questions, grounds, limits)
    # Those refused as no consent at the read are logged where the file is frozen, by the
    # statement that writes the batch (see `decision_path.POSTGRES_RECORDS`).
    results, decided, attempts, frozen = _sorted(questions, grounds, outcomes)
    written = (
        await decision_path.record_many_async(connection, decided, attempts, frozen)
        if decided or attempts or frozen
        else set[str]()
    )
    final: list[Answer | KaimenError] = [
        result
        if isinstance(result, KaimenError) or result.decision.decision_id in written
        else PersonNotFound(NOT_FOUND)
        for result in results
    ]
    # Refused at the write (a freeze or a revocation since the read): logged by a statement
    # of their own, where the file is frozen now.
    late = [
        attempt
        for asked, found_grounds, result, before in zip(
            questions, grounds, final, results, strict=True
        )
        if isinstance(result, KaimenError) and not isinstance(before, KaimenError)
        for attempt in _attempt(asked, found_grounds, result)
    ]
    await decision_path.record_frozen_attempts_async(connection, late)
    return final


def time_ordered_id(at: dt.datetime) -> str:
    """A UUID version 7 (RFC 9562): `at` in milliseconds, then 74 random bits. Decisions made
    together sort together, so a batch's ids go to one or two pages of the primary key's index
    instead of one random page each (a random UUID's), which every commit then writes out; the
    time it gives away is the answer's own `decided_at`."""
    random_bits = int.from_bytes(os.urandom(10))
    value = (
        (int(at.timestamp() * 1000) & _MILLISECONDS) << 80
        | 0x7 << 76  # version
        | (random_bits >> 62 & 0xFFF) << 64
        | 0b10 << 62  # variant
        | random_bits & _LOW_62
    )
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_MILLISECONDS = (1 << 48) - 1
_LOW_62 = (1 << 62) - 1


def threshold_of(offer: offers.Offer) -> str:
    """What an offer asks of a score, as one text: two offers asking the same tell a partner
    the same about a person (see `rate_limits` on probing)."""
    floors = ",".join(f"{d.value}>={m}" for d, m in sorted(offer.min_dimensions.items()))
    return f"{offer.required_score};{floors}"


def answered_all(
    questions: Sequence[decision_path.Question],
    grounds: Sequence[decision_path.Grounds | None],
    limits: PartnerLimits | None = None,
) -> list[_Outcome]:
    """`answered` for each question on what was read for it, with every question whose key
    proved genuine counted against its key's limit and, once admitted, against the partner's
    limits on the person, all together (`PartnerLimits.count_decisions`: one round trip to a
    shared storage for all of them). A question with a key that is not genuine counts
    against nothing: whoever knows a key's id (it is shown in lists and logs) must not be
    able to use up that key's limit and so stop its partner."""
    outcomes: list[_Outcome | None] = []
    counted: list[tuple[int, decision_path.Grounds, offers.Offer | None, KaimenError | None]] = []
    countings: list[rate_limits.DecisionAsked] = []
    for asked, found in zip(questions, grounds, strict=True):
        key = found.key if found is not None else None
        if (
            found is None
            or key is None
            or not partners.opens(key.secret_hash, not key.live, asked.secret_hash)
        ):
            outcomes.append(CredentialRefused(REFUSED))
            continue
        try:
            offer: offers.Offer | None = _admitted(asked, found)
            refusal: KaimenError | None = None
        except KaimenError as refused:
            offer, refusal = None, refused
        if offer is None:
            # Refused for its scope or its offer: counted against the key alone.
            countings.append(rate_limits.DecisionAsked(asked.key_id, key.partner_id, None, None))
        else:
            threshold = threshold_of(offer) if found.share_score is not None else None
            countings.append(
                rate_limits.DecisionAsked(asked.key_id, key.partner_id, asked.person_id, threshold)
            )
        counted.append((len(outcomes), found, offer, refusal))
        outcomes.append(None)
    if limits is not None:
        counts = limits.count_decisions(countings)
    else:
        counts = [rate_limits.NOT_PROBING] * len(countings)
    for (position, found, offer, refusal), count in zip(counted, counts, strict=True):
        if offer is None:
            assert refusal is not None
            outcomes[position] = (
                count.refusal if count.refusal is not None and not count.probing else refusal
            )
            continue
        try:
            outcomes[position] = answered(questions[position], found, offer, count)
        except LoggedRefusal as refused:
            outcomes[position] = refused
        except KaimenError as refused_now:
            outcomes[position] = refused_now
    return [outcome for outcome in outcomes if outcome is not None]


def _admitted(asked: decision_path.Question, grounds: decision_path.Grounds) -> offers.Offer:
    """The offer a question by a genuine key asks about, when the key has the scope and the
    offer is one of its partner's and open; else its refusal (`ScopeMissing`,
    `OfferNotFound`)."""
    key = grounds.key
    assert key is not None  # genuine
    if SCOPE not in key.scopes:
        raise scope_missing(SCOPE)
    if grounds.offer is None:
        raise OfferNotFound(f"no open offer {asked.offer_id} of yours")
    return grounds.offer


def answered(
    asked: decision_path.Question,
    grounds: decision_path.Grounds,
    offer: offers.Offer,
    counted: rate_limits.Counted,
) -> tuple[Answer, decision_path.Disclosure]:
    """The answer to one admitted question (`_admitted`) on what was read for it and how it
    was counted, with the access-log row it writes; over the key's limit or the partner's
    limit on the person raises `RateLimited`, and a refusal the person sees raises `LoggedRefusal`
    (`PersonNotFound` without consent, `RateLimited` for probing). The partner's questions
    about the person are counted whether or not they consented: a partner stopped learns
    nothing it had not been told already."""
    key = grounds.key
    assert key is not None  # admitted
    partner_id = key.partner_id
    if counted.refusal is not None and not counted.probing:
        raise counted.refusal
    actor = Caller.partner(partner_id, asked.key_id, key.scopes).actor
    purpose = f"decision: {offer.purpose}"
    if grounds.share_score is None:
        refusal = PersonNotFound(NOT_FOUND)
        raise LoggedRefusal(
            refusal, refused_attempt(actor, purpose, SCOPE_WHAT, NO_CONSENT, refusal)
        )
    if counted.refusal is not None:
        logged = refused_attempt(actor, purpose, SCOPE_WHAT, PROBING_LIMIT, counted.refusal)
        raise LoggedRefusal(counted.refusal, logged)
    flag = PROBING if counted.probing else None
    snapshot = grounds.snapshot
    approved, short, reasons, unmet = _judge(snapshot, offer)
    decision = Decision(
        decision_id=time_ordered_id(asked.now),
        partner_id=partner_id,
        offer_id=offer.offer_id,
        person_id=asked.person_id,
        decided_at=asked.now,
        month=snapshot.month if snapshot else None,
        model_version=snapshot.model_version if snapshot else None,
        approved=approved,
        score=snapshot.score if snapshot else None,
        points_short=short,
        reasons=reasons,
        score_shared=grounds.share_score,
    )
    answer = Answer(decision, offer.name, unmet, grounds.open_disputes > 0)
    disclosure = decision_path.Disclosure(actor, purpose, SCOPE_WHAT, _disclosed(answer), flag)
    return answer, disclosure
