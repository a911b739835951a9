"""The lake's Arrow schema, derived from the event catalogue.

Plain Parquet types only (string, decimal(18,2), date32, timestamp[us, UTC], int16) so that
DuckDB, Spark and any other Parquet reader see the same columns. The month is the Hive
partition directory (`month=2026-01`), never a column inside the files.
"""

from __future__ import annotations

import pyarrow as pa

from kaimen.domain.events import AMOUNT_DECIMALS, ENVELOPE, PAYLOAD, FieldType

ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.IDENTIFIER: pa.string(),
    FieldType.TEXT: pa.string(),
    FieldType.CHOICE: pa.string(),
    FieldType.CURRENCY: pa.string(),
    FieldType.DECIMAL: pa.decimal128(18, AMOUNT_DECIMALS),
    FieldType.DATE: pa.date32(),
    FieldType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FieldType.INTEGER: pa.int16(),
}

# Hash of an event's canonical content (every field but recorded_at), computed when needed to
# tell a harmless replay from a conflicting resend of the same (source, event_id).
CONTENT_HASH = "content_hash"

# Every stored event has the whole envelope (what the sender left out was filled in on
# receipt); payload fields are there only for the kinds that have them.
LAKE_SCHEMA = pa.schema(
    [pa.field(f.name, ARROW_TYPES[f.type], nullable=False) for f in ENVELOPE]
    + [pa.field(f.name, ARROW_TYPES[f.type], nullable=True) for f in PAYLOAD]
)
PARTITION = "month"
