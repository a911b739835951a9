"""Signing in to the web app: a person with a one-time code issued by the operator (the
demo's way in) or their own API token; a partner with one of its live API keys; the admin with
the admin token. Each sign-in opens a session held in the store (the browser's cookie carries
only its secret), so signing out, a revoked key or leaving ends it at once. Each sign-in, sign-out
and code issued has its audit row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Unauthenticated
from kaimen.enrolment import enrol_one
from kaimen.sharing.authentication import identify
from kaimen.sharing.own_data import NotEnrolled
from kaimen.store import audit, sign_in_codes, web_sessions
from kaimen.store.identity_vault import IdentityVault

# Long enough to copy a code from a terminal to a browser; short, since it is a password.
CODE_LIFETIME = dt.timedelta(minutes=10)
# A signed-in session ends this long after sign-in, whatever happens in between.
SESSION_LIFETIME = dt.timedelta(hours=12)
# The same words whatever was wrong, so a refusal tells a guesser nothing.
CODE_REFUSED = "this sign-in code is not valid: it may be mistyped, used already or expired"
TOKEN_REFUSED = "this is not a live token or key"  # noqa: S105 - words, not a secret
# Who enrolled someone who enrolled themselves on the web, in the audit log (there is no
# person id to name before the enrolment).
SELF_ENROLMENT = "web:self-enrolment"


class SignInRefused(Unauthenticated):
    """A sign-in code or token that lets nobody in."""


@dataclass(frozen=True)
class WebSignIn:
    """Who signed in, and the secret of their new session (for the browser's cookie only)."""

    caller: Caller
    secret: str
    expires_at: dt.datetime


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


def _open(
    store: Connection, caller: Caller, at: dt.datetime, how: str, admin_token: str | None = None
) -> WebSignIn:
    secret = web_sessions.open_session(
        store,
        caller.kind,
        at,
        SESSION_LIFETIME,
        person_id=caller.person_id,
        partner_id=caller.partner_id,
        key_id=caller.key_id,
        # An admin's session holds while the admin token it was opened with does: a new
        # token (after a leak) ends every session opened with the old one.
        bound_to=admin_token if caller.kind == "admin" else None,
    )
    audit.append(
        store,
        caller.actor,
        f"{caller.kind}.signed_in",
        subject=caller.person_id or caller.partner_id or caller.actor,
        details={"with": how},
        now=at,
    )
    return WebSignIn(caller, secret, at + SESSION_LIFETIME)


def sign_in_with_code(engine: Engine, code: str, now: dt.datetime | None = None) -> WebSignIn:
    """A session for the person whose live code this is, the code used up; `SignInRefused`
    otherwise."""
    at = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> WebSignIn | None:
        person_id = sign_in_codes.redeem(store, code, at)
        return None if person_id is None else _open(store, Caller.person(person_id), at, "code")

    signed = audit.audited_transaction(engine, work)
    if signed is None:
        raise SignInRefused(CODE_REFUSED)
    return signed


def sign_in_with_credential(
    engine: Engine, admin_token: str, presented: str, now: dt.datetime | None = None
) -> WebSignIn:
    """A session for whoever `presented` lets in through the API (a person's live token, a
    partner's live key, the admin token); `SignInRefused` for anything else."""
    caller = identify(engine, admin_token, presented)
    if caller is None:
        raise SignInRefused(TOKEN_REFUSED)
    at = now or dt.datetime.now(dt.UTC)
    how = {"person": "token", "partner": "key", "admin": "token"}[caller.kind]
    return audit.audited_transaction(
        engine, lambda store: _open(store, caller, at, how, admin_token)
    )


def sign_in_after_enrolment(
    engine: Engine,
    vault: IdentityVault,
    phone: str,
    national_id: str,
    now: dt.datetime | None = None,
) -> WebSignIn:
    """Enrol a person who came to the web app on their own (`enrol_one`: the API's rules and
    refusals, `IdentityRejected` or `EnrolmentConflict`, nothing stored on one), then open
    their session, with its own audit row."""
    at = now or dt.datetime.now(dt.UTC)
    person_id = enrol_one(engine, vault, phone, national_id, SELF_ENROLMENT, now=at)
    caller = Caller.person(person_id)
    return audit.audited_transaction(engine, lambda store: _open(store, caller, at, "enrolment"))


def session_caller(
    engine: Engine, secret: str, admin_token: str, now: dt.datetime | None = None
) -> Caller | None:
    """The caller of a live session, or None (unknown, ended, expired, person gone, key
    revoked, or an admin's opened with another admin token than today's)."""
    with engine.connect() as store:
        found = web_sessions.live(store, secret, now or dt.datetime.now(dt.UTC))
    if found is None:
        return None
    if found.kind == "person" and found.person_id is not None:
        return Caller.person(found.person_id)
    if found.kind == "partner" and found.partner_id is not None and found.key_id is not None:
        return Caller.partner(found.partner_id, found.key_id, found.scopes)
    if not web_sessions.is_bound(secret, admin_token):
        return None
    return Caller.admin()


def sign_out(engine: Engine, secret: str, now: dt.datetime | None = None) -> None:
    """End the session (a session already ended or unknown is left as it is)."""
    at = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> None:
        found = web_sessions.live(store, secret, at)
        if found is None:
            return
        web_sessions.end(store, secret, at)
        actor = (
            f"person:{found.person_id}"
            if found.kind == "person"
            else f"partner:{found.partner_id}"
            if found.kind == "partner"
            else "admin"
        )
        audit.append(
            store,
            actor,
            f"{found.kind}.signed_out",
            subject=found.person_id or found.partner_id or actor,
            now=at,
        )

    audit.audited_transaction(engine, work)
