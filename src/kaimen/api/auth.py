"""Who is calling: the admin (admin token), a partner (API key with scopes), or a person
(their own token). Every endpoint names the callers it admits through one of the
dependencies below; anyone else is refused before the endpoint runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, HTTPException, Request

from kaimen.store import partners, person_tokens

ADMIN = "admin"
BEARER = {"WWW-Authenticate": "Bearer"}
Authorization = Annotated[str | None, Header(description="Bearer TOKEN or API key")]


@dataclass(frozen=True)
class Caller:
    kind: Literal["admin", "partner", "person"]
    # As written to the audit and access logs: "admin", "partner:<id>", "person:<id>".
    actor: str
    partner_id: str | None = None
    person_id: str | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = ()


def bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def identify(request: Request, authorization: str | None) -> Caller:
    """The caller behind the bearer credential; 401 when there is none or it is not live."""
    token = bearer(authorization)
    if token is None:
        raise HTTPException(401, "a bearer token or API key is required", BEARER)
    expected: str = request.app.state.admin_token
    if hmac.compare_digest(token.encode(), expected.encode()):
        return Caller("admin", ADMIN)
    with request.app.state.engine.connect() as store:
        if token.startswith(partners.KEY_PREFIX + "_"):
            key = partners.authenticate(store, token)
            if key is not None:
                return Caller(
                    "partner",
                    f"partner:{key.partner_id}",
                    partner_id=key.partner_id,
                    key_id=key.key_id,
                    scopes=key.scopes,
                )
        else:
            person_id = person_tokens.person_of(store, token)
            if person_id is not None:
                return Caller("person", f"person:{person_id}", person_id=person_id)
    raise HTTPException(401, "the bearer token or API key is not valid (or was revoked)", BEARER)


def require_admin(request: Request, authorization: Authorization = None) -> str:
    """The admin's actor name; 401 without credentials, 403 for any other caller."""
    caller = identify(request, authorization)
    if caller.kind != "admin":
        raise HTTPException(403, "only the admin may do this")
    return caller.actor


def require_person(request: Request, authorization: Authorization = None) -> Caller:
    """A person with their own token; 403 for partners and the admin."""
    caller = identify(request, authorization)
    if caller.kind != "person":
        raise HTTPException(403, "only the person themselves may do this, with their own token")
    return caller


def require_partner(scope: str) -> Callable[[Request, str | None], Caller]:
    """A dependency admitting a partner whose key carries `scope`."""
    if scope not in partners.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request, authorization: Authorization = None) -> Caller:
        caller = identify(request, authorization)
        if caller.kind != "partner":
            raise HTTPException(403, f"only a partner's API key with scope {scope!r} may do this")
        if scope not in caller.scopes:
            raise HTTPException(403, f"this API key lacks the {scope!r} scope")
        return caller

    dependency.__name__ = f"require_partner_{scope}"
    return dependency


def require_caller(request: Request, authorization: Authorization = None) -> Caller:
    """Any live credential (401 otherwise); the endpoint then decides what it may see.
    As a dependency it runs before the body is validated, so an anonymous caller learns
    nothing from validation errors."""
    return identify(request, authorization)


def reads_person(caller: Caller, person_id: str) -> bool:
    """The person themselves (their own token) or the admin; nobody else (partners go
    through decisions and reports, under consent)."""
    return caller.kind == "admin" or caller.person_id == person_id


NO_SCORE = "no published score for this person"


def require_reader(person_id: str, caller: Annotated[Caller, Depends(require_caller)]) -> Caller:
    """The person themselves or the admin, for endpoints under /v1/people/{person_id}; anyone
    else gets the 404 an unknown person gets, before the request body is even read."""
    if not reads_person(caller, person_id):
        raise HTTPException(404, NO_SCORE)
    return caller
