"""People's own bearer tokens: shown once when issued, stored only as hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Connection, insert, select

from kaimen.store.tables import people, person_tokens


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(connection: Connection, person_id: str, now: dt.datetime) -> str:
    """A new token for an enrolled person; raises KeyError for anyone else."""
    known = connection.execute(
        select(people.c.person_id).where(
            people.c.person_id == person_id, people.c.status == "active"
        )
    ).first()
    if known is None:
        raise KeyError(person_id)
    token = secrets.token_urlsafe(32)
    connection.execute(
        insert(person_tokens).values(token_hash=_hash(token), person_id=person_id, created_at=now)
    )
    return token


def person_of(connection: Connection, token: str) -> str | None:
    """Whose live token this is, if anyone's."""
    row = connection.execute(
        select(person_tokens.c.person_id).where(
            person_tokens.c.token_hash == _hash(token), person_tokens.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else str(row.person_id)
