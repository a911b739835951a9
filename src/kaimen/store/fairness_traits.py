"""The fairness audit's own table: each person's sex and province, encrypted.

Only the fairness report imports this module (an import-linter contract holds it): nothing that
builds features, trains or scores can read these values. Enrolment writes the row with the
person (`people.insert_many`); opting out deletes it with every other row about the person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from kaimen.store.tables import fairness_traits, identities, people


@dataclass(frozen=True)
class SealedTraits:
    """One person's sex and province as the vault sealed them (`audit_groups.traits_of`)."""

    person_id: str
    traits_encrypted: str


@dataclass(frozen=True)
class AuditedPerson:
    """An active person's sealed traits with their birth date (for the age band)."""

    traits: SealedTraits
    birth_date: dt.date


def without_traits(connection: Connection) -> list[tuple[str, str]]:
    """(person_id, encrypted ID number) of each active person who has no row yet: those
    enrolled before the table existed."""
    query = (
        select(people.c.person_id, identities.c.encrypted_value)
        .join(identities, identities.c.person_id == people.c.person_id)
        .outerjoin(fairness_traits, fairness_traits.c.person_id == people.c.person_id)
        .where(
            people.c.status == "active",
            identities.c.kind == "cn_resident_id",
            fairness_traits.c.person_id.is_(None),
        )
        .order_by(people.c.person_id)
    )
    return [(person_id, cipher) for person_id, cipher in connection.execute(query)]


def insert_many(connection: Connection, rows: Sequence[SealedTraits], now: dt.datetime) -> int:
    """Insert rows in the caller's transaction; returns how many."""
    if rows:
        connection.execute(
            insert(fairness_traits),
            [
                {
                    "person_id": r.person_id,
                    "traits_encrypted": r.traits_encrypted,
                    "recorded_at": now,
                }
                for r in rows
            ],
        )
    return len(rows)


def audited_people(connection: Connection) -> list[AuditedPerson]:
    """Every active person with a row, and their birth date, in person_id order."""
    query = (
        select(
            fairness_traits.c.person_id,
            fairness_traits.c.traits_encrypted,
            people.c.birth_date,
        )
        .join(people, people.c.person_id == fairness_traits.c.person_id)
        .where(people.c.status == "active")
        .order_by(fairness_traits.c.person_id)
    )
    return [
        AuditedPerson(SealedTraits(person_id, traits), birth)
        for person_id, traits, birth in connection.execute(query)
    ]
