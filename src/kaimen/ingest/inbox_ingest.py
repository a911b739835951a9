"""Events over HTTP: accepted into the store's inbox at once, sealed into the lake later.

A request costs its own events: only the people it names are looked up, and only its keys
in the key index (which covers the lake and the inbox). The inbox is transactional and
unique on (source, event_id), and a request's keys are indexed in the same transaction, so
a request either lands whole or not at all, and a retried request finds its events there.
Inbox rows are typed as judged on receipt; sealing copies them into the lake unjudged.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from kaimen.domain.errors import BatchRejected, RowError, Unavailable
from kaimen.engines.embedded import session
from kaimen.ingest.deduplication import (
    CONTENT_DIGEST,
    DIGESTED_HASH_SQL,
    KEYS_SCHEMA,
    classify,
    digested,
)
from kaimen.ingest.event_rules import INPUT_COLUMNS, OPTED_OUT, check_chunk
from kaimen.ingest.pipeline import (
    IngestReport,
    file_records,
    load_named_people,
    months_in,
    negative_alerts,
    sweep_unlisted,
    unrecorded_cases,
)
from kaimen.input_files import LINE, records_table
from kaimen.lake.schema import CONTENT_HASH, LAKE_SCHEMA, PARTITION
from kaimen.lake.writer import exclusive, write_months
from kaimen.store import alerts, audit, event_keys, inbox, lake_manifest, people
from kaimen.telemetry.steps import note_step, timed_step

# Rounds of "classify, then find some keys stored meanwhile": each round loses only to a
# request that stored some of the same events, so with overlapping resends in flight every
# round one of them wins; past this many the sender is asked to send again (503).
ATTEMPTS = 12
# PostgreSQL's deadlock and serialization failures: the transaction is undone whole, and
# trying again is all there is to do.
_RETRYABLE_STATES = frozenset({"40P01", "40001"})
INBOX_SCHEMA = LAKE_SCHEMA.append(pa.field(PARTITION, pa.string())).append(
    pa.field(CONTENT_HASH, pa.int64())
)


def _opted_out(store: Connection, new: pa.Table) -> list[RowError]:
    """Errors for events about (or linking to) someone who has opted out by now."""
    subjects = new.column("person_id")
    friends = new.column("friend_id")
    named = pc.unique(pa.chunked_array(subjects.chunks + friends.chunks, pa.string())).drop_null()
    departed = people.opted_out_among(store, sorted(named.to_pylist()))
    if not departed:
        return []
    errors = []
    for line, person, friend in zip(
        new.column(LINE).to_pylist(), subjects.to_pylist(), friends.to_pylist(), strict=True
    ):
        if person in departed:
            errors.append(RowError(line, "person_id", OPTED_OUT + person))
        if friend in departed:
            errors.append(RowError(line, "friend_id", OPTED_OUT + str(friend)))
    return errors


def _judged(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    records: Sequence[Mapping[str, str | None]],
    now: dt.datetime,
) -> list[tuple[str, str]]:
    """Judge the request into temp table `hashed` (typed, with content hashes); its keys."""
    raw, structural = records_table(records, INPUT_COLUMNS)
    load_named_people(connection, engine, raw)
    errors = structural + check_chunk(connection, raw, now, into="checked").errors
    if errors:
        raise BatchRejected(errors, "request")
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE hashed AS SELECT * EXCLUDE (problems, {CONTENT_DIGEST}), "
        f"{DIGESTED_HASH_SQL} AS {CONTENT_HASH} FROM {digested('checked')}"
    )
    return [
        (str(s), str(e))
        for s, e in connection.execute("SELECT DISTINCT source, event_id FROM hashed").fetchall()
    ]


def accept_events(
    engine: Engine,
    lake_root: Path,
    records: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
    still_allowed: Callable[[Connection, pa.Table], list[RowError]] | None = None,
) -> IngestReport:
    """Validate a request's events and put the new ones in the inbox, all or nothing.

    `still_allowed` judges the new rows (with `_line`) again inside the transaction that
    stores them, after they are written, so what it reads (a partner's consents, a freeze)
    is as of the commit: its errors refuse the request."""
    now = now or dt.datetime.now(dt.UTC)
    connection = session()
    try:
        keys = _judged(connection, engine, records, now)
        unrecorded = unrecorded_cases(connection, engine, lake_root, "hashed")
        if unrecorded:
            raise BatchRejected(unrecorded, "request")
        for attempt in range(ATTEMPTS):
            with engine.connect() as store:
                known = event_keys.lookup(store, keys)
            result = classify(connection, "hashed", lake_root, [], known.cast(KEYS_SCHEMA))
            if result.errors:
                raise BatchRejected(result.errors, "request")
            # In key order, the index's own: two requests holding some of the same events
            # insert them in one order, so one waits for the other instead of deadlocking.
            new = connection.sql(
                f"SELECT {LINE}, {', '.join(INBOX_SCHEMA.names)} "
                f"FROM ({result.new_rows_sql}) ORDER BY source, event_id"
            ).to_arrow_table()
            negative = negative_alerts(connection, result.new_rows_sql)
            try:
                with engine.begin() as store:
                    inbox.add(store, new, now)
                    event_keys.add(
                        store,
                        event_keys.with_key_hashes(new.select(KEYS_SCHEMA.names)),
                        careful=True,
                    )
                    # After the insert, so this transaction already writes: whoever opted
                    # out meanwhile is seen here, or their opt-out waits and removes these.
                    departed = _opted_out(store, new)
                    if departed:
                        raise BatchRejected(departed, "request")
                    refused = still_allowed(store, new) if still_allowed is not None else []
                    if refused:
                        raise BatchRejected(refused, "request")
                    alerts.raise_for_rows(store, alerts.AlertKind.NEGATIVE_ITEM, negative, now)
                    audit.append(
                        store,
                        actor,
                        "events.received",
                        details={
                            "total": result.total,
                            "new": new.num_rows,
                            "duplicate": result.duplicates,
                        },
                        now=now,
                    )
                break
            except (IntegrityError, event_keys.KeysTaken, OperationalError) as error:
                # Another request (or a file) stored some of these keys, or took our audit
                # slot, first, or PostgreSQL undid a deadlock: classify again against what
                # is there now.
                if isinstance(error, OperationalError) and not _retryable(error):
                    raise
                if attempt == ATTEMPTS - 1:
                    raise EventsBusy(
                        "other requests holding some of the same events were being stored at "
                        "the same time: nothing of this one was stored; send it again"
                    ) from error
                # Jitter, so the losers of a round do not meet again in the next.
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311
    finally:
        connection.close()
    return IngestReport(result.total, new.num_rows, result.duplicates)


class EventsBusy(Unavailable):
    """A request's events could not be stored for the overlapping requests storing the same
    events at the same time; nothing of it was stored, and sending it again will do."""

    retry_after = 1


def _retryable(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) in _RETRYABLE_STATES


@timed_step("seal")
def seal_inbox(
    engine: Engine, lake_root: Path, actor: str, now: dt.datetime | None = None
) -> IngestReport:
    """Move every unsealed inbox event into the lake as one batch.

    The rows were judged, typed and deduplicated when received (their keys are indexed
    since), so they are copied as they are: no rule runs again and no clock is read for
    them; `now` is only the batch's own time.
    """
    now = now or dt.datetime.now(dt.UTC)
    connection = session()
    try:
        with exclusive(lake_root):
            with engine.connect() as store:
                ids, pending = inbox.unsealed(store)
            if not ids:
                return IngestReport(0, 0, 0)
            sweep_unlisted(engine, lake_root)
            connection.register("sealing", pending.cast(INBOX_SCHEMA))
            months = months_in(connection, "sealing")
            written = write_months(connection, "SELECT * FROM sealing", months, lake_root)
            try:
                with engine.begin() as store:
                    batch_id = lake_manifest.record_batch(
                        store,
                        channel="seal",
                        received_at=now,
                        events_total=len(ids),
                        events_new=len(ids),
                        files=file_records(written),
                    )
                    inbox.mark_sealed(store, ids, batch_id)
                    audit.append(
                        store,
                        actor,
                        "events.sealed",
                        details={"batch_id": batch_id, "total": len(ids), "new": len(ids)},
                        now=now,
                    )
            except BaseException:
                for file in written:
                    (lake_root / file.path).unlink(missing_ok=True)
                raise
    finally:
        connection.close()
    note_step(total=len(ids), new=len(ids), duplicate=0)
    return IngestReport(len(ids), len(ids), 0, batch_id)
