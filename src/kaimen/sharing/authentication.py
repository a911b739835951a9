"""Who a credential belongs to, and people's own tokens.

The doors call `identify` with the bearer credential they received and refuse the request
when it names nobody; nothing else in kaimen reads credentials.
"""

from __future__ import annotations

import datetime as dt
import hmac

from sqlalchemy import Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden, Unauthenticated
from kaimen.sharing.own_data import NotEnrolled
from kaimen.store import partners, person_tokens

# The same words for every credential refused, whatever was wrong with it.
REFUSED = "the bearer token or API key is not valid (or was revoked)"


class CredentialRefused(Unauthenticated):
    """A credential that names nobody: malformed, unknown, revoked or with another secret."""


class ScopeMissing(Forbidden):
    """A live partner key without the scope the request needs."""


def scope_missing(scope: str) -> ScopeMissing:
    return ScopeMissing(f"this API key lacks the {scope!r} scope")


def is_partner_key(presented: str) -> bool:
    """Whether the credential is meant as a partner's API key (`kmk_...`), live or not."""
    return presented.startswith(partners.KEY_PREFIX + "_")


def partner_key(engine: Engine, presented: str, scope: str) -> Caller:
    """The partner behind a live API key carrying `scope`; raises `CredentialRefused` or
    `ScopeMissing` otherwise. For a door that checks a key apart from the work it opens."""
    with engine.connect() as store:
        key = partners.authenticate(store, presented)
    if key is None:
        raise CredentialRefused(REFUSED)
    if scope not in key.scopes:
        raise scope_missing(scope)
    return Caller.partner(key.partner_id, key.key_id, key.scopes)


def identify(engine: Engine, admin_token: str, presented: str) -> Caller | None:
    """The caller behind a bearer credential: the admin token, a live partner key
    (`kmk_...`) or a person's live token; None when it is none of them."""
    if hmac.compare_digest(presented.encode(), admin_token.encode()):
        return Caller.admin()
    with engine.connect() as store:
        if is_partner_key(presented):
            key = partners.authenticate(store, presented)
            if key is None:
                return None
            return Caller.partner(key.partner_id, key.key_id, key.scopes)
        person_id = person_tokens.person_of(store, presented)
    return None if person_id is None else Caller.person(person_id)


def issue_person_token(engine: Engine, person_id: str, now: dt.datetime | None = None) -> str:
    """A new bearer token for an enrolled person (shown once; only its hash is kept)."""
    try:
        with engine.begin() as store:
            return person_tokens.issue(store, person_id, now or dt.datetime.now(dt.UTC))
    except KeyError:
        raise NotEnrolled(f"{person_id} is not an enrolled person") from None
