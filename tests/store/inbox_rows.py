"""Typed inbox rows for store tests, as the ingest would hand them over."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from kaimen.store.inbox import EVENT_COLUMNS

OCCURRED = dt.datetime(2026, 2, 3, 9, 30, tzinfo=dt.UTC)


def typed_event(
    source: str,
    event_id: str,
    person_id: str = "P1",
    content_hash: int = 0,
    **fields: object,
) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(EVENT_COLUMNS)
    row |= {
        "source": source,
        "event_id": event_id,
        "person_id": person_id,
        "kind": "attribute",
        "occurred_at": OCCURRED,
        "recorded_at": OCCURRED,
        "schema_version": 1,
        "month": "2026-02",
        "content_hash": content_hash or hash((source, event_id)) & (2**62),
    }
    return row | fields


def rows(*events: dict[str, object]) -> pa.Table:
    schema = pa.schema(
        [
            (name, pa.decimal128(18, 2))
            if name == "amount"
            else (name, pa.timestamp("us", tz="UTC"))
            if name in ("occurred_at", "recorded_at")
            else (name, pa.date32())
            if name in ("due_date", "paid_date")
            else (name, pa.int64())
            if name in ("schema_version", "content_hash")
            else (name, pa.string())
            for name in EVENT_COLUMNS
        ]
    )
    fixed = [
        {k: Decimal(v) if k == "amount" and isinstance(v, str) else v for k, v in e.items()}
        for e in events
    ]
    return pa.Table.from_pylist(fixed, schema=schema)
