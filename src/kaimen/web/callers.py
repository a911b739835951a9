"""Who is signed in on a request: the store's session behind the cookie, looked up once per
request and kept on it."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from kaimen.domain.callers import Caller
from kaimen.sharing.signing_in import session_caller
from kaimen.web.sessions import Session

_UNRESOLVED = object()


def caller_of(request: Request) -> Caller | None:
    """Who is signed in on this request, or None."""
    resolved = getattr(request.state, "caller", _UNRESOLVED)
    if resolved is not _UNRESOLVED:
        return cast(Caller | None, resolved)
    session: Session = request.state.session
    found = None
    if session.secret is not None:
        found = session_caller(
            request.app.state.workspace.engine, session.secret, request.app.state.admin_token
        )
    request.state.caller = found
    return found
