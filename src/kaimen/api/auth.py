"""Who is calling: the admin, by bearer token (partners and people arrive with their keys)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Header, HTTPException, Request

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
