"""The access log: every read of a person's data by anyone but the person, for them to read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import JSON, Connection, exists, insert, literal, select

from kaimen.domain.json_values import JsonObject, JsonValue
from kaimen.store import people
from kaimen.store.tables import access_log
from kaimen.store.tables import people as people_table
from kaimen.store.types import UTCDateTime


@dataclass(frozen=True)
class Disclosure:
    """One access-log row as a service writes it (with a decision, or for a refused
    attempt): who read, why, and what they were shown; `flag` when the access log marks it
    (see `tables.access_log`)."""

    actor: str
    purpose: str
    what: str
    disclosed: Mapping[str, JsonValue]
    flag: str | None = None


@dataclass(frozen=True)
class Access:
    access_id: int
    accessed_at: dt.datetime
    actor: str
    purpose: str
    what: str
    # What the reader was shown, as they were shown it: its shape depends on `what`.
    disclosed: JsonObject
    # "probing", or "refused: <reason>" for an attempt that was refused (see the table).
    flag: str | None = None


def record(
    connection: Connection,
    person_id: str,
    actor: str,
    purpose: str,
    what: str,
    disclosed: Mapping[str, JsonValue],
    now: dt.datetime,
    flag: str | None = None,
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
            flag=flag,
        )
    )


def record_if_known(
    connection: Connection, person_id: str, logged: Disclosure, now: dt.datetime
) -> None:
    """Log an attempt on a person who may not exist (`logged`, its row): one statement
    either way, a row only for an active person, so that the asker cannot time whether
    there was one."""
    known = (
        select(people_table.c.person_id)
        .where(
            people_table.c.person_id == person_id,
            people_table.c.status == "active",
            # A frozen file's attempts are logged with their alert (alerts.record_frozen_attempts).
            people_table.c.frozen_at.is_(None),
        )
        .scalar_subquery()
    )
    row = select(
        known,
        literal(now, UTCDateTime()),
        literal(logged.actor),
        literal(logged.purpose),
        literal(logged.what),
        literal(dict(logged.disclosed), JSON()),
        literal(logged.flag),
    ).where(exists(known))
    columns = ["person_id", "accessed_at", "actor", "purpose", "what", "disclosed", "flag"]
    connection.execute(insert(access_log).from_select(columns, row))


def of_person(connection: Connection, person_id: str) -> list[Access]:
    """The person's log, newest first."""
    rows = connection.execute(
        select(access_log)
        .where(access_log.c.person_id == person_id)
        .order_by(access_log.c.accessed_at.desc(), access_log.c.access_id.desc())
    )
    return [
        Access(r.access_id, r.accessed_at, r.actor, r.purpose, r.what, r.disclosed, r.flag)
        for r in rows
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
