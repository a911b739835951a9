"""Files into the lake: all or nothing, idempotent on replay, the same lake from every format,
and a lake any Parquet reader (DuckDB by glob, Spark) can read without kaimen."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select

from kaimen.domain.disputes import is_negative_event
from kaimen.domain.errors import BatchRejected
from kaimen.domain.prohibited import PROHIBITED
from kaimen.ingest.file_ingest import ingest_file
from kaimen.store import alerts, audit
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import alerts as alert_rows
from kaimen.store.tables import audit_log, ingest_batches, lake_files
from tests.conftest import NOW
from tests.ingest import events_factory as f

CONFLICT = (
    "already recorded from this source with different content; "
    "correct a recorded event through a dispute"
)


@pytest.fixture
def people(engine: Engine, vault: IdentityVault) -> list[str]:
    return f.enrol(engine, vault)


def ingest(engine: Engine, lake_root: Path, path: Path) -> tuple[int, int, int]:
    report = ingest_file(engine, lake_root, path, "tester", now=NOW)
    return report.total, report.new, report.duplicate


def test_ingest_stores_events_and_records_the_batch(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events()
    path = f.write(tmp_path / "events.csv", events)
    report = ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert (report.total, report.new, report.duplicate, report.replayed_file) == (44, 44, 0, False)

    with engine.connect() as store:
        batch = store.execute(select(ingest_batches)).one()
        files = store.execute(select(lake_files)).all()
        entry = store.execute(select(audit_log).order_by(audit_log.c.seq.desc())).first()
    assert batch.batch_id == report.batch_id
    assert (batch.channel, batch.file_name) == ("file", "events.csv")
    assert (batch.events_total, batch.events_new, batch.events_duplicate) == (44, 44, 0)
    assert batch.received_at == NOW
    assert sum(r.rows for r in files) == 44
    assert {r.month for r in files} == {"2026-07", "2026-08", "2026-09", "2026-10"}
    assert entry is not None
    assert (entry.actor, entry.action) == ("tester", "events.ingested")
    details = json.loads(entry.details)
    assert (details["total"], details["new"], details["duplicate"]) == (44, 44, 0)
    assert details["batch_id"] == report.batch_id
    assert audit.verify(engine) == 2  # enrolment + this ingest

    stored = f.lake_events(engine, lake_root)
    assert [r["event_id"] for r in stored] == [e["event_id"] for e in events]
    first = stored[0]  # payment at 2026-08-01 00:30 +08:00, no recorded_at given
    assert first["occurred_at"] == dt.datetime(2026, 7, 31, 16, 30, tzinfo=dt.UTC)
    assert first["recorded_at"] == NOW
    assert first["month"] == "2026-07"
    assert (first["amount"], first["currency"], first["schema_version"]) == (
        Decimal("12.50"),
        "CNY",
        1,
    )
    assert first["due_date"] is None
    repayment = stored[1]  # recorded at 2026-09-08T05:45:00+08:00
    assert repayment["due_date"] == dt.date(2026, 8, 10)
    assert repayment["recorded_at"] == dt.datetime(2026, 9, 7, 21, 45, tzinfo=dt.UTC)


# --- all or nothing ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_one_bad_row_stores_nothing_and_every_bad_row_is_named(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], suffix: str
) -> None:
    events = f.sample_events(40)
    events[6] = f.event("payment", "bad-a", amount="12.345")
    events[33] = f.event("donation", "bad-b", "P002", currency="ZZZ")
    path = f.write(tmp_path / f"mixed{suffix}", events)
    before = f.state(engine, lake_root)
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    offset = 2 if suffix == ".csv" else 1
    assert f.problems(caught.value) == [
        (6 + offset, "amount", "not a plain decimal number with at most 2 decimals: 12.345"),
        (33 + offset, "currency", "not an ISO 4217 currency code: ZZZ"),
    ]
    assert caught.value.bad_lines == 2
    after = f.state(engine, lake_root)
    assert after == before
    assert (after["ingest_batches"], after["lake_files"], after["event_inbox"]) == (0, 0, 0)
    assert after["parquet_files"] == []
    assert not (lake_root / "events").exists() or not any((lake_root / "events").rglob("*"))

    # A rejected file is not remembered as seen: fixed, it goes in whole.
    events[6] = f.event("payment", "bad-a", amount="12.34")
    events[33] = f.event("donation", "bad-b", "P002", currency="EUR")
    fixed = f.write(tmp_path / f"fixed{suffix}", events)
    assert ingest(engine, lake_root, fixed) == (40, 40, 0)


def test_rejected_file_is_rejected_again_not_replayed(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    path = f.write(tmp_path / "bad.csv", [f.event("payment", "z", amount="0")])
    for _ in range(2):
        with pytest.raises(BatchRejected):
            ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert f.state(engine, lake_root)["ingest_batches"] == 0


# --- idempotent replay ---------------------------------------------------------------------


def test_same_file_twice_is_a_no_op(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    path = f.write(tmp_path / "events.jsonl", f.sample_events())
    first = ingest_file(engine, lake_root, path, "tester", now=NOW)
    before = f.state(engine, lake_root)
    again = ingest_file(engine, lake_root, path, "tester", now=NOW + dt.timedelta(days=1))
    assert (again.total, again.new, again.duplicate) == (44, 0, 44)
    assert again.replayed_file
    assert again.batch_id == first.batch_id
    assert f.state(engine, lake_root) == before
    assert f.raw_rows(lake_root) == 44


@pytest.mark.parametrize(
    ("first", "second", "reorder"),
    [
        (".csv", ".parquet", False),
        (".parquet", ".jsonl", True),
        (".jsonl", ".csv", True),
        (".csv", ".csv", True),
    ],
)
def test_same_events_in_another_file_are_duplicates(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    people: list[str],
    first: str,
    second: str,
    reorder: bool,
) -> None:
    events = f.sample_events()
    assert ingest(engine, lake_root, f.write(tmp_path / f"a{first}", events)) == (44, 44, 0)
    stored = f.lake_events(engine, lake_root)
    before = f.state(engine, lake_root)
    again = list(reversed(events)) if reorder else events
    assert ingest(engine, lake_root, f.write(tmp_path / f"b{second}", again)) == (44, 0, 44)
    after = f.state(engine, lake_root)
    assert after["parquet_files"] == before["parquet_files"]
    assert after["lake_files"] == before["lake_files"]
    assert after["ingest_batches"] == before["ingest_batches"] + 1
    assert f.raw_rows(lake_root) == 44
    assert f.lake_events(engine, lake_root) == stored


def test_overlapping_file_stores_only_the_new_half(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events()
    assert ingest(engine, lake_root, f.write(tmp_path / "a.csv", events[:30])) == (30, 30, 0)
    assert ingest(engine, lake_root, f.write(tmp_path / "b.parquet", events[15:])) == (29, 14, 15)
    with engine.connect() as store:
        batch = store.execute(select(ingest_batches).order_by(ingest_batches.c.batch_id.desc()))
        latest = batch.first()
    assert latest is not None
    assert (latest.events_total, latest.events_new, latest.events_duplicate) == (29, 14, 15)
    assert f.raw_rows(lake_root) == 44
    assert [r["event_id"] for r in f.lake_events(engine, lake_root)] == [
        e["event_id"] for e in events
    ]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"amount": "12.51"}, id="amount"),
        pytest.param({"merchant_category": "dining"}, id="category"),
        pytest.param({"person_id": "P002"}, id="person"),
        pytest.param({"occurred_at": "2026-09-15T10:00:01+08:00"}, id="same-month-time"),
        pytest.param({"occurred_at": "2026-10-15T10:00:00+08:00"}, id="other-month-time"),
    ],
)
def test_same_key_with_different_content_is_rejected(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], change: dict[str, str]
) -> None:
    original = f.event("payment", "pay-1")  # 2026-09-15T10:00:00+08:00
    assert ingest(engine, lake_root, f.write(tmp_path / "a.csv", [original])) == (1, 1, 0)
    before = f.state(engine, lake_root)
    changed = {**original, **change}
    # New events in the changed event's month only: the batch touches no other month.
    fillers = [f.event("donation", f"d{i}", occurred_at=changed["occurred_at"]) for i in range(3)]
    resend = [*fillers, changed]
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, f.write(tmp_path / "b.csv", resend), "tester", now=NOW)
    assert f.problems(caught.value) == [(5, "event_id", CONFLICT)]
    assert f.state(engine, lake_root) == before
    assert f.raw_rows(lake_root) == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"recorded_at": "2026-10-01T00:00:00Z"}, id="recorded-at"),
        pytest.param({"occurred_at": "2026-09-15T02:00:00Z"}, id="same-instant-in-utc"),
        pytest.param({"amount": "12.5"}, id="same-amount-spelled-shorter"),
        pytest.param({"schema_version": "1"}, id="explicit-default-version"),
    ],
)
def test_same_key_with_equivalent_content_is_a_duplicate(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], change: dict[str, str]
) -> None:
    original = f.event("payment", "pay-1")  # 2026-09-15T10:00:00+08:00, amount 12.50
    assert ingest(engine, lake_root, f.write(tmp_path / "a.csv", [original])) == (1, 1, 0)
    again = f.write(tmp_path / "b.jsonl", [{**original, **change}])
    assert ingest(engine, lake_root, again) == (1, 0, 1)
    assert f.raw_rows(lake_root) == 1


def test_same_event_id_from_another_source_is_a_different_event(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    a = f.write(tmp_path / "a.csv", [f.event("payment", "pay-1", source="bank-a")])
    b = f.write(tmp_path / "b.csv", [f.event("payment", "pay-1", source="bank-b", amount="9")])
    assert ingest(engine, lake_root, a) == (1, 1, 0)
    assert ingest(engine, lake_root, b) == (1, 1, 0)
    assert [(r["source"], r["amount"]) for r in f.lake_events(engine, lake_root)] == [
        ("bank-a", Decimal("12.50")),
        ("bank-b", Decimal("9.00")),
    ]


def test_same_event_twice_in_one_file_is_counted_once(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events(20)
    events.insert(12, dict(events[3]))
    events.append({**events[7], "recorded_at": "2026-10-30T00:00:00Z"})
    assert ingest(engine, lake_root, f.write(tmp_path / "twice.jsonl", events)) == (22, 20, 2)
    assert f.raw_rows(lake_root) == 20
    with engine.connect() as store:
        batch = store.execute(select(ingest_batches)).one()
    assert (batch.events_total, batch.events_new, batch.events_duplicate) == (22, 20, 2)


def test_same_key_twice_in_one_file_with_different_content_is_rejected(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events(10)
    events.append({**events[2], "amount": "999.00"})
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, f.write(tmp_path / "c.csv", events), "tester", now=NOW)
    assert f.problems(caught.value) == [(12, "event_id", "repeats line 4 with different content")]
    assert f.state(engine, lake_root)["parquet_files"] == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_small_chunks_keep_line_numbers_and_dedupe_across_chunks(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], suffix: str
) -> None:
    """A file read in chunks of 7 rows behaves exactly like one read whole."""
    events = f.sample_events(30)
    events[9] = f.event("payment", "bad-a", amount="0")
    events[23] = f.event("payment", "bad-b", merchant_category="casino")
    path = f.write(tmp_path / f"chunks{suffix}", events)
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "tester", now=NOW, chunk_rows=7)
    offset = 2 if suffix == ".csv" else 1
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (9 + offset, "amount"),
        (23 + offset, "merchant_category"),
    ]
    assert f.state(engine, lake_root)["parquet_files"] == []

    good = f.sample_events(30)
    repeated = [*good, good[2], good[20], {**good[11], "recorded_at": "2026-10-31T00:00:00Z"}]
    path = f.write(tmp_path / f"repeats{suffix}", repeated)
    report = ingest_file(engine, lake_root, path, "tester", now=NOW, chunk_rows=7)
    assert (report.total, report.new, report.duplicate) == (33, 30, 3)
    assert f.raw_rows(lake_root) == 30

    changed = [*good[5:20], {**good[1], "amount": "9"}]  # the stored good[1], changed
    conflicting = f.write(tmp_path / f"conflict{suffix}", changed)
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, conflicting, "tester", now=NOW, chunk_rows=7)
    assert f.problems(caught.value) == [(15 + offset, "event_id", CONFLICT)]


# --- every format, the same lake -----------------------------------------------------------


def test_csv_jsonl_and_parquet_store_the_same_lake_content(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """The same events from three sources (one per format) type to identical lake rows."""
    by_format: dict[str, list[dict[str, Any]]] = {}
    for suffix in (".csv", ".jsonl", ".parquet"):
        source = "via-" + suffix[1:]
        path = f.write(tmp_path / f"events{suffix}", f.sample_events(source=source))
        assert ingest(engine, lake_root, path) == (44, 44, 0)
    stored = f.lake_events(engine, lake_root)
    assert len(stored) == 3 * 44
    for row in stored:
        row.pop("content_hash", None)  # derived from the source, so it differs
        by_format.setdefault(row.pop("source"), []).append(row)
    assert by_format["via-csv"] == by_format["via-jsonl"] == by_format["via-parquet"]


def test_a_parquet_file_read_in_place_and_one_read_in_chunks_store_the_same_events(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """A float column sends a Parquet file through the chunked reader; the same events with
    the amount as text are judged where they lie. Both say how many rows they checked and
    store identical events; a replay of either is a no-op."""
    heard: list[str] = []
    in_place = f.write(tmp_path / "in_place.parquet", f.sample_events(source="in-place"))
    table = pq.read_table(in_place)
    chunked_table = table.set_column(
        table.schema.get_field_index("source"), "source", pa.array(["chunked"] * table.num_rows)
    )
    amount = table.schema.get_field_index("amount")
    chunked_table = chunked_table.set_column(
        amount, "amount", chunked_table.column("amount").cast(pa.float64())
    )
    chunked = tmp_path / "chunked.parquet"
    pq.write_table(chunked_table, chunked)
    for path in (in_place, chunked):
        report = ingest_file(engine, lake_root, path, "tester", now=NOW, progress=heard.append)
        assert (report.total, report.new, report.duplicate) == (44, 44, 0)
        assert ingest_file(engine, lake_root, path, "tester", now=NOW).replayed_file
    assert heard.count("checked 44 rows") == 2
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in f.lake_events(engine, lake_root):
        row.pop("content_hash", None)
        by_source.setdefault(row.pop("source"), []).append(row)
    assert by_source["in-place"] == by_source["chunked"]


def test_typed_parquet_columns_store_the_same_events_as_text(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """A Parquet file with real timestamp, decimal, date and int columns is the same data."""
    events = f.sample_events()
    assert ingest(engine, lake_root, f.write(tmp_path / "text.csv", events)) == (44, 44, 0)

    def column(name: str, kind: pa.DataType, convert: Any) -> pa.Array:
        return pa.array([convert(e[name]) if name in e else None for e in events], kind)

    def moment(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)

    table = f.columns_of(events)
    data = {name: column(name, pa.string(), str) for name in table}
    data["occurred_at"] = column("occurred_at", pa.timestamp("us", tz="UTC"), moment)
    data["recorded_at"] = column("recorded_at", pa.timestamp("us", tz="UTC"), moment)
    data["amount"] = column("amount", pa.decimal128(18, 2), Decimal)
    data["due_date"] = column("due_date", pa.date32(), dt.date.fromisoformat)
    data["paid_date"] = column("paid_date", pa.date32(), dt.date.fromisoformat)
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.table(data), typed)
    assert ingest(engine, lake_root, typed) == (44, 0, 44)
    assert f.raw_rows(lake_root) == 44


# --- the lake as others read it ------------------------------------------------------------


def test_lake_is_readable_by_duckdb_glob_partitioned_by_month(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events()
    ingest(engine, lake_root, f.write(tmp_path / "a.csv", events[:25]))
    ingest(engine, lake_root, f.write(tmp_path / "b.csv", events[20:]))
    glob = f"{lake_root}/events/*/*.parquet"
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    rows = connection.execute(
        f"SELECT month, strftime(occurred_at, '%Y-%m') AS utc_month, event_id, filename "
        f"FROM read_parquet('{glob}', hive_partitioning=true, filename=true)"
    ).fetchall()
    assert len(rows) == 44
    assert sorted(r[2] for r in rows) == sorted(e["event_id"] for e in events)
    # Each file sits in the directory of the UTC month of every event in it.
    for month, utc_month, _, filename in rows:
        assert month == utc_month
        assert f"/events/month={month}/" in filename
    assert {r[0] for r in rows} == {"2026-07", "2026-08", "2026-09", "2026-10"}
    # Each batch wrote at most one new file per month, and every file on disk is listed.
    with engine.connect() as store:
        listed = store.execute(select(lake_files.c.batch_id, lake_files.c.month)).all()
    assert len(listed) == len(set(listed)) == len(list(lake_root.rglob("*.parquet")))
    assert len({batch for batch, _ in listed}) == 2


def test_lake_files_are_sorted_by_person_with_plain_parquet_types(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    ingest(engine, lake_root, f.write(tmp_path / "a.jsonl", f.sample_events()))
    files = sorted(lake_root.rglob("*.parquet"))
    assert len(files) == 4
    expected = {
        "source": pa.string(),
        "event_id": pa.string(),
        "person_id": pa.string(),
        "kind": pa.string(),
        "occurred_at": pa.timestamp("us", tz="UTC"),
        "recorded_at": pa.timestamp("us", tz="UTC"),
        "schema_version": pa.int16(),
        "amount": pa.decimal128(18, 2),
        "currency": pa.string(),
        "due_date": pa.date32(),
        "paid_date": pa.date32(),
    }
    plain = {
        pa.string(),
        pa.decimal128(18, 2),
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        pa.int16(),
    }
    for path in files:
        table = pq.read_table(path, partitioning=None)
        people_order = table.column("person_id").to_pylist()
        assert people_order == sorted(people_order), path
        assert len(set(people_order)) > 1
        keys = list(zip(people_order, table.column("occurred_at").to_pylist(), strict=True))
        assert keys == sorted(keys), path
        schema = table.schema
        assert "month" not in schema.names
        assert set(expected) <= set(schema.names)
        for name, kind in expected.items():
            assert schema.field(name).type == kind, name
        assert {field.type for field in schema} <= plain
        # What a reader without Arrow metadata (Spark) sees: logical Parquet types.
        parquet = pq.ParquetFile(path).schema
        logical = {parquet.column(i).name: parquet.column(i) for i in range(len(parquet))}
        assert logical["occurred_at"].physical_type == "INT64"
        assert str(logical["occurred_at"].logical_type).startswith(
            "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds"
        )
        assert str(logical["amount"].logical_type) == "Decimal(precision=18, scale=2)"
        assert str(logical["due_date"].logical_type) == "Date"
        assert str(logical["schema_version"].logical_type) == "Int(bitWidth=16, isSigned=true)"
        assert str(logical["source"].logical_type) == "String"


@pytest.mark.parametrize("literal", ["true", "false"])
def test_a_json_lines_boolean_is_not_an_amount(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], literal: str
) -> None:
    good = json.dumps(f.event("payment", "bool-0"))
    bad = json.dumps({**f.event("payment", "bool-1"), "amount": "X"}).replace('"X"', literal)
    path = tmp_path / "booleans.jsonl"
    path.write_text(f"{good}\n{bad}\n")
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert [(line, field) for line, field, _ in f.problems(caught.value)] == [(2, "amount")]
    assert f.state(engine, lake_root)["event_inbox"] == 0


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_rejected_file_repeats_only_a_short_prefix_of_what_it_refuses(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], suffix: str
) -> None:
    huge = "\u4e2d" * 100_000
    event = f.event("payment", "long-1", person_id="q" * 100_000, currency=huge)
    event |= {"z" * 100_000: "1", "source": "s" * 100_000}
    path = f.write(tmp_path / f"long{suffix}", [f.event("payment", "ok-1"), event])
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert caught.value.errors
    for error in caught.value.errors:
        assert len(error.field) <= 41 and len(error.reason) <= 200, error
    assert len(str(caught.value)) <= 300


def test_an_event_on_the_day_of_birth_in_beijing_time_is_accepted(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    # P001 was born on 1990-03-07 (by the ID number: a date in China). 01:00 that day in
    # Beijing is still 6 March in UTC.
    born_that_day = f.event("payment", "birth-1", "P001", occurred_at="1990-03-07T01:00:00+08:00")
    path = f.write(tmp_path / "birthday.jsonl", [born_that_day])
    assert ingest(engine, lake_root, path) == (1, 1, 0)
    # The evening before, in Beijing, is before they were born, whatever the offset written.
    for stamp in ("1990-03-06T23:59:00+08:00", "1990-03-06T15:59:00Z"):
        before = f.event("payment", "birth-0", "P001", occurred_at=stamp)
        with pytest.raises(BatchRejected) as caught:
            ingest_file(engine, lake_root, f.write(tmp_path / "before.jsonl", [before]), "t")
        assert f.problems(caught.value) == [(1, "occurred_at", "is before the person was born")]


def test_a_fine_paid_or_a_judgment_resolved_needs_its_case_on_record(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    paid = f.event("fine", "paid-1", "P001", status="paid", case_number="F-99")
    overturned = f.event(
        "court_judgment", "over-1", "P002", status="overturned", case_number="(2026) Jing 77"
    )
    unnamed = f.event("fine", "paid-2", "P003", status="paid", case_number=None)
    path = f.write(
        tmp_path / "resolved.jsonl", [f.event("payment", "ok-1"), paid, overturned, unnamed]
    )
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert f.problems(caught.value) == [
        (2, "case_number", "no fine with case number F-99 was recorded for this person"),
        (
            3,
            "case_number",
            "no court_judgment with case number (2026) Jing 77 was recorded for this person",
        ),
        (4, "case_number", "a paid fine must name its case"),
    ]
    assert f.state(engine, lake_root)["event_inbox"] == 0
    assert f.state(engine, lake_root)["lake_files"] == 0
    # The original in the same file, or already in the lake, records the case.
    issued = f.event("fine", "issued-1", "P001", status="issued", case_number="F-99")
    entered = f.event(
        "court_judgment", "enter-1", "P002", status="entered", case_number="(2026) Jing 77"
    )
    assert ingest(engine, lake_root, f.write(tmp_path / "a.jsonl", [paid, issued])) == (2, 2, 0)
    assert ingest(engine, lake_root, f.write(tmp_path / "b.jsonl", [entered])) == (1, 1, 0)
    assert ingest(engine, lake_root, f.write(tmp_path / "c.jsonl", [overturned])) == (1, 1, 0)
    # Another person's case is not this person's.
    theirs = f.event("fine", "paid-3", "P004", status="paid", case_number="F-99")
    with pytest.raises(BatchRejected):
        ingest_file(engine, lake_root, f.write(tmp_path / "d.jsonl", [theirs]), "tester", now=NOW)


@pytest.mark.parametrize(
    ("value", "criterion"),
    [
        ("HIV positive", "health"),
        ("Party membership committee", "political_opinion"),
        ("宗教事务局", "religion"),
        ("精神疾病 clinic", "health"),
    ],
)
def test_a_free_text_attribute_naming_a_prohibited_category_is_refused(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], value: str, criterion: str
) -> None:
    named = f.event("attribute", "attr-1", "P001", attribute="employer", value=value)
    path = f.write(tmp_path / "attributes.jsonl", [f.event("payment", "ok-1"), named])
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    [(line, field, reason)] = f.problems(caught.value)
    assert (line, field) == (2, "value")
    assert reason.startswith(f"names a prohibited category ({PROHIBITED[criterion]})"), reason
    assert f.state(engine, lake_root)["event_inbox"] == 0
    # An ordinary employer goes in.
    fine = f.event("attribute", "attr-2", "P001", attribute="employer", value="Beijing Bus Co.")
    assert ingest(engine, lake_root, f.write(tmp_path / "ok.jsonl", [fine])) == (1, 1, 0)


def test_each_negative_event_of_a_file_raises_one_alert_once(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events()
    negative = [e for e in events if is_negative_event(e)]
    assert negative  # the sample has late and defaulted repayments, a fine, a judgment
    ingest(engine, lake_root, f.write(tmp_path / "first.csv", events))
    # A second file resending them all with new ones: only the new ones can raise alerts.
    more = f.sample_events(source="bank-b")
    ingest(engine, lake_root, f.write(tmp_path / "second.csv", events + more))

    with engine.connect() as store:
        raised = [a for p in people for a in alerts.of_person(store, p)]
    expected = negative + [e for e in more if is_negative_event(e)]
    assert sorted(a.ref for a in raised) == sorted(
        f"{e['source']}/{e['event_id']}" for e in expected
    )
    assert {a.kind for a in raised} == {alerts.AlertKind.NEGATIVE_ITEM}
    assert {a.raised_at for a in raised} == {NOW}
    fine = next(e for e in negative if e["kind"] == "fine")
    [alert] = [a for a in raised if a.ref == f"{fine['source']}/{fine['event_id']}"]
    assert alert.details == {
        "kind": "fine",
        "state": "issued",
        "item": f"event:{fine['source']}/{fine['event_id']}",
    }


@pytest.mark.parametrize("likely_new", [False, True])
def test_alerts_raised_in_bulk_again_are_not_repeated(
    engine: Engine, people: list[str], likely_new: bool
) -> None:
    """Also when the caller expects them new (PostgreSQL's COPY is undone to its savepoint,
    and the rows raised the way that skips repeats, in the same transaction)."""
    rows = pa.table(
        {
            "person_id": [people[0], people[0], people[1]],
            "ref": ["bank-a/x-1", "bank-a/x-2", "bank-a/x-3"],
            "details": ['{"kind": "fine", "state": "issued", "item": "event:bank-a/x-1"}'] * 3,
        }
    )
    kind = alerts.AlertKind.NEGATIVE_ITEM
    with engine.begin() as store:
        alerts.raise_for_rows(store, kind, rows, NOW)
    extra = rows.slice(0, 1).set_column(1, "ref", pa.array(["bank-a/x-9"]))
    with engine.begin() as store:
        raised = alerts.raise_for_rows(
            store,
            kind,
            pa.concat_tables([rows.slice(1), extra]),
            NOW + dt.timedelta(days=1),
            likely_new=likely_new,
        )
        audit.append(store, "test", "still.usable", details={})
    assert raised == 1
    with engine.connect() as store:
        first = alerts.of_person(store, people[0])
        second = alerts.of_person(store, people[1])
    assert sorted(a.ref for a in first) == ["bank-a/x-1", "bank-a/x-2", "bank-a/x-9"]
    assert [a.ref for a in second] == ["bank-a/x-3"]
    assert {a.raised_at for a in first + second} == {NOW, NOW + dt.timedelta(days=1)}
    assert [a.raised_at for a in first if a.ref == "bank-a/x-9"] == [NOW + dt.timedelta(days=1)]
    assert first[0].details["state"] == "issued"


@pytest.mark.parametrize("likely_new", [False, True])
def test_alerts_go_in_in_their_order_and_a_repeat_within_the_batch_is_skipped(
    engine: Engine, people: list[str], likely_new: bool
) -> None:
    refs = ["bank-a/x-5", "bank-a/x-5", "bank-a/x-1", "bank-a/x-4", "bank-a/x-2"]
    rows = pa.table(
        {
            "person_id": [people[0]] * len(refs),
            "ref": refs,
            "details": ['{"kind": "fine", "state": "issued", "item": "event:bank-a/x"}'] * 5,
        }
    )
    with engine.begin() as store:
        alerts.raise_for_rows(
            store, alerts.AlertKind.NEGATIVE_ITEM, rows, NOW, likely_new=likely_new
        )
        ids = (
            store.execute(select(alert_rows.c.ref).order_by(alert_rows.c.alert_id)).scalars().all()
        )
    assert ids == ["bank-a/x-5", "bank-a/x-1", "bank-a/x-4", "bank-a/x-2"]
