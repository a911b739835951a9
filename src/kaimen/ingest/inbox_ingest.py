"""Events over HTTP: accepted into the store's inbox at once, sealed into the lake later.

The inbox is transactional and unique on (source, event_id), so a request either lands
whole or not at all, and a retried request finds its events already there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.domain.errors import BatchRejected
from kaimen.engines.embedded import connect
from kaimen.ingest.deduplication import KEYS_SCHEMA
from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.ingest.pipeline import IngestReport, against_lake, validate, with_receipt_time
from kaimen.input_files import LINE, records_table
from kaimen.lake.schema import CONTENT_HASH, PARTITION
from kaimen.lake.writer import exclusive, write_events
from kaimen.store import audit, inbox, lake_manifest

ATTEMPTS = 3


def _inbox_known(engine: Engine, typed: pa.Table) -> pa.Table:
    keys = list(
        zip(typed.column("source").to_pylist(), typed.column("event_id").to_pylist(), strict=True)
    )
    with engine.connect() as store:
        found = inbox.known_keys(store, keys)
    return pa.table(
        {
            "source": [k[0] for k in found],
            "event_id": [k[1] for k in found],
            CONTENT_HASH: list(found.values()),
        },
        schema=KEYS_SCHEMA,
    )


def accept_events(
    engine: Engine,
    lake_root: Path,
    records: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Validate a request's events and put the new ones in the inbox, all or nothing."""
    now = now or dt.datetime.now(dt.UTC)
    raw, structural = records_table(records, INPUT_COLUMNS)
    raw = with_receipt_time(raw, now)
    connection = connect()
    try:
        typed = validate(connection, engine, raw, structural, now, "request")
        for attempt in range(ATTEMPTS):
            result = against_lake(
                connection, engine, lake_root, typed, _inbox_known(engine, typed), "request"
            )
            rows = raw.take(pc.subtract(result.new.column(LINE), 1)).to_pylist()
            new = [
                inbox.InboxEvent(
                    source=str(row["source"]),
                    event_id=str(row["event_id"]),
                    person_id=str(row["person_id"]),
                    month=month,
                    content_hash=content_hash,
                    fields={k: row[k] for k in INPUT_COLUMNS if row[k] is not None},
                )
                for row, month, content_hash in zip(
                    rows,
                    result.new.column(PARTITION).to_pylist(),
                    result.new.column(CONTENT_HASH).to_pylist(),
                    strict=True,
                )
            ]
            try:
                with engine.begin() as store:
                    inbox.add(store, new, now)
                    audit.append(
                        store,
                        actor,
                        "events.received",
                        details={
                            "total": typed.num_rows,
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
    return IngestReport(typed.num_rows, len(new), result.duplicates)


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
            raw, structural = records_table([fields for _, fields in pending], INPUT_COLUMNS)
            try:
                typed = validate(connection, engine, raw, structural, now, "inbox")
            except BatchRejected as rejected:
                raise BatchRejected(
                    [type(e)(ids[e.line - 1], e.field, e.reason) for e in rejected.errors],
                    "inbox (lines are inbox ids)",
                ) from rejected
            result = against_lake(connection, engine, lake_root, typed, what="inbox")
            written = write_events(lake_root, result.new)
            with engine.begin() as store:
                batch_id = lake_manifest.record_batch(
                    store,
                    channel="seal",
                    received_at=now,
                    events_total=typed.num_rows,
                    events_new=result.new.num_rows,
                    files=[
                        lake_manifest.FileRecord(f.month, f.path, f.rows, f.sha256) for f in written
                    ],
                )
                inbox.mark_sealed(store, ids, batch_id)
                audit.append(
                    store,
                    actor,
                    "events.sealed",
                    details={"batch_id": batch_id, "total": len(ids), "new": result.new.num_rows},
                    now=now,
                )
    finally:
        connection.close()
    return IngestReport(typed.num_rows, result.new.num_rows, result.duplicates, batch_id)
