"""Webhook endpoints: where a partner (or the court feed) takes kaimen's messages, and the
secret they are signed with. The admin sets them; the secret is shown once and kept
encrypted with the vault's key (signing needs the secret itself)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine

from kaimen.domain.disputes import COURT
from kaimen.domain.errors import Rejected
from kaimen.store import audit, partners, webhook_endpoints
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.partners import UnknownPartner

SECRET_KIND = "webhook_secret"  # noqa: S105 (the vault's label, not a secret)
MAX_URL = 2000


class WebhookRejected(Rejected):
    """A webhook URL that kaimen will not call."""


@dataclass(frozen=True)
class WebhookSet:
    recipient: str
    url: str
    # The signing secret: shown to the admin this once.
    secret: str


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    text = url.strip()
    if not 0 < len(text) <= MAX_URL:
        raise WebhookRejected(f"a webhook URL has 1-{MAX_URL} characters")
    try:
        parts = urlsplit(text)
        _ = parts.port  # a port that is not a number raises here
    except ValueError as error:
        raise WebhookRejected(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookRejected("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise WebhookRejected("a webhook URL needs a host")
    if parts.username or parts.password:
        raise WebhookRejected("a webhook URL may not hold credentials: messages are signed")
    if parts.fragment:
        raise WebhookRejected("a webhook URL has no #fragment")
    if any(ord(c) <= 32 or ord(c) == 127 for c in text):
        raise WebhookRejected("a webhook URL may not hold spaces or control characters")
    return text


def set_webhook(
    engine: Engine,
    vault: IdentityVault,
    recipient: str,
    url: str,
    actor: str,
    now: dt.datetime | None = None,
) -> WebhookSet:
    """Set (or replace) the recipient's URL with a new secret (UnknownPartner unless the
    recipient is a registered partner or "court")."""
    now = now or dt.datetime.now(dt.UTC)
    checked = check_url(url)
    secret = secrets.token_urlsafe(32)

    def work(store: Connection) -> WebhookSet:
        if recipient != COURT and partners.get(store, recipient) is None:
            raise UnknownPartner(f"no partner {recipient}")
        webhook_endpoints.put(store, recipient, checked, vault.encrypt(SECRET_KIND, secret), now)
        audit.append(
            store,
            actor,
            "webhook.set",
            subject=recipient,
            details={"host": urlsplit(checked).hostname},
            now=now,
        )
        return WebhookSet(recipient, checked, secret)

    return audit.audited_transaction(engine, work)
