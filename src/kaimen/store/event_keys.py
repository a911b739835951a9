"""The key index: every event in the lake or the inbox, by a compact key, with its content hash.

An event's key (source, event_id) is indexed as two 63-bit halves of the MD5 of
`source \\x1f event_id` (`key_hash`, the primary key, and `key_check`): a row of three
integers, which SQLite and PostgreSQL insert at about twice the rate of the text key it
replaces (revision 0020), and whose 126 bits tell two keys apart as surely as the 63-bit
content hash tells two contents apart. Two keys that share a `key_hash` but not a
`key_check` (expected a few times in ten billion events) are told apart by the full key:
the second one is kept, as (source, event_id, content hash), in `event_key_collisions`.

A batch is checked against the rows for its own keys, so the check costs the batch and not
the lake. Rows are added in the transaction that makes their events part of the lake (a
file batch's manifest rows) or of the inbox (a request's inbox rows), with a plain insert:
a key stored meanwhile by someone else fails it with `KeysTaken`, and the caller rolls back
and checks again. Bulk inserts go through the driver (binary COPY on PostgreSQL,
statements of many rows each on SQLite: `many_rows`), as SQLAlchemy's per-row parameter
handling would cost more than the lake write. The hashes of a big batch are computed by the caller's engine
(`key_sql` in the same run as the content hash); `with_key_hashes` computes them here
for a small one, byte for byte the same.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.store import many_rows
from kaimen.store.tables import event_inbox, event_key_collisions, event_keys

KEYS_SCHEMA = pa.schema(
    [("source", pa.string()), ("event_id", pa.string()), ("content_hash", pa.int64())]
)
KEY_HASH = "key_hash"
KEY_CHECK = "key_check"
HASHED_SCHEMA = KEYS_SCHEMA.append(pa.field(KEY_HASH, pa.int64())).append(
    pa.field(KEY_CHECK, pa.int64())
)
# The engine's form of `key_hashes`: MD5 as a little-endian 128-bit number (DuckDB's
# `md5_number`), its low and high 64 bits each shifted to 63 bits.
_KEY_TEXT = "md5_number(concat({source}, chr(31), {event_id}))"
_LOW64 = "18446744073709551615::UHUGEINT"
LOOKUP_CHUNK = 2_000
BULK_CHUNK = 500_000
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # header of a binary COPY: no flags, no extension
_COPIED = (KEY_HASH, KEY_CHECK, "content_hash")
_COPIED_SCHEMA = pa.schema([(name, pa.int64()) for name in _COPIED])
# A binary COPY row: the field count, then each field's byte length and big-endian value.
_ROW = np.dtype(
    [("fields", ">i2")]
    + [item for name in _COPIED for item in ((f"{name}_size", ">i4"), (name, ">i8"))]
)


class KeysTaken(Exception):
    """Some of the keys being added are indexed already: roll back and classify again."""


def key_sql(source: str = "source", event_id: str = "event_id") -> tuple[str, str]:
    """The engine expressions of (key_hash, key_check) over the named columns."""
    text = _KEY_TEXT.format(source=source, event_id=event_id)
    return (
        f"CAST(({text} & {_LOW64}) >> 1 AS BIGINT)",
        f"CAST(({text} >> 64) >> 1 AS BIGINT)",
    )


def key_hashes(source: str, event_id: str) -> tuple[int, int]:
    """(key_hash, key_check) of one key."""
    digest = hashlib.md5(f"{source}\x1f{event_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "little") >> 1, int.from_bytes(digest[8:], "little") >> 1


def with_key_hashes(keys: pa.Table) -> pa.Table:
    """`keys` (KEYS_SCHEMA) with their key hashes (HASHED_SCHEMA), computed here: for a
    request's keys, not a file's."""
    keys = keys.select(KEYS_SCHEMA.names).cast(KEYS_SCHEMA)
    pairs = [
        key_hashes(s, e)
        for s, e in zip(
            keys.column("source").to_pylist(), keys.column("event_id").to_pylist(), strict=True
        )
    ]
    hashes, checks = (list(c) for c in zip(*pairs, strict=True)) if pairs else ([], [])
    return keys.append_column(KEY_HASH, pa.array(hashes, pa.int64())).append_column(
        KEY_CHECK, pa.array(checks, pa.int64())
    )


def _chunks(values: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield list(values[start : start + LOOKUP_CHUNK])


def _indexed(connection: Connection, hashes: Sequence[int]) -> dict[int, tuple[int, int]]:
    """key_hash -> (key_check, content_hash) of the indexed rows among `hashes`."""
    found: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(sorted(set(hashes))):
        rows = connection.execute(
            select(event_keys.c.key_hash, event_keys.c.key_check, event_keys.c.content_hash).where(
                event_keys.c.key_hash.in_(chunk)
            )
        )
        found.update({h: (c, content) for h, c, content in rows})
    return found


def _has_collisions(connection: Connection) -> bool:
    return bool(connection.execute(select(exists().select_from(event_key_collisions))).scalar())


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


def _collided(
    connection: Connection, keys: Sequence[tuple[str, str]]
) -> list[tuple[str, str, int]]:
    """The collision rows of those of `keys` kept there (usually none: one query says so)."""
    if not keys or not _has_collisions(connection):
        return []
    found: list[tuple[str, str, int]] = []
    table = event_key_collisions
    for source, event_ids in _by_source(keys):
        rows = connection.execute(
            select(table.c.source, table.c.event_id, table.c.content_hash).where(
                table.c.source == source, table.c.event_id.in_(event_ids)
            )
        )
        found += [(s, e, h) for s, e, h in rows]
    return found


def lookup(connection: Connection, keys: Sequence[tuple[str, str]]) -> pa.Table:
    """The index rows of those of `keys` that are indexed (KEYS_SCHEMA)."""
    hashed = [(s, e, *key_hashes(s, e)) for s, e in keys]
    indexed = _indexed(connection, [h for _, _, h, _ in hashed])
    found: dict[tuple[str, str], int] = {}
    for source, event_id, key_hash, key_check in hashed:
        row = indexed.get(key_hash)
        if row is not None and row[0] == key_check:
            found[(source, event_id)] = row[1]
    for source, event_id, content_hash in _collided(connection, keys):
        found[(source, event_id)] = content_hash
    return pa.table(
        {
            "source": pa.array([s for s, _ in found], pa.string()),
            "event_id": pa.array([e for _, e in found], pa.string()),
            "content_hash": pa.array(list(found.values()), pa.int64()),
        },
        schema=KEYS_SCHEMA,
    )


def add(connection: Connection, keys: pa.Table, careful: bool = False) -> None:
    """Index `keys` (HASHED_SCHEMA, no key twice, none indexed yet; the quick way needs
    only the three integers) in the caller's
    transaction; KeysTaken if any is indexed already (the transaction is then unusable:
    roll it back). Fastest in key_hash order, each row landing beside the one before: the
    caller's engine sorts a big batch (sorting it here cost a second per five million).

    The quick way (a file's millions of keys) inserts every key into `event_keys`, so a
    key whose `key_hash` is taken by another key fails it too: the caller then checks
    again and adds `careful`ly, which looks each `key_hash` up first and keeps the keys
    that collide in `event_key_collisions`. A request's few keys are always added so.
    """
    if keys.num_rows == 0:
        return
    if careful:
        keys, collided = _apart(connection, keys.select(HASHED_SCHEMA.names).cast(HASHED_SCHEMA))
    else:
        keys, collided = keys.select(_COPIED).cast(_COPIED_SCHEMA), None
    driver: Any = connection.connection.driver_connection
    try:
        if connection.dialect.name == "postgresql":
            _copy(driver, keys)
        else:
            _insert_many(driver, keys)
        if collided is not None and collided.num_rows:
            connection.execute(
                event_key_collisions.insert(),
                collided.select(KEYS_SCHEMA.names).to_pylist(),
            )
    except (IntegrityError, sqlite3.IntegrityError) as error:
        raise KeysTaken(str(error)) from error
    except Exception as error:
        if type(error).__name__ == "UniqueViolation":  # psycopg's, without importing it here
            raise KeysTaken(str(error)) from error
        raise


def _apart(connection: Connection, keys: pa.Table) -> tuple[pa.Table, pa.Table]:
    """`keys` as (those for `event_keys`, those whose key_hash another key holds);
    KeysTaken if one of them is indexed already."""
    hashes = keys.column(KEY_HASH).to_pylist()
    checks = keys.column(KEY_CHECK).to_pylist()
    indexed = _indexed(connection, hashes)
    first: dict[int, int] = {}
    collides: list[bool] = []
    for key_hash, key_check in zip(hashes, checks, strict=True):
        held = indexed.get(key_hash)
        if held is not None and held[0] == key_check:
            raise KeysTaken(f"key {key_hash}/{key_check} is indexed already")
        # Taken by an indexed key, or by another key of this batch: the full key keeps it.
        collides.append(held is not None or first.setdefault(key_hash, key_check) != key_check)
    mask = pa.array(collides, pa.bool_())
    return keys.filter(pc.invert(mask)), keys.filter(mask)


def _insert_many(driver: sqlite3.Connection, keys: pa.Table) -> None:
    values = np.stack([keys.column(name).to_numpy() for name in _COPIED], axis=1)
    cursor = driver.cursor()
    try:
        many_rows.insert(cursor, f"INSERT INTO event_keys ({', '.join(_COPIED)})", values)
    finally:
        cursor.close()


def _binary_rows(batch: pa.RecordBatch) -> bytes:
    """Rows of three 64-bit integers in PostgreSQL's binary COPY format, built in NumPy."""
    rows = np.empty(batch.num_rows, _ROW)
    rows["fields"] = len(_COPIED)
    for name in _COPIED:
        rows[f"{name}_size"] = 8
        rows[name] = batch.column(name).to_numpy(zero_copy_only=False)
    return rows.tobytes()


def _copy(driver: Any, keys: pa.Table) -> None:
    with (
        driver.cursor() as cursor,
        cursor.copy(
            "COPY event_keys (key_hash, key_check, content_hash) FROM STDIN (FORMAT binary)"
        ) as copy,
    ):
        copy.write(_SIGNATURE)
        for batch in keys.to_batches(max_chunksize=BULK_CHUNK):
            copy.write(_binary_rows(batch))
        copy.write(b"\xff\xff")


def forget(connection: Connection, keys: Sequence[tuple[str, str]]) -> int:
    """Remove `keys` from the index (their events left the lake); how many were there."""
    hashed = {key_hashes(s, e) for s, e in keys}
    indexed = _indexed(connection, [h for h, _ in hashed])
    gone = sorted(h for h, c in hashed if h in indexed and indexed[h][0] == c)
    removed = 0
    for chunk in _chunks(gone):
        removed += connection.execute(
            delete(event_keys).where(event_keys.c.key_hash.in_(chunk))
        ).rowcount
    table = event_key_collisions
    for source, event_id, _ in _collided(connection, keys):
        removed += connection.execute(
            delete(table).where(table.c.source == source, table.c.event_id == event_id)
        ).rowcount
    return removed


def forget_inbox_of(connection: Connection, person_id: str) -> int:
    """Remove the keys of the person's inbox events (call before the rows are deleted)."""
    held = connection.execute(
        select(event_inbox.c.source, event_inbox.c.event_id).where(
            event_inbox.c.person_id == person_id
        )
    )
    return forget(connection, [(s, e) for s, e in held])


def rehash(connection: Connection, changed: Sequence[tuple[str, str, int]]) -> None:
    """Give events whose stored content changed (a friend link cut) their new hash."""
    for source, event_id, content_hash in changed:
        key_hash, key_check = key_hashes(source, event_id)
        connection.execute(
            update(event_keys)
            .where(event_keys.c.key_hash == key_hash, event_keys.c.key_check == key_check)
            .values(content_hash=content_hash)
        )
    table = event_key_collisions
    new_hash = {(s, e): h for s, e, h in changed}
    for source, event_id, _ in _collided(connection, list(new_hash)):
        connection.execute(
            update(table)
            .where(table.c.source == source, table.c.event_id == event_id)
            .values(content_hash=new_hash[(source, event_id)])
        )


def count(connection: Connection) -> int:
    indexed = connection.execute(select(func.count()).select_from(event_keys)).scalar_one()
    collided = connection.execute(
        select(func.count()).select_from(event_key_collisions)
    ).scalar_one()
    return int(indexed) + int(collided)
