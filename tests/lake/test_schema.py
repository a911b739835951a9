"""The lake's schema: every event field, in plain Parquet types any reader sees the same."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from kaimen.domain.events import ENVELOPE, PAYLOAD, FieldType
from kaimen.lake.schema import ARROW_TYPES, LAKE_SCHEMA, PARTITION
from kaimen.lake.sql_paths import sql_path
from tests.lake.lake_rows import T0, event, write_events

# What DuckDB (the engine kaimen reads the lake with) reports for each field type.
DUCKDB_TYPES = {
    FieldType.IDENTIFIER: "VARCHAR",
    FieldType.TEXT: "VARCHAR",
    FieldType.CHOICE: "VARCHAR",
    FieldType.CURRENCY: "VARCHAR",
    FieldType.DECIMAL: "DECIMAL(18,2)",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    FieldType.INTEGER: "SMALLINT",
}


def test_every_event_field_is_a_column_in_catalogue_order() -> None:
    assert LAKE_SCHEMA.names == [f.name for f in ENVELOPE + PAYLOAD]
    assert PARTITION not in LAKE_SCHEMA.names
    assert set(ARROW_TYPES) == set(FieldType)
    for f in ENVELOPE + PAYLOAD:
        assert LAKE_SCHEMA.field(f.name).type == ARROW_TYPES[f.type]


def test_every_stored_event_has_the_whole_envelope_and_payload_may_be_empty() -> None:
    assert [LAKE_SCHEMA.field(f.name).nullable for f in ENVELOPE] == [False] * len(ENVELOPE)
    assert [LAKE_SCHEMA.field(f.name).nullable for f in PAYLOAD] == [True] * len(PAYLOAD)


def test_only_plain_parquet_types() -> None:
    plain = (pa.types.is_string, pa.types.is_decimal, pa.types.is_date32, pa.types.is_int16)
    for field in LAKE_SCHEMA:
        if pa.types.is_timestamp(field.type):
            assert (field.type.unit, field.type.tz) == ("us", "UTC")
        else:
            assert any(check(field.type) for check in plain), field


def test_duckdb_reads_a_written_file_back_in_the_same_types_and_values(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    repayment = event(
        "r1",
        kind="loan_repayment",
        amount=Decimal("500.25"),
        currency="CNY",
        due_date=dt.date(2026, 1, 5),
        paid_date=dt.date(2026, 1, 9),
        status="late",
        partner="bank-a",
        recorded_at=T0 + dt.timedelta(minutes=1),
    )
    [written] = write_events(duck, lake_root, [repayment])
    path = lake_root / written.path
    described = duck.execute(
        f"DESCRIBE SELECT * FROM read_parquet({sql_path(path)}, hive_partitioning = false)"
    ).fetchall()
    types = {f.name: f.type for f in ENVELOPE + PAYLOAD}
    assert [(name, kind) for name, kind, *_ in described] == [
        (name, DUCKDB_TYPES[types[name]]) for name in LAKE_SCHEMA.names
    ]
    row = duck.execute(
        "SELECT amount, due_date, paid_date, occurred_at, recorded_at, schema_version "
        f"FROM read_parquet({sql_path(path)})"
    ).fetchone()
    assert row == (
        Decimal("500.25"),
        dt.date(2026, 1, 5),
        dt.date(2026, 1, 9),
        T0,
        T0 + dt.timedelta(minutes=1),
        1,
    )
    assert pq.read_schema(path).names == LAKE_SCHEMA.names
