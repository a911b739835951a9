"""The disputes a partner must answer, as the furnisher of the items disputed: each with its
deadline (its clock) and what the furnisher was told when it was filed (ids, the item, the
person's statement, the evidence's hashes; never a name or an ID number). Each look is in the
person's access log, like every other look at their data by someone else. Answering is
`answering.answer_dispute`, behind every door."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from kaimen.domain.callers import Caller
from kaimen.domain.disputes import DisputeNotFound, StoredEvidence
from kaimen.domain.errors import Forbidden
from kaimen.domain.json_values import JsonObject
from kaimen.domain.text import excerpt
from kaimen.store import access_log
from kaimen.store import disputes as dispute_rows
from kaimen.store.disputes import DisputeRecord

__all__ = ["CLOSED_SHOWN", "FurnisherDispute", "dispute_to_answer", "disputes_to_answer"]
# Answered or lapsed disputes listed after the open ones, most recent first.
CLOSED_SHOWN = 50


@dataclass(frozen=True)
class FurnisherDispute:
    dispute: DisputeRecord
    overdue: bool  # open, and its answer deadline has passed
    evidence: tuple[StoredEvidence, ...] = ()  # on one dispute's page, not in the list


def _furnisher(caller: Caller) -> str:
    if caller.kind != "partner" or caller.partner_id is None:
        raise Forbidden("only a partner's API key with scope 'disputes' may do this")
    if "disputes" not in caller.scopes:
        raise Forbidden("this API key lacks the 'disputes' scope")
    return caller.partner_id


def _overdue(dispute: DisputeRecord, at: dt.datetime) -> bool:
    return dispute.answered_at is None and dispute.answer_due_at <= at


def disputes_to_answer(
    engine: Engine, caller: Caller, now: dt.datetime | None = None
) -> list[FurnisherDispute]:
    """The disputes of items the calling partner furnished (its key with scope `disputes`):
    the open ones, soonest deadline first, then the most recently closed."""
    furnisher = _furnisher(caller)
    at = now or dt.datetime.now(dt.UTC)
    with engine.begin() as store:
        found = dispute_rows.of_furnisher(store, furnisher, CLOSED_SHOWN)
        access_log.record_many(store, [_looked_at(caller, d, listed=True) for d in found], at)
    return [FurnisherDispute(d, _overdue(d, at)) for d in found]


# A partner's look at a dispute of an item it furnished, in the person's access log: the
# dispute's id and item, and that its statement was shown (the person wrote it).
ACCESS_PURPOSE = "dispute"
ACCESS_WHAT = "dispute"


def _looked_at(
    caller: Caller, dispute: DisputeRecord, listed: bool = False, evidence: int = 0
) -> tuple[str, str, str, str, JsonObject]:
    shown: JsonObject = {
        "dispute_id": dispute.dispute_id,
        "item": str(dispute.item),
        "statement": True,
        "evidence_hashes": evidence,
        "listed": listed,
    }
    return (dispute.person_id, caller.actor, ACCESS_PURPOSE, ACCESS_WHAT, shown)


def dispute_to_answer(
    engine: Engine, caller: Caller, dispute_id: str, now: dt.datetime | None = None
) -> FurnisherDispute:
    """One dispute of an item the calling partner furnished, with its evidence's hashes
    (DisputeNotFound for any other: the same answer as for no such dispute)."""
    furnisher = _furnisher(caller)
    at = now or dt.datetime.now(dt.UTC)
    with engine.begin() as store:
        dispute = dispute_rows.get(store, dispute_id)
        if dispute is None or dispute.furnisher != furnisher:
            raise DisputeNotFound(f"no dispute {excerpt(dispute_id)} for you to answer")
        evidence = tuple(dispute_rows.evidence_of(store, dispute_id))
        access_log.record_many(store, [_looked_at(caller, dispute, evidence=len(evidence))], at)
    return FurnisherDispute(dispute, _overdue(dispute, at), evidence)
