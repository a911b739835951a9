"""A person's consents: grant, list, revoke (the person, with their own token)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.store import audit, consents
from kaimen.store.consents import MAX_CONSENT, PURPOSES, Consent

__all__ = [
    "MAX_CONSENT",
    "PURPOSES",
    "Consent",
    "ConsentRequest",
    "consents_of",
    "grant_consent",
    "revoke_consent",
]


@dataclass(frozen=True)
class ConsentRequest:
    partner_id: str
    purpose: str
    expires_at: dt.datetime | None = None
    # Decision consents only: the partner may see the score and the points.
    share_score: bool = False


def grant_consent(
    engine: Engine, person_id: str, request: ConsentRequest, actor: str, now: dt.datetime
) -> Consent:
    """Grant a consent; it replaces any live one for the same partner and purpose."""

    def work(store: Connection) -> Consent:
        consent = consents.grant(
            store,
            person_id,
            request.partner_id,
            request.purpose,
            now,
            expires_at=request.expires_at,
            share_score=request.share_score,
        )
        audit.append(
            store,
            actor,
            "consent.granted",
            subject=str(consent.consent_id),
            details={"partner": request.partner_id, "purpose": request.purpose},
            now=now,
        )
        return consent

    return audit.audited_transaction(engine, work)


def consents_of(engine: Engine, person_id: str) -> list[Consent]:
    """The person's consents, live and past."""
    with engine.connect() as store:
        return consents.of_person(store, person_id)


def revoke_consent(
    engine: Engine, person_id: str, consent_id: int, actor: str, now: dt.datetime
) -> Consent:
    """Revoke one of the person's consents; the partner's next request is refused."""

    def work(store: Connection) -> Consent:
        consent = consents.revoke(store, person_id, consent_id, now)
        audit.append(store, actor, "consent.revoked", subject=str(consent_id), now=now)
        return consent

    return audit.audited_transaction(engine, work)
