"""`kaimen ingest PATH`: a CSV, JSON Lines or Parquet file into the lake, all or nothing.

A Parquet file the engine can read as it is (`parquet_input`) is judged and typed where it
lies, in one parallel engine pass; any other file is read in chunks, each judged and typed
in one engine pass. Either way the judged rows stay in the engine (which spills to disk past
its memory limit). Only when every row is clean are
the final sorted per-month files written, in one pass: nothing is staged and read back.

Deduplication is an anti-join. Within the file it is done in the engine. Against what kaimen
already holds, the key index decides, in the transaction that lists the new files: the
file's keys are inserted there, and when none was indexed before (a new file, the common
case) that is all. When some were, the transaction is rolled back, the files written are
deleted, and the file is classified against the lake and the inbox and written again
without what they already hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.domain.errors import BatchRejected, NothingToRead, RowError
from kaimen.engines.embedded import connect
from kaimen.ingest.deduplication import CONTENT_HASH_SQL, Classification, classify
from kaimen.ingest.event_rules import (
    INPUT_COLUMNS,
    RAW,
    check_chunk,
    check_relation,
    needs_text,
)
from kaimen.ingest.parquet_input import parquet_view
from kaimen.ingest.pipeline import (
    MAX_REPORTED_ERRORS,
    IngestReport,
    file_records,
    load_people,
    months_in,
    negative_alerts,
    opted_out_rows,
    settle,
    sweep_unlisted,
    unrecorded_cases,
    unsealed_keys,
)
from kaimen.input_files import file_sha256, iter_input, locate
from kaimen.lake.atomic_parquet import is_disk_full, storage_full
from kaimen.lake.schema import CONTENT_HASH
from kaimen.lake.writer import MonthWriter, exclusive
from kaimen.store import alerts, audit, event_keys, lake_manifest
from kaimen.store.disk_full import is_store_full
from kaimen.telemetry.steps import note_step, timed_step

SPILL_DIR = "_spill"
JUDGED = "judged"


def _hashes() -> str:
    """The judged rows' content hash and key hashes, computed in the judging pass: there the
    engine's threads share the work with the reading and the rules, where in `_store` it
    took one thread's time beside the month writer's sorts (a quarter of the ingest, on a
    file of millions of new events)."""
    key_hash, key_check = event_keys.key_sql()
    return (
        f"{CONTENT_HASH_SQL} AS {CONTENT_HASH}, "
        f"{key_hash} AS {event_keys.KEY_HASH}, {key_check} AS {event_keys.KEY_CHECK}"
    )


# Rounds of "write, then find some keys taken": each loses only to events stored meanwhile.
ATTEMPTS = 3


@timed_step("ingest_file")
def ingest_file(
    engine: Engine,
    lake_root: Path,
    path: Path,
    actor: str,
    now: dt.datetime | None = None,
    chunk_rows: int = 1_000_000,
    memory_limit: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Validate every row, then store the new events; a file seen before is a no-op.

    `progress` hears what is happening, e.g. "checked 3,000,000 rows", "deduplicating".
    """
    tell = progress or (lambda _message: None)
    now = now or dt.datetime.now(dt.UTC)
    sha256 = file_sha256(path)
    replayed = _replayed(engine, sha256)
    if replayed is not None:
        return replayed
    try:
        return _ingest_new(
            engine, lake_root, path, sha256, actor, now, chunk_rows, memory_limit, tell
        )
    except Exception as exc:
        # Raised in the engine's spill, or the store's (through SQLAlchemy, or its driver's
        # own bulk writes): the lake's writer names its own.
        if is_disk_full(exc):
            raise storage_full(exc) from exc
        if is_store_full(exc):
            raise storage_full(getattr(exc, "orig", exc)) from exc
        raise


def _replayed(engine: Engine, sha256: str) -> IngestReport | None:
    """The report of this exact file's earlier batch, if there is one."""
    with engine.connect() as store:
        previous = lake_manifest.batch_for_file(store, sha256)
    if previous is None:
        return None
    return IngestReport(
        previous.events_total, 0, previous.events_total, previous.batch_id, replayed_file=True
    )


def _ingest_new(
    engine: Engine,
    lake_root: Path,
    path: Path,
    sha256: str,
    actor: str,
    now: dt.datetime,
    chunk_rows: int,
    memory_limit: str | None,
    tell: Callable[[str], None],
) -> IngestReport:
    connection = connect(memory_limit=memory_limit, temp_directory=lake_root / SPILL_DIR)
    try:
        _judge(connection, engine, path, now, chunk_rows, tell)
        months = months_in(connection, JUDGED)
        tell("deduplicating")
        with exclusive(lake_root):
            # Again, under the lock: another process may have stored this same file while
            # this one judged it, and its batch owns the file's hash.
            replayed = _replayed(engine, sha256)
            if replayed is not None:
                tell("the same file was ingested meanwhile")
                return replayed
            swept = sweep_unlisted(engine, lake_root)
            if swept:
                tell(f"removed {swept:,} unlisted file(s) an interrupted write left")
            departed = opted_out_rows(connection, engine, JUDGED)
            if departed:
                raise BatchRejected(locate(path, departed[:MAX_REPORTED_ERRORS]), path.name)
            unrecorded = unrecorded_cases(connection, engine, lake_root, JUDGED)
            if unrecorded:
                raise BatchRejected(locate(path, unrecorded[:MAX_REPORTED_ERRORS]), path.name)
            # Within the file, first assume what is usual: every row a new event, no key
            # twice. The key hashes computed while the files are written prove it, or the
            # file is classified (within the file only: the key index answers for
            # everything else) and written again.
            result: Classification | None = None
            attempt = 0
            while True:
                try:
                    batch_id, result = _store(
                        connection,
                        engine,
                        lake_root,
                        result,
                        months,
                        path,
                        sha256,
                        actor,
                        now,
                        tell,
                        careful=attempt > 0,
                    )
                    break
                except _KeysRepeat:
                    tell("some events repeat within the file: deduplicating")
                    result = classify(connection, JUDGED, lake_root, [])
                    if result.errors:
                        raise BatchRejected(result.errors, path.name) from None
                except event_keys.KeysTaken:
                    attempt += 1
                    if attempt == ATTEMPTS:
                        raise
                    tell("some events are held already: deduplicating against the lake")
                    result = settle(
                        connection, engine, lake_root, JUDGED, path.name, unsealed_keys(engine)
                    )
    finally:
        connection.close()
    note_step(total=result.total, new=result.new, duplicate=result.duplicates)
    return IngestReport(result.total, result.new, result.duplicates, batch_id)


def _judge(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    path: Path,
    now: dt.datetime,
    chunk_rows: int,
    tell: Callable[[str], None],
) -> None:
    """Judge every chunk into the engine table `judged`; BatchRejected listing the bad rows."""
    load_people(connection, engine)
    if _judge_in_place(connection, path, now):
        (rows,) = connection.execute(f"SELECT count(*) FROM {JUDGED}").fetchall()[0]
        if not rows:
            raise NothingToRead(path.name)
        tell(f"checked {rows:,} rows")
        return
    errors: list[RowError] = []
    checked_rows = 0
    created = False
    for chunk in iter_input(path, INPUT_COLUMNS, chunk_rows):
        errors += chunk.errors
        checked = check_chunk(connection, chunk.table, now, max_errors=MAX_REPORTED_ERRORS)
        errors += checked.errors
        checked_rows += chunk.table.num_rows
        tell(f"checked {checked_rows:,} rows")
        if errors:
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            continue  # keep judging, to list every bad row, but keep nothing more
        # A table of the database, not a temp table: `_store`'s cursor reads it too.
        verb = f"INSERT INTO {JUDGED}" if created else f"CREATE TABLE {JUDGED} AS"
        connection.execute(f"{verb} SELECT * EXCLUDE (problems), {_hashes()} FROM {checked.table}")
        created = True
    if errors:
        raise BatchRejected(locate(path, errors[:MAX_REPORTED_ERRORS]), path.name)
    connection.execute("DROP TABLE IF EXISTS checked")


def _judge_in_place(connection: duckdb.DuckDBPyConnection, path: Path, now: dt.datetime) -> bool:
    """Judge a Parquet file the engine can read as it is, in one pass, into `judged`;
    False (and nothing done) for a file to read in chunks. `judged` keeps the (empty)
    `problems` column: everything after selects its columns by name. Either way `judged`
    holds each row's hashes too (`_hashes`)."""
    schema = parquet_view(connection, path, INPUT_COLUMNS, RAW)
    if schema is None:
        return False
    try:
        if needs_text(schema):
            return False
        checked = check_relation(
            connection, schema, now, JUDGED, MAX_REPORTED_ERRORS, shared=True, derived=_hashes()
        )
    finally:
        connection.execute(f"DROP VIEW IF EXISTS {RAW}")
    if checked.errors:
        raise BatchRejected(checked.errors, path.name)
    return True


class _KeysRepeat(Exception):
    """Some key occurs more than once in the file: classify it before writing."""


def _store(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    lake_root: Path,
    result: Classification | None,
    months: list[str],
    path: Path,
    sha256: str,
    actor: str,
    now: dt.datetime,
    tell: Callable[[str], None],
    careful: bool = False,
) -> tuple[int, Classification]:
    """Write the new rows as the final per-month files and list them with their keys, in
    one transaction; KeysTaken (after removing the files) if some key is indexed already
    (or, unless `careful`, if some key's key_hash is: see `event_keys.add`). With no
    `result` (the file not classified yet), every judged row is taken as a new event, and
    _KeysRepeat (after removing the files) if two share a key_hash.

    The engine writes the files in a worker thread while this one hashes the keys and
    contents (on a cursor of the same engine) and indexes them: the hashing, the store's
    half of the index (a PostgreSQL backend, SQLite's C code) and the alerts run beside the
    engine's sorts and writes instead of after them (one month's sort and write keep about
    one core busy). This thread then writes months too, those the worker has not taken.
    The transaction commits only once both are done.
    """
    rows_sql = result.new_rows_sql if result is not None else f"SELECT * FROM {JUDGED}"
    tell(f"writing {result.new if result is not None else 'the'} new events")
    # In key_hash order, the index's own: each insert lands next to the one before. Only
    # the careful way needs the full keys; sorting them too cost a fifth more. The hashes
    # were computed when the rows were judged.
    full_key = "source, event_id, " if careful else ""
    keys_sql = (
        f"SELECT {full_key}{CONTENT_HASH}, {event_keys.KEY_HASH}, {event_keys.KEY_CHECK} "
        f"FROM ({rows_sql}) ORDER BY {event_keys.KEY_HASH}"
    )
    if result is not None:
        # A classification's rows read its temp tables, which only this connection sees:
        # hashed here, before the writer takes the connection (the rare way).
        early: tuple[pa.Table, pa.Table] | None = (
            connection.sql(keys_sql).to_arrow_table(),
            negative_alerts(connection, rows_sql),
        )
    else:
        early = None
    writer = MonthWriter(rows_sql, months if result is None or result.new else [], lake_root)
    # One engine thread a query: the writer's and this thread's queries (and, once it has
    # indexed the keys, its months) each keep one core busy, the store's work the rest. Two
    # threads a query spent a tenth more CPU on the same months (11.3 against 9.7 s for a
    # file's 25) where the box has no core to spare: the ingest took 0.4 s longer.
    (threads,) = connection.execute("SELECT current_setting('threads')").fetchall()[0]
    connection.execute("SET threads = 1")
    try:
        return _write_and_list(
            connection,
            engine,
            writer,
            rows_sql,
            keys_sql,
            early,
            result,
            path,
            sha256,
            actor,
            now,
            careful,
        )
    finally:
        connection.execute(f"SET threads = {int(threads)}")


def _write_and_list(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    writer: MonthWriter,
    rows_sql: str,
    keys_sql: str,
    early: tuple[pa.Table, pa.Table] | None,
    result: Classification | None,
    path: Path,
    sha256: str,
    actor: str,
    now: dt.datetime,
    careful: bool,
) -> tuple[int, Classification]:
    """`_store`'s writing and listing, on the engine threads it set."""
    hasher = connection.cursor()
    with hasher, ThreadPoolExecutor(1, thread_name_prefix="lake-writer") as pool:
        writing = pool.submit(writer.work, connection)
        try:
            if early is not None and result is not None:
                keys, negative = early
                counted = result
            else:
                keys = hasher.sql(keys_sql).to_arrow_table()
                # Two rows with one key share its key_hash: none shared proves every key
                # distinct (a shared one, the same key twice or two keys, is settled
                # exactly by `classify`).
                hashes = keys.column(event_keys.KEY_HASH).to_numpy()
                if bool(np.any(hashes[1:] == hashes[:-1])):
                    raise _KeysRepeat
                counted = Classification(keys.num_rows, keys.num_rows, 0, [], rows_sql)
                negative = negative_alerts(hasher, rows_sql)
            with engine.begin() as store:
                event_keys.add(store, keys, careful=careful)
                # New events (the index just took their keys) are seldom alerts raised
                # already: an event removed from the lake and sent again can be.
                alerts.raise_for_rows(
                    store, alerts.AlertKind.NEGATIVE_ITEM, negative, now, likely_new=True
                )
                if early is None:
                    writer.work(hasher)  # the months left, beside the writer's
                writing.result()
                written = writer.written()
                batch_id = lake_manifest.record_batch(
                    store,
                    channel="file",
                    received_at=now,
                    events_total=counted.total,
                    events_new=counted.new,
                    files=file_records(written),
                    file_sha256=sha256,
                    file_name=path.name[:400],
                )
                audit.append(
                    store,
                    actor,
                    "events.ingested",
                    details={
                        "batch_id": batch_id,
                        "file_sha256": sha256,
                        "total": counted.total,
                        "new": counted.new,
                        "duplicate": counted.duplicates,
                    },
                    now=now,
                )
        except BaseException:
            # A repeat or a key taken: the files are not to be listed, so no more are
            # written; once no thread is writing, what they placed is nobody's.
            writer.stop()
            wait([writing])
            writer.remove()
            raise
    return batch_id, counted
