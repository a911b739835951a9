import pyarrow as pa

from kaimen.domain.events import ENVELOPE, FIELDS, PAYLOAD
from kaimen.lake.schema import LAKE_SCHEMA, PARTITION


def test_the_lake_has_a_column_per_catalogue_field_and_no_month() -> None:
    assert LAKE_SCHEMA.names == list(FIELDS)
    assert PARTITION not in LAKE_SCHEMA.names
    assert LAKE_SCHEMA.field("amount").type == pa.decimal128(18, 2)
    assert LAKE_SCHEMA.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert LAKE_SCHEMA.field("due_date").type == pa.date32()
    assert LAKE_SCHEMA.field("schema_version").type == pa.int16()


def test_every_stored_event_has_the_whole_envelope_and_payload_may_be_empty() -> None:
    assert [LAKE_SCHEMA.field(f.name).nullable for f in ENVELOPE] == [False] * len(ENVELOPE)
    assert [LAKE_SCHEMA.field(f.name).nullable for f in PAYLOAD] == [True] * len(PAYLOAD)
