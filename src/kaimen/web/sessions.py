"""The browser's session cookie: the CSRF token and, once signed in, the secret of a session
held in the store (`sharing.signing_in`). Signed (itsdangerous, HMAC-SHA256) so it cannot be
forged or edited; who is signed in, and whether they still are, is the store's to say."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "kaimen_session"
# The cookie outlives no session: the store ends sessions sooner (see `SESSION_LIFETIME`).
LIFETIME_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class _Stored(BaseModel):
    csrf: str
    secret: str | None = None


@dataclass(frozen=True)
class Session:
    csrf: str
    secret: str | None = None  # the store's session, once signed in

    @classmethod
    def fresh(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32))

    def signed_in(self, secret: str) -> Session:
        """A new session for the store's session `secret`, with a new CSRF token: nothing
        from before the sign-in (a token someone else may have planted) carries over."""
        return Session(secrets.token_urlsafe(32), secret)

    def signed_out(self) -> Session:
        return Session.fresh()

    def accepts(self, presented: str | None) -> bool:
        """Whether a form's (or header's) CSRF token is this session's."""
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionCodec:
    """Reads and writes the session cookie with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="kaimen.web.session")

    def read(self, request: Request) -> Session | None:
        """The request's session; None when it has none, or a forged, altered or expired one."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            loaded = self._serializer.loads(raw, max_age=LIFETIME_SECONDS)
            stored = _Stored.model_validate(loaded)
        except (BadSignature, ValidationError):
            return None
        return Session(stored.csrf, stored.secret)

    def write(self, response: Response, session: Session, secure: bool) -> None:
        value = self._serializer.dumps(
            _Stored(csrf=session.csrf, secret=session.secret).model_dump()
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=LIFETIME_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
