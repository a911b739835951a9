"""Where each recipient (a partner, or the court feed) takes webhooks, and the secret its
messages are signed with, kept encrypted (signing needs the secret itself, not a hash)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from kaimen.store.tables import webhook_endpoints


@dataclass(frozen=True)
class Endpoint:
    recipient: str
    url: str
    secret_encrypted: str
    updated_at: dt.datetime


def put(
    connection: Connection, recipient: str, url: str, secret_encrypted: str, now: dt.datetime
) -> None:
    """Set (or replace) the recipient's endpoint in the caller's transaction."""
    connection.execute(delete(webhook_endpoints).where(webhook_endpoints.c.recipient == recipient))
    connection.execute(
        insert(webhook_endpoints).values(
            recipient=recipient, url=url, secret_encrypted=secret_encrypted, updated_at=now
        )
    )


def get(connection: Connection, recipient: str) -> Endpoint | None:
    row = connection.execute(
        select(webhook_endpoints).where(webhook_endpoints.c.recipient == recipient)
    ).first()
    return (
        None
        if row is None
        else Endpoint(row.recipient, row.url, row.secret_encrypted, row.updated_at)
    )
