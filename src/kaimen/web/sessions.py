"""The browser's session: a signed cookie holding the CSRF token and, once signed in, whose
pages these are. Signed (itsdangerous, HMAC-SHA256) so it cannot be forged or edited; it
holds no secret and no personal data beyond the opaque person id."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "kaimen_session"
# A signed-in session ends this long after sign-in, whatever happens in between.
LIFETIME_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class _Stored(BaseModel):
    csrf: str
    person_id: str | None = None
    signed_in_at: int | None = None


@dataclass(frozen=True)
class Session:
    csrf: str
    person_id: str | None = None
    signed_in_at: int | None = None

    @classmethod
    def fresh(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32))

    def signed_in(self, person_id: str) -> Session:
        """A new session for `person_id`, with a new CSRF token: nothing from before the
        sign-in (a token someone else may have planted) carries over."""
        return Session(secrets.token_urlsafe(32), person_id, int(time.time()))

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
        session = Session(stored.csrf, stored.person_id, stored.signed_in_at)
        if session.signed_in_at is not None and (
            time.time() - session.signed_in_at > LIFETIME_SECONDS
        ):
            return replace(session, person_id=None, signed_in_at=None)
        return session

    def write(self, response: Response, session: Session, secure: bool) -> None:
        value = self._serializer.dumps(
            _Stored(
                csrf=session.csrf,
                person_id=session.person_id,
                signed_in_at=session.signed_in_at,
            ).model_dump()
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
