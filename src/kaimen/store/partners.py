"""Partners and their API keys: a key is shown once, kept as a hash, revocable at once.

A key reads `kmk_<key id>_<secret>`. The key id is public (it names the key in lists and in
the audit log); only the SHA-256 of the secret is stored. The secret holds 256 random bits,
so a plain hash is as strong as a keyed one and needs no server secret to check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.domain.callers import PARTNER_ID_PATTERN, SCOPES
from kaimen.domain.errors import Conflict, NotFound, Rejected
from kaimen.domain.text import readable_problem
from kaimen.store.tables import api_keys, partners

PARTNER_ID = re.compile(PARTNER_ID_PATTERN)
KEY_PREFIX = "kmk"
_KEY = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9\-_]{{43}})")


class PartnerRejected(Rejected):
    """A partner or key request that cannot be honoured (bad id, unknown scope, ...)."""


class UnknownKey(NotFound, PartnerRejected):
    """No API key with that id."""


class UnknownPartner(NotFound, PartnerRejected):
    """No partner with that id."""


class PartnerExists(Conflict, PartnerRejected):
    """A partner with that id is already registered."""


class KeyAlreadyRevoked(Conflict, PartnerRejected):
    """The key was revoked before."""


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    partner_id: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add(connection: Connection, partner_id: str, name: str, now: dt.datetime) -> Partner:
    """Register a partner; the id is lower-case letters, digits and hyphens (3-64)."""
    if not PARTNER_ID.fullmatch(partner_id):
        raise PartnerRejected(
            f"partner id {partner_id!r} must be 3-64 lower-case letters, digits or hyphens, "
            "starting and ending with a letter or digit"
        )
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise PartnerRejected("a partner needs a name of 1-200 characters")
    problem = readable_problem(name)
    if problem:
        raise PartnerRejected(f"the partner's name {problem}")
    if get(connection, partner_id) is not None:
        raise PartnerExists(f"partner {partner_id} already exists")
    try:
        with connection.begin_nested():
            connection.execute(
                insert(partners).values(partner_id=partner_id, name=name, created_at=now)
            )
    except IntegrityError:
        raise PartnerExists(f"partner {partner_id} already exists") from None
    return Partner(partner_id, name, now)


def get(connection: Connection, partner_id: str) -> Partner | None:
    row = connection.execute(select(partners).where(partners.c.partner_id == partner_id)).first()
    return None if row is None else Partner(row.partner_id, row.name, row.created_at)


def all_partners(connection: Connection) -> list[Partner]:
    rows = connection.execute(select(partners).order_by(partners.c.partner_id))
    return [Partner(r.partner_id, r.name, r.created_at) for r in rows]


def check_scopes(scopes: Collection[str]) -> tuple[str, ...]:
    """The scopes, sorted and unique; raises naming any unknown one."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise PartnerRejected(
            f"unknown scope(s) {', '.join(unknown)}: choose from {', '.join(SCOPES)}"
        )
    if not scopes:
        raise PartnerRejected(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return tuple(sorted(set(scopes)))


def issue_key(
    connection: Connection, partner_id: str, scopes: Collection[str], now: dt.datetime
) -> tuple[ApiKey, str]:
    """A new key for the partner: its record, and the key itself (shown once, never stored)."""
    if get(connection, partner_id) is None:
        raise UnknownPartner(f"no partner {partner_id}")
    chosen = check_scopes(scopes)
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    connection.execute(
        insert(api_keys).values(
            key_id=key_id,
            partner_id=partner_id,
            secret_hash=_hash(secret),
            scopes=",".join(chosen),
            created_at=now,
        )
    )
    return ApiKey(key_id, partner_id, chosen, now, None), f"{KEY_PREFIX}_{key_id}_{secret}"


def _record(row: Row[Any]) -> ApiKey:
    return ApiKey(
        row.key_id, row.partner_id, tuple(row.scopes.split(",")), row.created_at, row.revoked_at
    )


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, SHA-256 of the secret) of a well-formed key, or None."""
    match = _KEY.fullmatch(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    return key_id, _hash(secret)


def opens(stored_hash: str, revoked: bool, presented_hash: str) -> bool:
    """Whether a stored key opens for a presented secret's hash: live, and the same hash
    (compared in constant time)."""
    return not revoked and hmac.compare_digest(stored_hash, presented_hash)


def authenticate(connection: Connection, presented: str) -> ApiKey | None:
    """The live key `presented` is, or None (malformed, unknown, wrong secret or revoked)."""
    parsed = parse_key(presented)
    if parsed is None:
        return None
    key_id, presented_hash = parsed
    row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None or not opens(row.secret_hash, row.revoked_at is not None, presented_hash):
        return None
    return _record(row)


def revoke_key(connection: Connection, key_id: str, now: dt.datetime) -> ApiKey:
    """Revoke a key; from the next request on it is refused. Revoking twice is an error."""
    row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise UnknownKey(f"no API key {key_id}")
    if row.revoked_at is not None:
        raise KeyAlreadyRevoked(f"API key {key_id} was already revoked at {row.revoked_at}")
    connection.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=now))
    return ApiKey(row.key_id, row.partner_id, tuple(row.scopes.split(",")), row.created_at, now)


def keys_of(connection: Connection, partner_id: str) -> list[ApiKey]:
    rows = connection.execute(
        select(api_keys).where(api_keys.c.partner_id == partner_id).order_by(api_keys.c.created_at)
    )
    return [_record(r) for r in rows]
