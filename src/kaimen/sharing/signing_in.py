"""Signing a person in to the web app: a one-time code issued by the operator (the demo's
way in), or the person's own API token. Each sign-in and each code issued has its audit row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Unauthenticated
from kaimen.sharing.authentication import identify
from kaimen.sharing.own_data import NotEnrolled
from kaimen.store import audit, sign_in_codes

# Long enough to copy a code from a terminal to a browser; short, since it is a password.
CODE_LIFETIME = dt.timedelta(minutes=10)
# The same words whatever was wrong, so a refusal tells a guesser nothing.
CODE_REFUSED = "this sign-in code is not valid: it may be mistyped, used already or expired"
TOKEN_REFUSED = "this is not a person's live token"  # noqa: S105 - words, not a secret


class SignInRefused(Unauthenticated):
    """A sign-in code or token that lets nobody in."""


@dataclass(frozen=True)
class IssuedCode:
    person_id: str
    code: str
    expires_at: dt.datetime


def issue_sign_in_code(
    engine: Engine, person_id: str, actor: str, now: dt.datetime | None = None
) -> IssuedCode:
    """A single-use code that signs `person_id` in within CODE_LIFETIME (shown once)."""
    at = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> IssuedCode:
        try:
            code = sign_in_codes.issue(store, person_id, at, CODE_LIFETIME)
        except KeyError:
            raise NotEnrolled(f"{person_id} is not an enrolled person") from None
        audit.append(store, actor, "sign_in_code.issued", subject=person_id, now=at)
        return IssuedCode(person_id, code, at + CODE_LIFETIME)

    return audit.audited_transaction(engine, work)


def sign_in_with_code(engine: Engine, code: str, now: dt.datetime | None = None) -> Caller:
    """The person whose live code this is, the code used up; `SignInRefused` otherwise."""
    at = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> str | None:
        person_id = sign_in_codes.redeem(store, code, at)
        if person_id is not None:
            audit.append(
                store,
                f"person:{person_id}",
                "person.signed_in",
                subject=person_id,
                details={"with": "code"},
                now=at,
            )
        return person_id

    person_id = audit.audited_transaction(engine, work)
    if person_id is None:
        raise SignInRefused(CODE_REFUSED)
    return Caller.person(person_id)


def sign_in_with_token(
    engine: Engine, admin_token: str, token: str, now: dt.datetime | None = None
) -> Caller:
    """The person whose live API token this is; `SignInRefused` for anything else (a partner's
    key or the admin's token signs nobody in to a person's pages)."""
    caller = identify(engine, admin_token, token)
    if caller is None or caller.kind != "person" or caller.person_id is None:
        raise SignInRefused(TOKEN_REFUSED)
    person_id = caller.person_id

    def work(store: Connection) -> None:
        audit.append(
            store,
            caller.actor,
            "person.signed_in",
            subject=person_id,
            details={"with": "token"},
            now=now or dt.datetime.now(dt.UTC),
        )

    audit.audited_transaction(engine, work)
    return caller
