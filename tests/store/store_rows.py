"""Rows the store tests start from: people and partners put in through the store's own
functions, with stand-in hashes and ciphertexts (the vault has its own tests)."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Engine, update

from kaimen.store import partners, people
from kaimen.store.tables import people as people_table

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
BIRTH = dt.date(1990, 3, 7)


def stand_in(kind: str, person_id: str) -> str:
    """A lookup hash for `person_id`'s identity of `kind`."""
    return hashlib.sha256(f"{kind}:{person_id}".encode()).hexdigest()


def new_person(person_id: str, birth_date: dt.date = BIRTH) -> people.NewPerson:
    return people.NewPerson(
        person_id=person_id,
        birth_date=birth_date,
        national_id_hash=stand_in("cn_resident_id", person_id),
        national_id_encrypted=f"sealed national id of {person_id}",
        phone_hash=stand_in("phone", person_id),
        phone_encrypted=f"sealed phone of {person_id}",
    )


def enrol(engine: Engine, *person_ids: str) -> None:
    with engine.begin() as connection:
        people.insert_people(connection, [new_person(p) for p in person_ids], T0)


def mark_opted_out(engine: Engine, person_id: str) -> None:
    """The row an opt-out leaves: status opted_out, no birth date."""
    with engine.begin() as connection:
        connection.execute(
            update(people_table)
            .where(people_table.c.person_id == person_id)
            .values(status="opted_out", birth_date=None)
        )


def add_partners(engine: Engine, *partner_ids: str) -> None:
    with engine.begin() as connection:
        for partner_id in partner_ids:
            partners.add(connection, partner_id, f"{partner_id} Ltd", T0)
