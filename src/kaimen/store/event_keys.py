"""The key index: (source, event_id, content hash) of every event in the lake or the inbox.

A batch is checked against the rows for its own keys, so the check costs the batch and not
the lake. Rows are added in the transaction that makes their events part of the lake (a
file batch's manifest rows) or of the inbox (a request's inbox rows), with a plain insert:
a key stored meanwhile by someone else fails it with `KeysTaken`, and the caller rolls back
and checks again. Bulk inserts go through the driver (COPY on PostgreSQL, `executemany` on
SQLite), as SQLAlchemy's per-row parameter handling would cost more than the lake write.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from kaimen.store.tables import event_inbox, event_keys

KEYS_SCHEMA = pa.schema(
    [("source", pa.string()), ("event_id", pa.string()), ("content_hash", pa.int64())]
)
LOOKUP_CHUNK = 2_000
BULK_CHUNK = 500_000


class KeysTaken(Exception):
    """Some of the keys being added are indexed already: roll back and classify again."""


def _by_source(keys: Sequence[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """`keys` as (source, a chunk of its event ids): `source = ? AND event_id IN (...)` is
    answered from the primary key by SQLite and PostgreSQL alike, where SQLite scans the
    whole table for a row-value `(source, event_id) IN (...)`."""
    ids: dict[str, list[str]] = {}
    for source, event_id in keys:
        ids.setdefault(source, []).append(event_id)
    return [
        (source, chunk[start : start + LOOKUP_CHUNK])
        for source, chunk in ids.items()
        for start in range(0, len(chunk), LOOKUP_CHUNK)
    ]


def lookup(connection: Connection, keys: Sequence[tuple[str, str]]) -> pa.Table:
    """The index rows of those of `keys` that are indexed (KEYS_SCHEMA)."""
    found: list[tuple[str, str, int]] = []
    for source, event_ids in _by_source(keys):
        found += connection.execute(
            select(event_keys.c.source, event_keys.c.event_id, event_keys.c.content_hash).where(
                event_keys.c.source == source, event_keys.c.event_id.in_(event_ids)
            )
        ).all()
    columns: list[Sequence[object]] = list(zip(*found, strict=True)) if found else [[], [], []]
    return pa.table(
        [pa.array(c, f.type) for c, f in zip(columns, KEYS_SCHEMA, strict=True)], schema=KEYS_SCHEMA
    )


def add(connection: Connection, keys: pa.Table) -> None:
    """Index `keys` (KEYS_SCHEMA, no key twice) in the caller's transaction; KeysTaken if
    any is indexed already (the transaction is then unusable: roll it back)."""
    if keys.num_rows == 0:
        return
    keys = keys.select(KEYS_SCHEMA.names).cast(KEYS_SCHEMA)
    driver: Any = connection.connection.driver_connection
    try:
        if connection.dialect.name == "postgresql":
            _copy(driver, keys)
        else:
            _executemany(driver, keys)
    except (IntegrityError, sqlite3.IntegrityError) as error:
        raise KeysTaken(str(error)) from error
    except Exception as error:
        if type(error).__name__ == "UniqueViolation":  # psycopg's, without importing it here
            raise KeysTaken(str(error)) from error
        raise


def _executemany(driver: sqlite3.Connection, keys: pa.Table) -> None:
    cursor = driver.cursor()
    try:
        for batch in keys.to_batches(max_chunksize=BULK_CHUNK):
            cursor.executemany(
                "INSERT INTO event_keys (source, event_id, content_hash) VALUES (?, ?, ?)",
                zip(*(column.to_pylist() for column in batch.columns), strict=True),
            )
    finally:
        cursor.close()


def _copy(driver: Any, keys: pa.Table) -> None:
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with (
        driver.cursor() as cursor,
        cursor.copy(
            "COPY event_keys (source, event_id, content_hash) FROM STDIN (FORMAT csv)"
        ) as copy,
    ):
        for start in range(0, keys.num_rows, BULK_CHUNK):
            buffer = io.BytesIO()
            pacsv.write_csv(keys.slice(start, BULK_CHUNK), buffer, options)
            copy.write(buffer.getbuffer())


def forget(connection: Connection, keys: Sequence[tuple[str, str]]) -> int:
    """Remove `keys` from the index (their events left the lake); how many were there."""
    removed = 0
    for source, event_ids in _by_source(keys):
        result = connection.execute(
            delete(event_keys).where(
                event_keys.c.source == source, event_keys.c.event_id.in_(event_ids)
            )
        )
        removed += result.rowcount
    return removed


def forget_inbox_of(connection: Connection, person_id: str) -> int:
    """Remove the keys of the person's inbox events (call before the rows are deleted)."""
    held = select(event_inbox.c.source, event_inbox.c.event_id).where(
        event_inbox.c.person_id == person_id
    )
    result = connection.execute(
        delete(event_keys).where(tuple_(event_keys.c.source, event_keys.c.event_id).in_(held))
    )
    return result.rowcount


def rehash(connection: Connection, changed: Sequence[tuple[str, str, int]]) -> None:
    """Give events whose stored content changed (a friend link cut) their new hash."""
    for source, event_id, content_hash in changed:
        connection.execute(
            update(event_keys)
            .where(event_keys.c.source == source, event_keys.c.event_id == event_id)
            .values(content_hash=content_hash)
        )


def count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(event_keys)).scalar_one())
