"""People and their identities in the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, insert, select

from kaimen.store.tables import identities, people

if TYPE_CHECKING:
    import pyarrow as pa

# PyArrow is imported by the two functions that build Arrow tables: the access log reads a
# person's status through this module, and reading one score must not pay for Arrow.

# Both SQLite and PostgreSQL accept this many bound values in one IN list comfortably.
LOOKUP_CHUNK = 5_000


@dataclass(frozen=True)
class NewPerson:
    """A validated person ready to insert: identity values already hashed and encrypted."""

    person_id: str
    birth_date: dt.date
    national_id_hash: str
    national_id_encrypted: str
    phone_hash: str
    phone_encrypted: str


def owners_of(connection: Connection, kind: str, lookup_hashes: Sequence[str]) -> dict[str, str]:
    """Map each of `lookup_hashes` already enrolled under `kind` to its person."""
    found: dict[str, str] = {}
    for start in range(0, len(lookup_hashes), LOOKUP_CHUNK):
        chunk = list(lookup_hashes[start : start + LOOKUP_CHUNK])
        rows = connection.execute(
            select(identities.c.lookup_hash, identities.c.person_id).where(
                identities.c.kind == kind, identities.c.lookup_hash.in_(chunk)
            )
        )
        found.update({r.lookup_hash: r.person_id for r in rows})
    return found


def existing_person_ids(connection: Connection, person_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(person_ids), LOOKUP_CHUNK):
        chunk = list(person_ids[start : start + LOOKUP_CHUNK])
        rows = connection.execute(select(people.c.person_id).where(people.c.person_id.in_(chunk)))
        found.update(r.person_id for r in rows)
    return found


def insert_people(connection: Connection, new: Iterable[NewPerson], now: dt.datetime) -> int:
    """Insert people with both identities in the caller's transaction; returns how many."""
    rows = list(new)
    if not rows:
        return 0
    connection.execute(
        insert(people),
        [{"person_id": p.person_id, "birth_date": p.birth_date, "enrolled_at": now} for p in rows],
    )
    connection.execute(
        insert(identities),
        [
            {
                "person_id": p.person_id,
                "kind": kind,
                "lookup_hash": digest,
                "encrypted_value": cipher,
                "created_at": now,
            }
            for p in rows
            for kind, digest, cipher in (
                ("cn_resident_id", p.national_id_hash, p.national_id_encrypted),
                ("phone", p.phone_hash, p.phone_encrypted),
            )
        ],
    )
    return len(rows)


def count_active(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(people).where(people.c.status == "active")
            ).scalar_one()
        )


def active_birth_dates(connection: Connection) -> pa.Table:
    """person_id and birth_date of every active person, as Arrow, for vectorised joins."""
    import pyarrow as pa

    result = connection.execute(
        select(people.c.person_id, people.c.birth_date).where(people.c.status == "active")
    )
    ids: list[str] = []
    births: list[dt.date] = []
    for person_id, birth in result:
        ids.append(person_id)
        births.append(birth)
    return pa.table(
        {"person_id": pa.array(ids, pa.string()), "birth_date": pa.array(births, pa.date32())}
    )


def active_ids(connection: Connection) -> pa.Table:
    """person_id of every active person, as one Arrow column, for joins in the engine."""
    import pyarrow as pa

    query = select(people.c.person_id).where(people.c.status == "active")
    return pa.table({"person_id": pa.array(connection.execute(query).scalars().all(), pa.string())})


def status_of(connection: Connection, person_id: str, lock: bool = False) -> str | None:
    """'active' or 'opted_out', or None for someone never enrolled. With `lock`, the row is
    locked for update until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    query = select(people.c.status).where(people.c.person_id == person_id)
    if lock:
        query = query.with_for_update()
    return connection.execute(query).scalar_one_or_none()


def event_subjects(connection: Connection) -> pa.Table:
    """person_id, birth_date and status of everyone ever enrolled, as Arrow, so the event rules
    can tell someone unknown from someone who opted out (whose birth date is gone)."""
    import pyarrow as pa

    rows = connection.execute(select(people.c.person_id, people.c.birth_date, people.c.status))
    ids: list[str] = []
    births: list[dt.date | None] = []
    statuses: list[str] = []
    for person_id, birth, status in rows:
        ids.append(person_id)
        births.append(birth)
        statuses.append(status)
    return pa.table(
        {
            "person_id": pa.array(ids, pa.string()),
            "birth_date": pa.array(births, pa.date32()),
            "status": pa.array(statuses, pa.string()),
        }
    )


def opted_out_among(connection: Connection, person_ids: Sequence[str]) -> set[str]:
    """Which of `person_ids` have opted out, reading their rows with a shared lock.

    Called in the transaction that stores their events: an opt-out locks the person's row
    before deleting anything, so either it waits for this transaction (and then deletes what
    it stored) or this one waits for it (and then sees the new status).
    """
    found: set[str] = set()
    for start in range(0, len(person_ids), LOOKUP_CHUNK):
        chunk = list(person_ids[start : start + LOOKUP_CHUNK])
        rows = connection.execute(
            select(people.c.person_id, people.c.status)
            .where(people.c.person_id.in_(chunk))
            .with_for_update(read=True)
        )
        found.update(r.person_id for r in rows if r.status != "active")
    return found


def opted_out_ids(connection: Connection) -> list[str]:
    """Everyone who opted out (few, next to those enrolled)."""
    query = select(people.c.person_id).where(people.c.status == "opted_out")
    return list(connection.execute(query).scalars())


def event_subjects_among(connection: Connection, person_ids: Sequence[str]) -> pa.Table:
    """As `event_subjects`, for `person_ids` only: what a request's events name, looked up by
    key, so checking a request costs its people and not the population."""
    import pyarrow as pa

    ids: list[str] = []
    births: list[dt.date | None] = []
    statuses: list[str] = []
    for start in range(0, len(person_ids), LOOKUP_CHUNK):
        chunk = list(person_ids[start : start + LOOKUP_CHUNK])
        rows = connection.execute(
            select(people.c.person_id, people.c.birth_date, people.c.status).where(
                people.c.person_id.in_(chunk)
            )
        )
        for person_id, birth, status in rows:
            ids.append(person_id)
            births.append(birth)
            statuses.append(status)
    return pa.table(
        {
            "person_id": pa.array(ids, pa.string()),
            "birth_date": pa.array(births, pa.date32()),
            "status": pa.array(statuses, pa.string()),
        }
    )
