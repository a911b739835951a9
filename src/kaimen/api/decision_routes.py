"""`POST /v1/decisions` (partner key, scope `decisions`): the route partners call most.

It is a coroutine with no dependencies and one trip to the thread pool, where the service
checks the key and decides in one transaction. FastAPI runs each plain-function dependency
(and the check of a plain-function route's response) in the thread pool, a hop each, and
spends more on resolving dependencies than on anything else in the request. Its router is
included first: FastAPI tries routes in order, and at a few tens of microseconds each the
routes before it would cost more than its own statements.
"""

from __future__ import annotations

import datetime as dt

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from kaimen.api import problems
from kaimen.api.deps import Authorization, key_checked_by_service, partner_key
from kaimen.api.partner_routes import IDENTIFIER, MAX_ID
from kaimen.config import Workspace
from kaimen.sharing import deciding

router = APIRouter()
# Threads deciding at once, by dialect. SQLite has one writer: more than a few threads only
# wait for it, and each waiter makes the interpreter lock change hands more often. PostgreSQL
# decisions mostly wait on round trips, so they take the thread pool's default (40, as many as
# the engine's pool has connections).
_DECIDING = {"sqlite": CapacityLimiter(4)}


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(min_length=1, max_length=64, pattern=IDENTIFIER)
    offer_id: StrictInt = Field(ge=1, le=MAX_ID)


class DecisionReasonOut(BaseModel):
    text: str = Field(description="in plain language, with the person's own value")
    points: int | None = Field(description="points it costs; only when the score is shared")


class DecisionOut(BaseModel):
    decision_id: str
    offer_id: int
    approved: bool
    reasons: list[DecisionReasonOut] = Field(
        description="against this offer's threshold, largest first, at most four"
    )
    unmet: list[str] = Field(description="the offer's requirements that are not met")
    score: int | None = Field(description="only when the person consented to share it")
    points_short: int | None = Field(description="only when the person consented to share it")
    decided_at: dt.datetime


@router.post(
    "/v1/decisions",
    response_model=DecisionOut,
    tags=["decisions"],
    responses=problems.documented(401, 403, 404, 422),
    summary="Does this person's score open this offer? (partner, scope decisions, consent)",
)
@key_checked_by_service(deciding.SCOPE)
async def post_decision(
    request: Request, body: DecisionIn, authorization: Authorization = None
) -> DecisionOut:
    """Approved or declined, with the reasons that apply against this offer's threshold.
    Without the person's live consent for `decision` the answer is the same 404 as for an
    unknown person, and nothing is read. The score and points are shown only when the
    person consented to share them. Every decision is stored and in the person's access
    log."""
    workspace: Workspace = request.app.state.workspace
    key = await partner_key(request, authorization, deciding.SCOPE)
    answer = await to_thread.run_sync(
        deciding.decide,
        workspace.engine,
        key,
        body.offer_id,
        body.person_id,
        limiter=_DECIDING.get(workspace.engine.dialect.name),
    )
    decision = answer.decision
    shared = decision.score_shared
    return DecisionOut(
        decision_id=decision.decision_id,
        offer_id=decision.offer_id,
        approved=decision.approved,
        reasons=[
            DecisionReasonOut(text=r.text, points=r.points if shared else None)
            for r in decision.reasons
        ],
        unmet=list(answer.unmet),
        score=decision.score if shared else None,
        points_short=decision.points_short if shared else None,
        decided_at=decision.decided_at,
    )
