"""Events over HTTP: accepted into the store's inbox at once, sealed into the lake later.

The inbox is transactional and unique on (source, event_id), so a request either lands
whole or not at all, and a retried request finds its events already there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from kaimen.domain.errors import BatchRejected, RowError
from kaimen.engines.embedded import connect
from kaimen.ingest.deduplication import CONTENT_HASH_SQL
from kaimen.ingest.event_rules import INPUT_COLUMNS, OPTED_OUT, check_chunk
from kaimen.ingest.pipeline import (
    IngestReport,
    file_records,
    load_people,
    months_in,
    settle,
    store_new_rows,
    unsealed_keys,
)
from kaimen.input_files import LINE, records_table
from kaimen.lake.schema import PARTITION
from kaimen.lake.writer import exclusive
from kaimen.store import audit, inbox, lake_manifest, people
from kaimen.telemetry.steps import note_step, timed_step

ATTEMPTS = 3


def _checked(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    records: Sequence[Mapping[str, str | None]],
    now: dt.datetime,
) -> tuple[pa.Table, list[RowError]]:
    raw, structural = records_table(records, INPUT_COLUMNS)
    load_people(connection, engine)
    return raw, structural + check_chunk(connection, raw, now, into="checked").errors


def _opted_out(
    store: Connection, events: Sequence[inbox.InboxEvent], lines: Sequence[int]
) -> list[RowError]:
    """Errors for events about (or linking to) someone who has opted out by now."""
    named = {e.person_id for e in events} | {
        str(e.fields["friend_id"]) for e in events if e.fields.get("friend_id")
    }
    departed = people.opted_out_among(store, sorted(named))
    errors = []
    for line, event in zip(lines, events, strict=True):
        if event.person_id in departed:
            errors.append(RowError(line, "person_id", OPTED_OUT + event.person_id))
        friend = event.fields.get("friend_id")
        if friend in departed:
            errors.append(RowError(line, "friend_id", OPTED_OUT + str(friend)))
    return errors


def accept_events(
    engine: Engine,
    lake_root: Path,
    records: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Validate a request's events and put the new ones in the inbox, all or nothing."""
    now = now or dt.datetime.now(dt.UTC)
    connection = connect()
    try:
        raw, errors = _checked(connection, engine, records, now)
        if errors:
            raise BatchRejected(errors, "request")
        for attempt in range(ATTEMPTS):
            result = settle(
                connection,
                engine,
                lake_root,
                "checked",
                "request",
                unsealed_keys(engine),
            )
            rows = connection.execute(
                f"SELECT {LINE}, {PARTITION}, {CONTENT_HASH_SQL}, "
                "strftime(recorded_at, '%Y-%m-%dT%H:%M:%S.%fZ') "
                f"FROM ({result.new_rows_sql}) "
                f"ORDER BY {LINE}"
            ).fetchall()
            submitted = raw.take(pa.array([row[0] - 1 for row in rows], pa.int64()))
            new = [
                inbox.InboxEvent(
                    source=str(fields["source"]),
                    event_id=str(fields["event_id"]),
                    person_id=str(fields["person_id"]),
                    month=month,
                    content_hash=content_hash,
                    # The receipt time it was given here, kept for when it is sealed.
                    fields={
                        **{k: fields[k] for k in INPUT_COLUMNS if fields[k] is not None},
                        "recorded_at": recorded_at,
                    },
                )
                for fields, (_, month, content_hash, recorded_at) in zip(
                    submitted.to_pylist(), rows, strict=True
                )
            ]
            try:
                with engine.begin() as store:
                    inbox.add(store, new, now)
                    # After the insert, so this transaction already writes: whoever opted
                    # out meanwhile is seen here, or their opt-out waits and removes these.
                    departed = _opted_out(store, new, [row[0] for row in rows])
                    if departed:
                        raise BatchRejected(departed, "request")
                    audit.append(
                        store,
                        actor,
                        "events.received",
                        details={
                            "total": result.total,
                            "new": len(new),
                            "duplicate": result.duplicates,
                        },
                        now=now,
                    )
                break
            except IntegrityError:
                # Another request stored some of these keys (or took our audit slot) first;
                # classify again against what is there now.
                if attempt == ATTEMPTS - 1:
                    raise
    finally:
        connection.close()
    return IngestReport(result.total, len(new), result.duplicates)


@timed_step("seal")
def seal_inbox(
    engine: Engine, lake_root: Path, actor: str, now: dt.datetime | None = None
) -> IngestReport:
    """Move every unsealed inbox event into the lake as one batch."""
    now = now or dt.datetime.now(dt.UTC)
    connection = connect()
    try:
        with exclusive(lake_root):
            with engine.connect() as store:
                pending = inbox.unsealed(store)
            if not pending:
                return IngestReport(0, 0, 0)
            ids = [inbox_id for inbox_id, _ in pending]
            _, errors = _checked(connection, engine, [fields for _, fields in pending], now)
            if errors:
                raise BatchRejected(
                    [RowError(ids[e.line - 1], e.field, e.reason) for e in errors],
                    "inbox (lines are inbox ids)",
                )
            months = months_in(connection, "checked")
            # Not against the inbox: its unsealed events are this very batch.
            result = settle(connection, engine, lake_root, "checked", "inbox")
            written = store_new_rows(connection, result, months, lake_root)
            with engine.begin() as store:
                batch_id = lake_manifest.record_batch(
                    store,
                    channel="seal",
                    received_at=now,
                    events_total=result.total,
                    events_new=result.new,
                    files=file_records(written),
                )
                inbox.mark_sealed(store, ids, batch_id)
                audit.append(
                    store,
                    actor,
                    "events.sealed",
                    details={"batch_id": batch_id, "total": len(ids), "new": result.new},
                    now=now,
                )
    finally:
        connection.close()
    note_step(total=result.total, new=result.new, duplicate=result.duplicates)
    return IngestReport(result.total, result.new, result.duplicates, batch_id)
