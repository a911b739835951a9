"""Consent per person, partner and purpose, checked at the moment of use.

A consent is live while it is neither revoked nor expired. Granting again for the same
partner and purpose replaces the live one (it is revoked in the same transaction), so a
person always has at most one live consent per partner and purpose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, or_, select, update

from kaimen.domain.errors import Conflict, NotFound, Rejected
from kaimen.store.tables import consents, partners, people

PURPOSES = ("decision", "report", "feedback")
MAX_CONSENT = dt.timedelta(days=3653)


class ConsentRejected(Rejected):
    """A consent that cannot be granted or revoked as asked."""


class UnknownConsent(NotFound, ConsentRejected):
    """No such consent of this person's."""


class ConsentAlreadyRevoked(Conflict, ConsentRejected):
    """The consent was revoked before."""


@dataclass(frozen=True)
class Consent:
    consent_id: int
    person_id: str
    partner_id: str
    purpose: str
    share_score: bool
    granted_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def live_at(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _consent(r: Row[Any]) -> Consent:
    return Consent(
        r.consent_id,
        r.person_id,
        r.partner_id,
        r.purpose,
        r.share_score,
        r.granted_at,
        r.expires_at,
        r.revoked_at,
    )


def _live(now: dt.datetime) -> ColumnElement[bool]:
    return consents.c.revoked_at.is_(None) & or_(
        consents.c.expires_at.is_(None), consents.c.expires_at > now
    )


def grant(
    connection: Connection,
    person_id: str,
    partner_id: str,
    purpose: str,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    share_score: bool = False,
) -> Consent:
    """Grant (or replace) the person's consent for this partner and purpose."""
    if purpose not in PURPOSES:
        raise ConsentRejected(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    if share_score and purpose != "decision":
        raise ConsentRejected("sharing the score can only be part of a decision consent")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ConsentRejected("expires_at needs a time zone")
        try:
            expires_at = expires_at.astimezone(dt.UTC)
        except OverflowError:
            raise ConsentRejected("expires_at is out of range") from None
        if expires_at <= now:
            raise ConsentRejected("expires_at must be in the future")
        if expires_at > now + MAX_CONSENT:
            raise ConsentRejected("expires_at must be within ten years; for longer, grant again")
    # Locking the person's row makes two grants for one person take turns (PostgreSQL), so
    # the later one always revokes the earlier and at most one stays live.
    person = connection.execute(
        select(people.c.status).where(people.c.person_id == person_id).with_for_update()
    ).first()
    if person is None or person.status != "active":
        raise ConsentRejected(f"{person_id} is not an enrolled person")
    if (
        connection.execute(
            select(partners.c.partner_id).where(partners.c.partner_id == partner_id)
        ).first()
        is None
    ):
        raise ConsentRejected(f"no partner {partner_id}")
    connection.execute(
        update(consents)
        .where(
            consents.c.person_id == person_id,
            consents.c.partner_id == partner_id,
            consents.c.purpose == purpose,
            _live(now),
        )
        .values(revoked_at=now)
    )
    consent_id = connection.execute(
        insert(consents)
        .values(
            person_id=person_id,
            partner_id=partner_id,
            purpose=purpose,
            share_score=share_score,
            granted_at=now,
            expires_at=expires_at,
        )
        .returning(consents.c.consent_id)
    ).scalar_one()
    return Consent(consent_id, person_id, partner_id, purpose, share_score, now, expires_at, None)


def revoke(connection: Connection, person_id: str, consent_id: int, now: dt.datetime) -> Consent:
    """Revoke one of the person's consents; effective for the next request."""
    row = connection.execute(
        select(consents).where(
            consents.c.consent_id == consent_id, consents.c.person_id == person_id
        )
    ).first()
    if row is None:
        raise UnknownConsent(f"no consent {consent_id} of yours")
    consent = _consent(row)
    if consent.revoked_at is not None:
        raise ConsentAlreadyRevoked(f"consent {consent_id} was already revoked")
    connection.execute(
        update(consents).where(consents.c.consent_id == consent_id).values(revoked_at=now)
    )
    return Consent(**{**consent.__dict__, "revoked_at": now})


def live(
    connection: Connection, person_id: str, partner_id: str, purpose: str, now: dt.datetime
) -> Consent | None:
    """The live consent for this use, if any (and only for an active person whose file is
    not frozen: a freeze answers as no consent does)."""
    row = connection.execute(
        select(consents)
        .join(people, people.c.person_id == consents.c.person_id)
        .where(
            consents.c.person_id == person_id,
            consents.c.partner_id == partner_id,
            consents.c.purpose == purpose,
            people.c.status == "active",
            people.c.frozen_at.is_(None),
            _live(now),
        )
        .order_by(consents.c.granted_at.desc(), consents.c.consent_id.desc())
    ).first()
    return None if row is None else _consent(row)


def of_person(connection: Connection, person_id: str) -> list[Consent]:
    rows = connection.execute(
        select(consents)
        .where(consents.c.person_id == person_id)
        .order_by(consents.c.granted_at, consents.c.consent_id)
    )
    return [_consent(r) for r in rows]
