"""The access log: every read of a person's data by anyone but the person, for them to read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from kaimen.domain.json_values import JsonObject, JsonValue
from kaimen.store import people
from kaimen.store.tables import access_log


@dataclass(frozen=True)
class Access:
    access_id: int
    accessed_at: dt.datetime
    actor: str
    purpose: str
    what: str
    # What the reader was shown, as they were shown it: its shape depends on `what`.
    disclosed: JsonObject


def record(
    connection: Connection,
    person_id: str,
    actor: str,
    purpose: str,
    what: str,
    disclosed: Mapping[str, JsonValue],
    now: dt.datetime,
) -> None:
    """Log one read. Call it in the transaction that reads, so no read goes unlogged."""
    connection.execute(
        insert(access_log).values(
            person_id=person_id,
            accessed_at=now,
            actor=actor,
            purpose=purpose,
            what=what,
            disclosed=dict(disclosed),
        )
    )


def of_person(connection: Connection, person_id: str) -> list[Access]:
    """The person's log, newest first."""
    rows = connection.execute(
        select(access_log)
        .where(access_log.c.person_id == person_id)
        .order_by(access_log.c.accessed_at.desc(), access_log.c.access_id.desc())
    )
    return [
        Access(r.access_id, r.accessed_at, r.actor, r.purpose, r.what, r.disclosed) for r in rows
    ]


def record_if_active(
    connection: Connection,
    person_id: str,
    actor: str,
    purpose: str,
    what: str,
    disclosed: Mapping[str, JsonValue],
    now: dt.datetime,
) -> bool:
    """Log a read that happened outside this transaction, unless the person has opted out
    since: an opt-out erases their log, and writing to it afterwards would leave their data
    behind. Locking the person's row orders this against a concurrent opt-out."""
    if people.status_of(connection, person_id, lock=True) != "active":
        return False
    record(connection, person_id, actor, purpose, what, disclosed, now)
    return True


def record_many(
    connection: Connection,
    rows: Sequence[tuple[str, str, str, str, Mapping[str, JsonValue]]],
    now: dt.datetime,
) -> None:
    """Log many reads or changes at once: (person id, actor, purpose, what, disclosed) each."""
    if rows:
        connection.execute(
            insert(access_log),
            [
                {
                    "person_id": person_id,
                    "accessed_at": now,
                    "actor": actor,
                    "purpose": purpose,
                    "what": what,
                    "disclosed": dict(disclosed),
                }
                for person_id, actor, purpose, what, disclosed in rows
            ],
        )
