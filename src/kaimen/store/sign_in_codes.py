"""One-time sign-in codes: shown once when issued, stored only as hashes, used at most once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Connection, insert, select, update

from kaimen.store.people import status_of
from kaimen.store.tables import people, sign_in_codes

# Letters and digits a person cannot misread for one another (no 0/O, 1/I/L).
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10


def normalised(code: str) -> str:
    """The code as issued, whatever case or separators the person typed."""
    return "".join(c for c in code.upper() if c.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(normalised(code).encode()).hexdigest()


def issue(connection: Connection, person_id: str, now: dt.datetime, lifetime: dt.timedelta) -> str:
    """A new code for an active person, live for `lifetime`; raises KeyError for anyone else."""
    if status_of(connection, person_id) != "active":
        raise KeyError(person_id)
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    connection.execute(
        insert(sign_in_codes).values(
            code_hash=_hash(code), person_id=person_id, created_at=now, expires_at=now + lifetime
        )
    )
    return code


def redeem(connection: Connection, code: str, now: dt.datetime) -> str | None:
    """Use up a live code and return whose it was; None when it is unknown, used or expired.

    One UPDATE guarded by `used_at IS NULL`: of two requests presenting the same code at once,
    only one changes the row."""
    digest = _hash(code)
    row = connection.execute(
        select(sign_in_codes.c.person_id, people.c.status)
        .join(people, people.c.person_id == sign_in_codes.c.person_id)
        .where(
            sign_in_codes.c.code_hash == digest,
            sign_in_codes.c.used_at.is_(None),
            sign_in_codes.c.expires_at > now,
        )
    ).first()
    if row is None or row.status != "active":
        return None
    used = connection.execute(
        update(sign_in_codes)
        .where(sign_in_codes.c.code_hash == digest, sign_in_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    return str(row.person_id) if used.rowcount == 1 else None
