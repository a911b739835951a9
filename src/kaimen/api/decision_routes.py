"""`POST /v1/decisions` (partner key, scope `decisions`): the route partners call most.

A request with a JSON body that is valid as it stands and a partner's key is answered by
`DecisionFastPath`, plain ASGI ahead of the middleware stack (it does the telemetry's and the
request limits' part itself), without Starlette's request and response objects or FastAPI's
routing, dependency and parameter machinery, which together cost more than the decision's own
Python. Anything else (another
content type, invalid JSON, a body the model refuses, no partner key) goes the documented way,
through FastAPI, so every refusal and the OpenAPI document are the ones the endpoint declares.
Both answer through `decision_batches`, which checks the key and decides in one transaction,
together with the other decisions asked meanwhile.
"""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaimen.api import problems
from kaimen.api.deps import Authorization, bearer, key_checked_by_service, partner_key
from kaimen.api.json_bodies import api_router
from kaimen.api.observability import RequestTelemetry
from kaimen.api.partner_routes import IDENTIFIER, MAX_ID
from kaimen.api.request_limits import MAX_BODY_BYTES
from kaimen.api.schemas import WholeNumber
from kaimen.config import Workspace
from kaimen.domain.errors import KaimenError
from kaimen.sharing import deciding
from kaimen.sharing.authentication import is_partner_key
from kaimen.sharing.decision_batches import batches_for

PATH = "/v1/decisions"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(min_length=1, max_length=64, pattern=IDENTIFIER)
    offer_id: WholeNumber = Field(ge=1, le=MAX_ID)


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


def _rendered(answer: deciding.Answer) -> bytes:
    """The answer as `DecisionOut` JSON: the bytes FastAPI would send for the model (a test
    holds them to it), written directly from the typed records the service returned: building
    and serialising the models cost more than the rest of the rendering."""
    decision = answer.decision
    shared = decision.score_shared
    content = {
        "decision_id": decision.decision_id,
        "offer_id": decision.offer_id,
        "approved": decision.approved,
        "reasons": [
            {"text": r.text, "points": r.points if shared else None} for r in decision.reasons
        ],
        "unmet": list(answer.unmet),
        "score": decision.score if shared else None,
        "points_short": decision.points_short if shared else None,
        # As pydantic writes an aware datetime: ISO 8601, UTC as "Z".
        "decided_at": decision.decided_at.isoformat().replace("+00:00", "Z"),
        "under_dispute": answer.under_dispute,
    }
    # pydantic-core's serialiser: compact, UTF-8 as it is, as FastAPI writes the model.
    return to_json(content)


async def _decided(request: Request, body: DecisionIn, authorization: str | None) -> Response:
    """The documented endpoint's answer for a valid body."""
    workspace: Workspace = request.app.state.workspace
    key = await partner_key(request, authorization, deciding.SCOPE)
    batches = batches_for(workspace.engine, workspace.limits)
    answer = await batches.decide(key, body.offer_id, body.person_id)
    return Response(_rendered(answer), media_type="application/json")


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(Content-Type, Authorization, Content-Length) as sent, the first of each."""
    content_type = authorization = length = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = content_type or value
        elif name == b"authorization":
            authorization = authorization or value
        elif name == b"content-length":
            length = length or value
    return content_type, authorization, length


_JSON_HEADERS = ((b"content-type", b"application/json"),)


class DecisionFastPath:
    """The outermost ASGI layer of the app: answers `POST /v1/decisions` for a JSON body of
    declared length within the cap and a partner's key (see the module docstring), with the
    request id, log line and metrics of `RequestTelemetry`, ahead of the middleware stack
    (whose layers cost, together, about what the decision's own Python does). Every other
    request goes to `app`, the whole stack, untouched; a decision request it does not answer
    goes on with its body as read, to be refused or answered the documented way (a body
    without Content-Length is capped by the request-limit middleware as it arrives)."""

    def __init__(self, app: ASGIApp, site: FastAPI, route: APIRoute) -> None:
        self.app = app
        self.site = site
        self.route = route
        self.telemetry = RequestTelemetry(app, site)
        self._workspace: Workspace | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        content_type, authorization, length = _headers(scope)
        if (
            scope["query_string"]  # the route takes none: the documented path refuses it
            or content_type != b"application/json"
            or not authorization
            or length is None
            or not length.isdigit()  # bytes.isdigit: ASCII digits only
            or int(length) > MAX_BODY_BYTES
        ):
            await self.app(scope, receive, send)
            return
        body, rest = await _body(receive)
        if rest is not None:  # the client left
            return
        token = bearer(authorization.decode("latin-1"))
        try:
            if token is None or not is_partner_key(token):
                raise ValueError("not a partner's key: the documented path answers")
            asked = DecisionIn.model_validate_json(body)
            # pydantic keeps the last of a duplicated key; the documented path refuses it. A
            # valid body has both fields and no other, so two colons (each member has one)
            # prove there is no third member; more (a colon in an id) go the documented way.
            if body.count(b":") != 2:
                raise ValueError("perhaps a duplicated key: the documented path answers")
        except (ValueError, ValidationError):  # ValidationError is a ValueError too
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.route  # what the telemetry names the request by
        if self._workspace is None:
            self._workspace = self.site.state.workspace
        engine, limits = self._workspace.engine, self._workspace.limits

        async def decided(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                batches = batches_for(engine, limits)
                answer = await batches.decide(token, asked.offer_id, asked.person_id)
            except KaimenError as refused:
                await problems.refusal(refused)(scope, receive, send)
                return
            content = _rendered(answer)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"%d" % len(content)), *_JSON_HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": content})

        await self.telemetry.observed(decided, scope, receive, send)


async def _body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body; with the message that ended it early, if one did."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for an app that reads a body already read: the body first, then whatever
    the connection says next (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


router = api_router()


@router.post(
    PATH,
    response_model=DecisionOut,
    tags=["decisions"],
    responses=problems.documented(
        401,
        403,
        404,
        422,
        429,
        s429="too many questions for now, from this key, about this person, or at ever new "
        "thresholds about this person (probing): retry after the seconds Retry-After gives",
    ),
    summary="Does this person's score open this offer? (partner, scope decisions, consent)",
)
@key_checked_by_service(deciding.SCOPE)
async def post_decision(
    request: Request, body: DecisionIn, authorization: Authorization = None
) -> Response:
    """Approved or declined, with the reasons that apply against this offer's threshold.
    Without the person's live consent for `decision` the answer is the same 404 as for an
    unknown person, and nothing is read; the person sees the refused attempt in their access
    log. The score and points are shown only when the person consented to share them. Every
    decision is stored and in the person's access log; one at a threshold other than those
    you asked about this person at lately is flagged there as probing, and such decisions
    are limited more strictly (429 with Retry-After)."""
    return await _decided(request, body, authorization)


def decision_route() -> APIRoute:
    """The route `post_decision` is declared as (what the telemetry names a request by)."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == PATH)
