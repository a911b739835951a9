"""Partners and their API keys: the admin registers partners and issues, lists and revokes
keys; a partner, signed in with one of its keys, manages its own keys within that key's
scopes (`issue_own_key`, `revoke_own_key`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden
from kaimen.store import audit, partners
from kaimen.store.partners import ApiKey, Partner, PartnerRejected, UnknownKey, UnknownPartner

# The records the doors render.
__all__ = [
    "ApiKey",
    "IssuedKey",
    "KeyBeyondScopes",
    "Partner",
    "PartnerKeys",
    "PartnerRejected",
    "add_partner",
    "consentable_partners",
    "issue_key",
    "issue_own_key",
    "keys_of",
    "list_partners",
    "revoke_key",
    "revoke_own_key",
]


class KeyBeyondScopes(Forbidden):
    """A partner's key asked to issue or revoke a key with a scope it does not carry itself."""


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


def _own_partner(caller: Caller) -> str:
    if caller.kind != "partner" or caller.partner_id is None:
        raise Forbidden("only a partner, signed in with one of its keys, manages its own keys")
    return caller.partner_id


def _within(caller: Caller, scopes: Collection[str], doing: str) -> None:
    """A key manages only keys no stronger than itself: otherwise a key given out for one
    purpose (say, feedback) could mint itself a key for every other."""
    beyond = sorted(set(scopes) - set(caller.scopes))
    if beyond:
        raise KeyBeyondScopes(
            f"the key you signed in with may {doing} only keys within its own scopes "
            f"({', '.join(caller.scopes)}); {', '.join(beyond)} is beyond them"
        )


def issue_own_key(
    engine: Engine, caller: Caller, scopes: Collection[str], now: dt.datetime | None = None
) -> IssuedKey:
    """A new key for the signed-in partner, with scopes its own key carries (KeyBeyondScopes
    otherwise); the key itself is in the answer only."""
    partner_id = _own_partner(caller)
    chosen = partners.check_scopes(scopes)
    _within(caller, chosen, "issue")
    return issue_key(engine, partner_id, chosen, caller.actor, now)


def revoke_own_key(
    engine: Engine, caller: Caller, key_id: str, now: dt.datetime | None = None
) -> ApiKey:
    """Revoke one of the signed-in partner's keys whose scopes its own key carries (UnknownKey
    for another partner's, KeyBeyondScopes, KeyAlreadyRevoked); the key it signed in with
    may always be revoked, which ends every session on it."""
    partner_id = _own_partner(caller)

    def work(store: Connection) -> ApiKey:
        own = {k.key_id: k for k in partners.keys_of(store, partner_id)}
        if key_id not in own:
            raise UnknownKey(f"no API key {key_id} of yours")
        if key_id != caller.key_id:
            _within(caller, own[key_id].scopes, "revoke")
        key = partners.revoke_key(store, key_id, _now(now))
        audit.append(
            store,
            caller.actor,
            "partner.key_revoked",
            subject=partner_id,
            details={"key_id": key_id},
        )
        return key

    return audit.audited_transaction(engine, work)
