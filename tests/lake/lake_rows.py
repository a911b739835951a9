"""Lake rows for the lake's tests: events as plain dicts, written with the lake's own writer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from kaimen.lake.schema import LAKE_SCHEMA, PARTITION
from kaimen.lake.writer import WrittenFile, write_months

T0 = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


def event(
    event_id: str,
    person_id: str = "P001",
    *,
    source: str = "bank-a",
    kind: str = "payment",
    occurred_at: dt.datetime = T0,
    recorded_at: dt.datetime | None = None,
    **payload: Any,
) -> dict[str, Any]:
    """One lake row; a payment of 10.00 CNY unless told otherwise."""
    defaults: dict[str, Any] = (
        {"amount": Decimal("10.00"), "currency": "CNY", "merchant_category": "groceries"}
        if kind == "payment"
        else {}
    )
    return {
        "source": source,
        "event_id": event_id,
        "person_id": person_id,
        "kind": kind,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at or occurred_at,
        "schema_version": 1,
        **defaults,
        **payload,
    }


def as_table(events: list[dict[str, Any]]) -> pa.Table:
    """The events with every lake column (absent fields null) plus their `month`."""
    table = pa.Table.from_pylist(events, schema=LAKE_SCHEMA)
    months = [e["occurred_at"].strftime("%Y-%m") for e in events]
    return table.append_column(PARTITION, pa.array(months, pa.string()))


def write_events(
    connection: duckdb.DuckDBPyConnection, root: Path, events: list[dict[str, Any]]
) -> list[WrittenFile]:
    """Write events into the lake at `root` as the ingest does: one new file per month."""
    table = as_table(events)
    connection.register("new_rows", table)
    try:
        months = sorted(set(table.column(PARTITION).to_pylist()))
        return write_months(connection, "SELECT * FROM new_rows", months, root)
    finally:
        connection.unregister("new_rows")
