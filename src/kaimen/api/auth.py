"""Who is calling: the admin, by bearer token (partners and people arrive with their keys)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Header, HTTPException, Request

from kaimen.store import person_tokens

ADMIN = "admin"


def require_admin(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer ADMIN_TOKEN")] = None,
) -> str:
    """The caller's actor name, or 401 unless the bearer token is the admin token."""
    expected: str = request.app.state.admin_token
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "a valid admin bearer token is required")
    return ADMIN


def bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def may_read_person(request: Request, person_id: str, authorization: str | None) -> bool:
    """The person themselves (their own token) or the admin; nobody else."""
    token = bearer(authorization)
    if token is None:
        raise HTTPException(401, "a bearer token is required")
    expected: str = request.app.state.admin_token
    if hmac.compare_digest(token.encode(), expected.encode()):
        return True
    with request.app.state.engine.connect() as store:
        return person_tokens.person_of(store, token) == person_id
