"""The web app's server-held sessions: opened at sign-in, looked up on every page, ended by
signing out; only the hash of the browser's secret is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, and_, insert, or_, select, update

from kaimen.store.tables import api_keys, people, web_sessions

SessionKind = Literal["admin", "partner", "person"]


@dataclass(frozen=True)
class LiveSession:
    kind: SessionKind
    person_id: str | None
    partner_id: str | None
    key_id: str | None
    scopes: tuple[str, ...]
    expires_at: dt.datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(
    connection: Connection,
    kind: SessionKind,
    now: dt.datetime,
    lifetime: dt.timedelta,
    person_id: str | None = None,
    partner_id: str | None = None,
    key_id: str | None = None,
    bound_to: str | None = None,
) -> str:
    """A new session's secret (for the browser's cookie only); with `bound_to` (the admin
    token it was opened with), a secret that `is_bound` finds bound to it and no other."""
    secret = secrets.token_urlsafe(32)
    if bound_to is not None:
        secret = f"{secret}.{_mark(secret, bound_to)}"
    connection.execute(
        insert(web_sessions).values(
            session_hash=_hash(secret),
            kind=kind,
            person_id=person_id,
            partner_id=partner_id,
            key_id=key_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return secret


def _mark(secret: str, bound_to: str) -> str:
    return hmac.new(bound_to.encode(), secret.encode(), hashlib.sha256).hexdigest()[:32]


def is_bound(secret: str, bound_to: str) -> bool:
    """Whether `secret` was opened bound to `bound_to` (`open_session`)."""
    head, _, mark = secret.rpartition(".")
    return bool(head) and hmac.compare_digest(mark, _mark(head, bound_to))


def live(connection: Connection, secret: str, now: dt.datetime) -> LiveSession | None:
    """The session `secret` opens: not ended, not expired, its person still active and its
    partner key not revoked; None otherwise."""
    row = connection.execute(
        select(
            web_sessions.c.kind,
            web_sessions.c.person_id,
            web_sessions.c.partner_id,
            web_sessions.c.key_id,
            web_sessions.c.expires_at,
            api_keys.c.scopes,
        )
        .select_from(
            web_sessions.outerjoin(
                people, people.c.person_id == web_sessions.c.person_id
            ).outerjoin(api_keys, api_keys.c.key_id == web_sessions.c.key_id)
        )
        .where(
            web_sessions.c.session_hash == _hash(secret),
            web_sessions.c.ended_at.is_(None),
            web_sessions.c.expires_at > now,
            or_(web_sessions.c.person_id.is_(None), people.c.status == "active"),
            or_(
                web_sessions.c.key_id.is_(None),
                and_(api_keys.c.revoked_at.is_(None), api_keys.c.key_id.is_not(None)),
            ),
        )
    ).first()
    if row is None:
        return None
    return LiveSession(
        kind=row.kind,
        person_id=row.person_id,
        partner_id=row.partner_id,
        key_id=row.key_id,
        scopes=tuple(row.scopes.split(",")) if row.scopes else (),
        expires_at=row.expires_at,
    )


def end(connection: Connection, secret: str, now: dt.datetime) -> bool:
    """End a live session; False when it was not live."""
    result = connection.execute(
        update(web_sessions)
        .where(web_sessions.c.session_hash == _hash(secret), web_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return result.rowcount == 1
