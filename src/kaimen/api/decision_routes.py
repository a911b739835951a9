"""`POST /v1/decisions` (partner key, scope `decisions`): the route partners call most.

Its route class (`DecisionRoute`) answers a request with a valid JSON body without FastAPI's
dependency and parameter machinery, which cost more than the decision's own Python; anything
else goes through FastAPI as the endpoint declares it. The service checks the key and decides
in one transaction: on SQLite on the event loop when the write lock is free, on PostgreSQL
(and on SQLite while another connection writes) in a worker thread. Its router is included
first: FastAPI tries routes in order, and at a few tens of microseconds each the routes before
it would cost more than its own statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy import Engine
from starlette.types import Scope

from kaimen.api import problems
from kaimen.api.deps import Authorization, key_checked_by_service, partner_key
from kaimen.api.partner_routes import IDENTIFIER, MAX_ID
from kaimen.config import Workspace
from kaimen.sharing import deciding

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
    under_dispute: bool = Field(
        description="the person disputes an item on their record and its furnisher has not "
        "answered yet (the score already leaves it out where the jurisdiction says so)"
    )


async def _decision(engine: Engine, key: str, body: DecisionIn) -> deciding.Answer:
    """The decision, on SQLite right here on the event loop when the write lock is free (about
    half a millisecond, and one writer at a time anyway: a thread would only add a hand-over
    of the interpreter lock each way), else in a worker thread that waits its turn."""
    if engine.dialect.name == "sqlite":
        try:
            return deciding.decide(engine, key, body.offer_id, body.person_id, wait=False)
        except deciding.WriterBusy:
            pass
    return await to_thread.run_sync(
        deciding.decide,
        engine,
        key,
        body.offer_id,
        body.person_id,
        limiter=_DECIDING.get(engine.dialect.name),
    )


async def _decided(request: Request, body: DecisionIn, authorization: str | None) -> Response:
    """The decision for a valid body, rendered as `DecisionOut` JSON (the same bytes FastAPI
    would send for the model, without its second validation of what was just built)."""
    workspace: Workspace = request.app.state.workspace
    key = await partner_key(request, authorization, deciding.SCOPE)
    answer = await _decision(workspace.engine, key, body)
    decision = answer.decision
    shared = decision.score_shared
    rendered = DecisionOut(
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
        under_dispute=answer.under_dispute,
    )
    return Response(rendered.model_dump_json(), media_type="application/json")


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """(Content-Type, Authorization) as sent, the first of each."""
    content_type = authorization = None
    for name, value in scope["headers"]:
        if name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"authorization" and authorization is None:
            authorization = value
    return content_type, authorization


class DecisionRoute(APIRoute):
    """`POST /v1/decisions` with a short way for the request every partner sends: a JSON
    body that is valid as it stands is parsed and validated in one step
    (`DecisionIn.model_validate_json`), and the endpoint's work runs without FastAPI's
    dependency and parameter machinery, which costs more than the decision's own Python.
    Anything else (another content type, invalid JSON, a body the model refuses) goes the
    documented way, through FastAPI, so every refusal and the OpenAPI document are the ones
    the endpoint declares."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        documented = super().get_route_handler()

        async def handler(request: Request) -> Response:
            content_type, authorization = _headers(request.scope)
            if content_type != b"application/json":
                return await documented(request)
            try:
                body = DecisionIn.model_validate_json(await request.body())
            except ValidationError:
                return await documented(request)
            return await _decided(
                request, body, None if authorization is None else authorization.decode("latin-1")
            )

        return handler


router = APIRouter(route_class=DecisionRoute)


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
) -> Response:
    """Approved or declined, with the reasons that apply against this offer's threshold.
    Without the person's live consent for `decision` the answer is the same 404 as for an
    unknown person, and nothing is read. The score and points are shown only when the
    person consented to share them. Every decision is stored and in the person's access
    log."""
    return await _decided(request, body, authorization)
