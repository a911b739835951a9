"""The dependencies every route declares: the workspace, and who may call.

Each endpoint names the callers it admits through one of the `Annotated` types below; they
run before the body is validated, so a caller who may not use an endpoint learns nothing
from its validation errors. Anyone else is refused with problem details (401 without a live
credential, 403 for a caller of the wrong kind).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Request
from starlette.concurrency import run_in_threadpool

from kaimen.config import Workspace
from kaimen.domain.callers import SCOPES, Caller
from kaimen.domain.errors import Forbidden, Unauthenticated
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.scoring.reading import NoScore
from kaimen.sharing.authentication import REFUSED, identify, is_partner_key

_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
# The scopes whose calls are rate limited (per key, and per partner and person): a route
# admitting a partner with one of them may answer 429.
LIMITED_SCOPES = frozenset({"decisions", "reports"})
# What each dependency below may refuse with, beside what the dependencies it declares
# refuse with: the OpenAPI document (`api.contract`) derives every route's refusals from the
# dependencies it declares, so a new route is documented by declaring them.
REFUSALS: dict[Callable[..., Any], frozenset[int]] = {}
Authorization = Annotated[str | None, Header(description="Bearer TOKEN or API key")]
PersonPath = Annotated[str, Path(max_length=64, pattern=rf"^{IDENTIFIER_PATTERN}$")]


class NoCredential(Unauthenticated):
    """No bearer credential, or one that names nobody (or was revoked)."""


# Coroutines, not functions: FastAPI runs a plain function dependency in the thread pool,
# one hop per dependency, for what is an attribute read.
async def workspace(request: Request) -> Workspace:
    held: Workspace = request.app.state.workspace
    return held


async def admin_token(request: Request) -> str:
    token: str = request.app.state.admin_token
    return token


Store = Annotated[Workspace, Depends(workspace)]


def bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def require_caller(
    ws: Store,
    expected_admin: Annotated[str, Depends(admin_token)],
    authorization: Authorization = None,
) -> Caller:
    """Any live credential; the endpoint then decides what it may see."""
    token = bearer(authorization)
    if token is None:
        raise NoCredential("a bearer token or API key is required")
    caller = identify(ws.engine, expected_admin, token)
    if caller is None:
        raise NoCredential(REFUSED)
    return caller


AnyCaller = Annotated[Caller, Depends(require_caller)]


def require_admin(caller: AnyCaller) -> Caller:
    if caller.kind != "admin":
        raise Forbidden("only the admin may do this")
    return caller


def require_person(caller: AnyCaller) -> Caller:
    if caller.kind != "person":
        raise Forbidden("only the person themselves may do this, with their own token")
    return caller


def require_partner(scope: str) -> Callable[[Caller], Caller]:
    """A dependency admitting a partner whose key carries `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(caller: AnyCaller) -> Caller:
        if caller.kind != "partner":
            raise Forbidden(f"only a partner's API key with scope {scope!r} may do this")
        if scope not in caller.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return caller

    dependency.__name__ = f"require_partner_{scope}"
    REFUSALS[dependency] = _partner_refusals(scope)
    return dependency


def _partner_refusals(scope: str) -> frozenset[int]:
    return frozenset({403, 429} if scope in LIMITED_SCOPES else {403})


# Routes whose partner key the service checks itself, in its own transaction, by endpoint:
# the scope each needs. See `partner_key` and `check_before_invalid`.
_KEY_CHECKED_BY_SERVICE: dict[Callable[..., Any], str] = {}


def key_checked_by_service(scope: str) -> Callable[[_Endpoint], _Endpoint]:
    """Mark an endpoint that takes `Authorization` itself and hands a partner key with
    `scope` to a service that checks it (see `partner_key`)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def mark(endpoint: _Endpoint) -> _Endpoint:
        _KEY_CHECKED_BY_SERVICE[endpoint] = scope
        REFUSALS[endpoint] = _partner_refusals(scope) | {401}
        return endpoint

    return mark


async def partner_key(request: Request, authorization: str | None, scope: str) -> str:
    """The partner key presented, for a service that checks it in its own transaction (one
    connection per request). Anything else is refused here with the answer
    `require_partner(scope)` gives: no credential (401), or the admin's token or a person's,
    looked up apart since no partner calls with those (401 unknown, 403 otherwise)."""
    token = bearer(authorization)
    if token is None:
        raise NoCredential("a bearer token or API key is required")
    if is_partner_key(token):
        return token
    workspace: Workspace = request.app.state.workspace
    expected_admin: str = request.app.state.admin_token
    caller = await run_in_threadpool(identify, workspace.engine, expected_admin, token)
    if caller is None:
        raise NoCredential(REFUSED)
    raise Forbidden(f"only a partner's API key with scope {scope!r} may do this")


def _admitted(request: Request, scope: str) -> Caller:
    caller = require_caller(
        request.app.state.workspace,
        request.app.state.admin_token,
        request.headers.get("authorization"),
    )
    return require_partner(scope)(caller)


async def check_before_invalid(request: Request) -> None:
    """Before a request to an endpoint marked `key_checked_by_service` is refused for its
    body, refuse it (401 or 403) if its caller may not use the endpoint, as a dependency
    would have: a caller who may not use an endpoint learns nothing from its validation
    errors."""
    route = request.scope.get("route")
    scope = _KEY_CHECKED_BY_SERVICE.get(getattr(route, "endpoint", None))  # type: ignore[arg-type]
    if scope is not None:
        await run_in_threadpool(_admitted, request, scope)


def require_reader(person_id: PersonPath, caller: AnyCaller) -> Caller:
    """The person themselves or the admin, under /v1/people/{person_id}; anyone else gets
    the 404 an unknown person gets, before the request body is even read."""
    if not caller.reads_person(person_id):
        raise NoScore(f"{caller.actor} may not read {person_id}")
    return caller


def require_event_sender(caller: AnyCaller) -> Caller:
    """The admin, or a partner whose key carries scope `events`."""
    if caller.kind == "admin" or (caller.kind == "partner" and "events" in caller.scopes):
        return caller
    if caller.kind == "partner":
        raise Forbidden("this API key lacks the 'events' scope")
    raise Forbidden("only the admin or a partner's key with scope 'events' may do this")


REFUSALS.update(
    {
        require_caller: frozenset({401}),
        require_admin: frozenset({403}),
        require_person: frozenset({403}),
        require_reader: frozenset({404}),
        require_event_sender: frozenset({403}),
    }
)

Admin = Annotated[Caller, Depends(require_admin)]
Person = Annotated[Caller, Depends(require_person)]
Reader = Annotated[Caller, Depends(require_reader)]
EventSender = Annotated[Caller, Depends(require_event_sender)]
DecisionsPartner = Annotated[Caller, Depends(require_partner("decisions"))]
ReportsPartner = Annotated[Caller, Depends(require_partner("reports"))]
RestrictionsPartner = Annotated[Caller, Depends(require_partner("restrictions"))]
FeedbackPartner = Annotated[Caller, Depends(require_partner("feedback"))]
DisputesPartner = Annotated[Caller, Depends(require_partner("disputes"))]


def partner_id_of(caller: Caller) -> str:
    """The partner behind a partner caller (the dependencies above guarantee one)."""
    if caller.partner_id is None:
        raise Forbidden("only a partner may do this")
    return caller.partner_id


def person_id_of(caller: Caller) -> str:
    """The person behind a person caller (the dependencies above guarantee one)."""
    if caller.person_id is None:
        raise Forbidden("only the person themselves may do this, with their own token")
    return caller.person_id
