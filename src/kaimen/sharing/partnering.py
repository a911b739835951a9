"""Partners and their API keys (the admin's work): register, issue, list, revoke."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.store import audit, partners
from kaimen.store.partners import ApiKey, Partner, UnknownPartner

# The records the doors render.
__all__ = [
    "ApiKey",
    "IssuedKey",
    "Partner",
    "PartnerKeys",
    "add_partner",
    "consentable_partners",
    "issue_key",
    "keys_of",
    "list_partners",
    "revoke_key",
]


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    # The API key itself: shown to the admin once, never stored.
    secret: str


@dataclass(frozen=True)
class PartnerKeys:
    partner: Partner
    keys: tuple[ApiKey, ...]


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def add_partner(
    engine: Engine, partner_id: str, name: str, actor: str, now: dt.datetime | None = None
) -> Partner:
    """Register a partner (PartnerExists if the id is taken)."""

    def work(store: Connection) -> Partner:
        partner = partners.add(store, partner_id, name, _now(now))
        audit.append(store, actor, "partner.added", subject=partner.partner_id)
        return partner

    return audit.audited_transaction(engine, work)


def list_partners(engine: Engine) -> list[PartnerKeys]:
    """Every partner with its keys, live and revoked (never the keys themselves)."""
    with engine.connect() as store:
        return [
            PartnerKeys(p, tuple(partners.keys_of(store, p.partner_id)))
            for p in partners.all_partners(store)
        ]


def consentable_partners(engine: Engine) -> list[Partner]:
    """The partners a person may give consent to: every registered partner, by id and name
    (never their keys)."""
    with engine.connect() as store:
        return partners.all_partners(store)


def keys_of(engine: Engine, partner_id: str) -> list[ApiKey]:
    """A partner's keys (UnknownPartner if there is no such partner)."""
    with engine.connect() as store:
        if partners.get(store, partner_id) is None:
            raise UnknownPartner(f"no partner {partner_id}")
        return partners.keys_of(store, partner_id)


def issue_key(
    engine: Engine,
    partner_id: str,
    scopes: Collection[str],
    actor: str,
    now: dt.datetime | None = None,
) -> IssuedKey:
    """A new API key with scopes; the key itself is in the answer only."""

    def work(store: Connection) -> IssuedKey:
        key, secret = partners.issue_key(store, partner_id, scopes, _now(now))
        audit.append(
            store,
            actor,
            "partner.key_issued",
            subject=partner_id,
            details={"key_id": key.key_id, "scopes": list(key.scopes)},
        )
        return IssuedKey(key, secret)

    return audit.audited_transaction(engine, work)


def revoke_key(engine: Engine, key_id: str, actor: str, now: dt.datetime | None = None) -> ApiKey:
    """Revoke a key: its next request is refused (UnknownKey, KeyAlreadyRevoked)."""

    def work(store: Connection) -> ApiKey:
        key = partners.revoke_key(store, key_id, _now(now))
        audit.append(
            store, actor, "partner.key_revoked", subject=key.partner_id, details={"key_id": key_id}
        )
        return key

    return audit.audited_transaction(engine, work)
