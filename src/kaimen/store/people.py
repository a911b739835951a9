"""People and their identities in the store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from kaimen.domain.person_names import NAME_KIND
from kaimen.store.tables import fairness_traits, identities, people

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


@dataclass(frozen=True)
class NewPeople:
    """Validated people ready to insert, column by column (equal lengths): birth dates as ISO
    text, identity values already hashed and encrypted."""

    person_id: list[str]
    birth_date: list[str]
    national_id_hash: list[str]
    national_id_encrypted: list[str]
    phone_hash: list[str]
    phone_encrypted: list[str]
    # A name is optional: None where the person gave none (see `name_index` for its hash).
    name_hash: list[str | None] | None = None
    name_encrypted: list[str | None] | None = None
    # Sex and province for the fairness audit alone (`tables.fairness_traits`), encrypted;
    # None leaves them to the report's backfill.
    traits_encrypted: list[str] | None = None

    def __len__(self) -> int:
        return len(self.person_id)


# Enrolment reads and writes through the driver itself: SQLAlchemy's per-row parameter
# handling was most of a bulk enrolment's time. The statements are fixed text over our own
# tables; values are always bound (or, for COPY, validated identifiers, hex and base64).


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _lookup(connection: Connection, query: str, keys: Sequence[str], *bound: str) -> list[Any]:
    """Rows of `query` (ending in the key column) for every key, in one statement: PostgreSQL
    takes the keys as one array, SQLite as one JSON list (no limit on bound values)."""
    cursor = _driver(connection).cursor()
    try:
        if _is_postgres(connection):
            cursor.execute(query.replace("?", "%s") + " = ANY(%s)", (*bound, list(keys)))
        else:
            cursor.execute(
                f"{query} IN (SELECT value FROM json_each(?))", (*bound, json.dumps(keys))
            )
        return list(cursor.fetchall())
    finally:
        cursor.close()


def owners_of(connection: Connection, kind: str, lookup_hashes: Sequence[str]) -> dict[str, str]:
    """Map each of `lookup_hashes` already enrolled under `kind` to its person."""
    query = "SELECT lookup_hash, person_id FROM identities WHERE kind = ? AND lookup_hash"
    return dict(_lookup(connection, query, lookup_hashes, kind))


def existing_person_ids(connection: Connection, person_ids: Sequence[str]) -> set[str]:
    query = "SELECT person_id FROM people WHERE person_id"
    return {row[0] for row in _lookup(connection, query, person_ids)}


def _sqlite_text(column: Any, value: dt.datetime, connection: Connection) -> str:
    """`value` as SQLAlchemy itself writes it into `column` on SQLite."""
    process = column.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    text: str = process(value)
    return text


_COPY_BLOCK = 50_000  # rows per COPY write: bounds the text held at once


def _copy(cursor: Any, statement: str, rows: Iterable[tuple[str, ...]]) -> None:
    with cursor.copy(statement) as copy:
        block: list[str] = []
        for line in map("\t".join, rows):
            block.append(line)
            if len(block) == _COPY_BLOCK:
                copy.write("\n".join(block) + "\n")
                block = []
        if block:
            copy.write("\n".join(block) + "\n")


def insert_people(connection: Connection, new: Iterable[NewPerson], now: dt.datetime) -> int:
    """Insert people with both identities in the caller's transaction; returns how many."""
    rows = list(new)
    columns = NewPeople(
        person_id=[p.person_id for p in rows],
        birth_date=[p.birth_date.isoformat() for p in rows],
        national_id_hash=[p.national_id_hash for p in rows],
        national_id_encrypted=[p.national_id_encrypted for p in rows],
        phone_hash=[p.phone_hash for p in rows],
        phone_encrypted=[p.phone_encrypted for p in rows],
    )
    return insert_many(connection, columns, now)


def insert_many(connection: Connection, new: NewPeople, now: dt.datetime) -> int:
    """Insert people with their identities in the caller's transaction, by COPY on PostgreSQL
    and `executemany` on SQLite; returns how many. A clash with a row already there raises
    SQLAlchemy's `IntegrityError`, as any other write through the store does."""
    try:
        return _write(connection, new, now)
    except connection.dialect.loaded_dbapi.IntegrityError as exc:
        raise IntegrityError("bulk insert of people", None, exc) from exc


def _identity_rows(new: NewPeople, stamp: str) -> Iterator[tuple[str, ...]]:
    """The identities of every new person (ID number, phone, and name when given), as rows
    of `identities`."""
    count = len(new)
    for kind, digests, ciphers in (
        ("cn_resident_id", new.national_id_hash, new.national_id_encrypted),
        ("phone", new.phone_hash, new.phone_encrypted),
    ):
        yield from zip(
            new.person_id, repeat(kind, count), digests, ciphers, repeat(stamp, count), strict=True
        )
    if new.name_hash is None or new.name_encrypted is None:
        return
    for person_id, digest, cipher in zip(
        new.person_id, new.name_hash, new.name_encrypted, strict=True
    ):
        if digest is not None and cipher is not None:
            yield person_id, NAME_KIND, digest, cipher, stamp


def _trait_rows(new: NewPeople, stamp: str) -> Iterator[tuple[str, ...]]:
    """The fairness audit's row of every new person, when enrolment sealed them."""
    if new.traits_encrypted is None:
        return
    for person_id, traits in zip(new.person_id, new.traits_encrypted, strict=True):
        yield person_id, traits, stamp


def _write(connection: Connection, new: NewPeople, now: dt.datetime) -> int:
    count = len(new)
    if not count:
        return 0
    people_columns = "people (person_id, birth_date, enrolled_at)"
    identity_columns = "identities (person_id, kind, lookup_hash, encrypted_value, created_at)"
    trait_columns = "fairness_traits (person_id, traits_encrypted, recorded_at)"
    cursor = _driver(connection).cursor()
    try:
        if _is_postgres(connection):
            stamp = now.astimezone(dt.UTC).isoformat()
            _copy(
                cursor,
                f"COPY {people_columns} FROM STDIN",
                zip(new.person_id, new.birth_date, repeat(stamp, count), strict=True),
            )
            _copy(cursor, f"COPY {identity_columns} FROM STDIN", _identity_rows(new, stamp))
            _copy(cursor, f"COPY {trait_columns} FROM STDIN", _trait_rows(new, stamp))
            return count
        cursor.executemany(
            f"INSERT INTO {people_columns} VALUES (?, ?, ?)",
            zip(
                new.person_id,
                new.birth_date,
                repeat(_sqlite_text(people.c.enrolled_at, now, connection), count),
                strict=True,
            ),
        )
        stamp = _sqlite_text(identities.c.created_at, now, connection)
        cursor.executemany(
            f"INSERT INTO {identity_columns} VALUES (?, ?, ?, ?, ?)", _identity_rows(new, stamp)
        )
        stamp = _sqlite_text(fairness_traits.c.recorded_at, now, connection)
        cursor.executemany(f"INSERT INTO {trait_columns} VALUES (?, ?, ?)", _trait_rows(new, stamp))
        return count
    finally:
        cursor.close()


def count_active(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(people).where(people.c.status == "active")
            ).scalar_one()
        )


def active_ids(connection: Connection) -> pa.Table:
    """person_id of every active person, as one Arrow column, for joins in the engine."""
    import pyarrow as pa

    from kaimen.store import arrow_copy, sqlite_columns  # Arrow: loaded only by what needs it

    query = "SELECT person_id FROM people WHERE status = 'active'"
    schema = pa.schema([("person_id", pa.string())])
    if connection.dialect.name == "postgresql":
        return arrow_copy.copy_out(connection, query, [], schema)
    # As one joined text: a row each, the million ids cost 0.83 against 0.34 s.
    return sqlite_columns.read(connection, query, [], schema)


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
    import pyarrow.compute as pc

    from kaimen.store import arrow_copy, sqlite_columns  # Arrow: loaded only by what needs it

    schema = pa.schema(
        [("person_id", pa.string()), ("birth_date", pa.date32()), ("status", pa.string())]
    )
    if connection.dialect.name == "postgresql":
        query = "SELECT person_id, birth_date, status FROM people"
        return arrow_copy.copy_out(connection, query, [], schema)
    # As joined texts, the date as SQLite keeps it (ISO 8601), empty when gone: row by row,
    # with a date object made for each, a million people took 1.4 s of every file's ingest.
    query = "SELECT person_id, coalesce(birth_date, '') AS birth_date, status FROM people"
    texts = sqlite_columns.read(
        connection, query, [], pa.schema([(n, pa.string()) for n in schema.names])
    )
    births = texts.column("birth_date")
    known = pc.if_else(pc.equal(births, ""), pa.scalar(None, pa.string()), births)
    return texts.set_column(1, "birth_date", known.cast(pa.date32())).cast(schema)


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
