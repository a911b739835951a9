"""Enrolled names in the store: found by their comparable form, never kept in clear.

A name is an `identities` row of kind `name`, encrypted like the phone and the ID number. Its
lookup hash is in two parts: the first `KEY_CHARS` hex characters are the keyed hash of the
name's comparable form (its Pinyin syllables, sorted: see `kaimen.matching.names`), so 王伟,
王玮 and "Wei Wang" share them; the last `HOLDER_CHARS` are the keyed hash of the person id.
Names are not unique, and the second part keeps each row's hash its own, so the table's one
uniqueness rule (kind, lookup_hash) holds for names too; a range scan of that same index over
the first part finds everyone with a given name, without reading any name.

Used by identity resolution to narrow the enrolled people worth comparing with a court list
before anything is decrypted (see `kaimen.dueprocess.probabilistic_links`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from kaimen.domain.person_names import NAME_KIND
from kaimen.store.identity_vault import IdentityVault

HASH_CHARS = 64
KEY_CHARS = 40
HOLDER_CHARS = HASH_CHARS - KEY_CHARS
HOLDER_KIND = "name_holder"  # the vault kind the person part is hashed under
ENROLLED_ID_KIND = "cn_resident_id"


def key_prefixes(vault: IdentityVault, keys: Sequence[str]) -> list[str]:
    """The first part of the lookup hash of names with each comparable form."""
    return [digest[:KEY_CHARS] for digest in vault.lookup_hashes(NAME_KIND, keys)]


def lookup_hashes(
    vault: IdentityVault, keys: Sequence[str], person_ids: Sequence[str]
) -> list[str]:
    """The lookup hash of each person's name, from its comparable form (`""` when the name
    has none: it is then found by no key)."""
    holders = vault.lookup_hashes(HOLDER_KIND, person_ids)
    distinct = list(dict.fromkeys(keys))  # common names repeat: each key is hashed once
    prefix_of = dict(zip(distinct, key_prefixes(vault, distinct), strict=True))
    return [
        prefix_of[key] + holder[:HOLDER_CHARS] for key, holder in zip(keys, holders, strict=True)
    ]


@dataclass(frozen=True)
class SealedCandidates:
    """Active people worth comparing, column by column (equal lengths): birth dates as ISO
    text, the encrypted ID number and name (None where they gave none)."""

    person_id: list[str]
    birth_date: list[str]
    national_id_encrypted: list[str]
    name_encrypted: list[str | None]


_FIRST = "0" * HOLDER_CHARS
_LAST = "f" * HOLDER_CHARS

# Active people born on one of the dates, or whose name's first hash part is one of the
# prefixes, with their sealed ID number and name. Each name range is searched on the
# (kind, lookup_hash) index; the birth dates scan the people table (no index of its own).
_POSTGRES = """
WITH wanted AS (
    SELECT person_id FROM people WHERE status = 'active' AND birth_date = ANY(%(dates)s::date[])
    UNION
    SELECT i.person_id FROM unnest(%(low)s::text[], %(high)s::text[]) AS k(low, high)
    CROSS JOIN LATERAL (
        SELECT person_id FROM identities
        WHERE kind = %(kind)s AND lookup_hash BETWEEN k.low AND k.high
        OFFSET 0
    ) AS i
)
SELECT p.person_id, p.birth_date, n.encrypted_value, m.encrypted_value
FROM wanted AS w
JOIN people AS p ON p.person_id = w.person_id AND p.status = 'active'
JOIN identities AS n ON n.person_id = p.person_id AND n.kind = %(id_kind)s
LEFT JOIN identities AS m ON m.person_id = p.person_id AND m.kind = %(kind)s
"""
# Both dialects are made to loop over the ranges and search the index within each (CROSS
# JOIN on SQLite; on PostgreSQL a LATERAL subquery that OFFSET 0 keeps from being flattened):
# left to themselves, both scanned every name once per range (9 s to a minute at 100k
# people, PostgreSQL misled by statistics from before a bulk enrolment).
_SQLITE = """
WITH wanted AS (
    SELECT person_id FROM people
    WHERE status = 'active' AND birth_date IN (SELECT value FROM json_each(:dates))
    UNION
    SELECT i.person_id FROM json_each(:ranges) AS k CROSS JOIN identities AS i
    WHERE i.kind = :kind
      AND i.lookup_hash BETWEEN json_extract(k.value, '$[0]') AND json_extract(k.value, '$[1]')
)
SELECT p.person_id, p.birth_date, n.encrypted_value, m.encrypted_value
FROM wanted AS w
JOIN people AS p ON p.person_id = w.person_id AND p.status = 'active'
JOIN identities AS n ON n.person_id = p.person_id AND n.kind = :id_kind
LEFT JOIN identities AS m ON m.person_id = p.person_id AND m.kind = :kind
"""


def candidates(
    connection: Connection, birth_dates: Sequence[dt.date], prefixes: Sequence[str]
) -> SealedCandidates:
    """Active people born on any of `birth_dates` or named with any of `prefixes` (from
    `key_prefixes`), in one statement."""
    prefixes = sorted(set(prefixes))
    dates = sorted(set(birth_dates))
    low = [p + _FIRST for p in prefixes]
    high = [p + _LAST for p in prefixes]
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute(
                _POSTGRES,
                {
                    "dates": dates,
                    "low": low,
                    "high": high,
                    "kind": NAME_KIND,
                    "id_kind": ENROLLED_ID_KIND,
                },
            )
        else:
            cursor.execute(
                _SQLITE,
                {
                    "ranges": json.dumps([list(r) for r in zip(low, high, strict=True)]),
                    "dates": json.dumps([d.isoformat() for d in dates]),
                    "kind": NAME_KIND,
                    "id_kind": ENROLLED_ID_KIND,
                },
            )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    columns = list(zip(*rows, strict=True)) or [(), (), (), ()]
    return SealedCandidates(
        person_id=list(columns[0]),
        birth_date=[b if isinstance(b, str) else b.isoformat() for b in columns[1]],
        national_id_encrypted=list(columns[2]),
        name_encrypted=list(columns[3]),
    )


def population_counts(connection: Connection) -> tuple[int, int]:
    """(active people, active people who gave a name): the population candidates are drawn
    from, for the linkage's prior and name frequencies."""
    row = connection.exec_driver_sql(
        "SELECT count(*), count(i.person_id) FROM people AS p LEFT JOIN identities AS i "
        f"ON i.person_id = p.person_id AND i.kind = '{NAME_KIND}' WHERE p.status = 'active'"
    ).one()
    return int(row[0]), int(row[1])
