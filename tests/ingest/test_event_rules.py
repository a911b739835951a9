"""Every rule an event must pass, through real files into a real store: each rejection names
the line a person would look at and the field at fault, and a rejected file stores nothing."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from kaimen.domain.errors import BatchRejected
from kaimen.domain.events import (
    EDUCATION_LEVELS,
    EVENT_KINDS,
    MERCHANT_CATEGORIES,
    RENTAL_ITEMS,
)
from kaimen.ingest.file_ingest import ingest_file
from kaimen.store.identity_vault import IdentityVault
from tests.conftest import NOW
from tests.ingest import events_factory as f

FORMATS = (".csv", ".jsonl", ".parquet")
BAD_INDEX = 3  # the bad event is the fourth of five


@pytest.fixture
def people(engine: Engine, vault: IdentityVault) -> list[str]:
    return f.enrol(engine, vault)


def line_of(suffix: str, index: int) -> int:
    """The line a person sees for the event at `index`: CSV has a header line."""
    return index + 2 if suffix == ".csv" else index + 1


def rejected(engine: Engine, lake_root: Path, path: Path) -> list[tuple[int, str, str]]:
    """Ingest `path`, expecting rejection; checks nothing was stored and returns the problems."""
    before = f.state(engine, lake_root)
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, path, "test", now=NOW)
    assert f.state(engine, lake_root) == before
    return f.problems(caught.value)


def bad(kind: str = "payment", person: str = "P001", **fields: str | None) -> dict[str, str]:
    """Event `bad-1` of `kind` with `fields` overridden (None removes a field)."""
    merged = {**f.event(kind, "bad-1", person), **fields}
    return {k: v for k, v in merged.items() if v is not None}


def _offset_refused(occurred_at: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A field case: `occurred_at` with an impossible UTC offset, and its refusal."""
    reason = f"has a UTC offset past 23:59 (hours 00-23, minutes 00-59): {occurred_at}"
    return bad(occurred_at=occurred_at), [("occurred_at", reason)]


def ts(moment: dt.datetime) -> str:
    return moment.isoformat()


# (bad event, [(field, reason)]) -- every reason a well-formed row can be refused for.
FIELD_CASES: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {
    "nan-amount": (bad(amount="NaN"), [("amount", "NaN is not an amount")]),
    "nan-lower": (bad(amount="nan"), [("amount", "NaN is not an amount")]),
    "infinite-amount": (bad(amount="Infinity"), [("amount", "an infinite amount is not allowed")]),
    "minus-inf-amount": (bad(amount="-inf"), [("amount", "an infinite amount is not allowed")]),
    "negative-amount": (bad(amount="-5.00"), [("amount", "must not be negative: -5.00")]),
    "zero-amount": (bad(amount="0.00"), [("amount", "must be greater than zero")]),
    "absurd-amount": (
        bad(amount="100000000.01"),
        [("amount", "absurdly large (over 100,000,000): 100000000.01")],
    ),
    "three-decimals": (
        bad(amount="12.345"),
        [("amount", "not a plain decimal number with at most 2 decimals: 12.345")],
    ),
    "exponent-amount": (
        bad(amount="1e3"),
        [("amount", "not a plain decimal number with at most 2 decimals: 1e3")],
    ),
    "unknown-currency": (
        bad(currency="XYZ"),
        [("currency", "not an ISO 4217 currency code: XYZ")],
    ),
    "lower-case-currency": (
        bad(currency="cny"),
        [("currency", "not an ISO 4217 currency code: cny")],
    ),
    "future-occurred-at": (
        # No recorded_at sent: only the field the sender wrote is at fault.
        bad(occurred_at="2026-11-02T00:00:00Z"),
        [("occurred_at", "is in the future")],
    ),
    "future-recorded-at": (
        bad(recorded_at="2026-12-01T00:00:00Z"),
        [("recorded_at", "is in the future")],
    ),
    "future-due-date": (
        bad("rent_payment", due_date="2026-11-02"),
        [("due_date", "is in the future")],
    ),
    "before-birth": (
        # P001 was born on 1990-03-07 (in China): 23:59:59 the evening before, Beijing time.
        bad(occurred_at="1990-03-06T15:59:59Z"),
        [("occurred_at", "is before the person was born")],
    ),
    "due-date-before-birth": (
        bad("rent_payment", due_date="1990-03-06"),
        [("due_date", "is before the person was born")],
    ),
    "before-1900": (
        bad(person="P999", occurred_at="1899-12-31T00:00:00Z"),
        [("occurred_at", "is before 1900"), ("person_id", "not an enrolled person: P999")],
    ),
    "no-utc-offset": (
        bad(occurred_at="2026-09-01T10:00:00"),
        [("occurred_at", "has no UTC offset; add Z or one like +08:00")],
    ),
    "malformed-timestamp": (
        bad(occurred_at="01/09/2026 10:00"),
        [
            (
                "occurred_at",
                "not an ISO 8601 timestamp like 2026-01-31T09:30:00+08:00: 01/09/2026 10:00",
            )
        ],
    ),
    "impossible-timestamp": (
        bad(occurred_at="2026-02-30T10:00:00Z"),
        [("occurred_at", "not a real date and time: 2026-02-30T10:00:00Z")],
    ),
    "offset-past-23-hours": _offset_refused("2026-09-01T10:30:00+25:00"),
    "offset-past-59-minutes": _offset_refused("2026-09-01T10:30:00+08:99"),
    "negative-offset-past-23-hours": _offset_refused("2026-09-01T10:30:00-3000"),
    "hour-24": (
        bad(occurred_at="2026-09-01T24:00:00Z"),
        [("occurred_at", "not a real date and time: 2026-09-01T24:00:00Z")],
    ),
    "beyond-microseconds": (
        bad(occurred_at="2026-09-01T10:00:00.1234567Z"),
        [
            (
                "occurred_at",
                "is more precise than a microsecond, all kaimen keeps: "
                "2026-09-01T10:00:00.1234567Z",
            )
        ],
    ),
    "malformed-date": (
        bad("rent_payment", due_date="2026/09/01"),
        [("due_date", "not a real date in the form YYYY-MM-DD: 2026/09/01")],
    ),
    "unknown-kind": (
        bad("transfer", amount="1.00", currency="CNY"),
        [("kind", f"unknown kind; expected one of {', '.join(EVENT_KINDS)}, not transfer")],
    ),
    "missing-required-payload": (
        bad(merchant_category=None),
        [("merchant_category", "required for payment events")],
    ),
    "missing-event-id": (bad(event_id=None), [("event_id", "missing")]),
    "bad-source": (
        bad(source="Bank A"),
        [("source", "must be 1-64 lower-case letters, digits or . _ - : Bank A")],
    ),
    "field-of-another-kind": (
        bad(due_date="2026-08-01"),
        [("due_date", "not a field of payment events; leave it empty")],
    ),
    "person-not-enrolled": (
        bad(person="P999"),
        [("person_id", "not an enrolled person: P999")],
    ),
    "friend-not-enrolled": (
        bad("friend_link", friend_id="P999"),
        [("friend_id", "not an enrolled person: P999")],
    ),
    "friend-is-self": (
        bad("friend_link", friend_id="P001"),
        [("friend_id", "a person cannot befriend themselves")],
    ),
    "on-time-paid-late": (
        bad("loan_repayment", due_date="2026-08-10", paid_date="2026-08-11"),
        [("paid_date", "is after due_date, so status cannot be on_time")],
    ),
    "defaulted-with-paid-date": (
        bad("rent_payment", paid_date="2026-09-02"),
        [("paid_date", "must be empty when status is defaulted")],
    ),
    "late-paid-on-time": (
        bad("bill_repayment", paid_date="2026-08-10"),
        [("paid_date", "is not after due_date, so status cannot be late")],
    ),
    "on-time-without-paid-date": (
        bad("loan_repayment", paid_date=None),
        [("paid_date", "required when status is on_time")],
    ),
    "recorded-before-occurred": (
        bad(occurred_at="2026-09-15T10:00:00+08:00", recorded_at="2026-09-15T09:59:59+08:00"),
        [("recorded_at", "is earlier than occurred_at")],
    ),
    "bad-merchant-category": (
        bad(merchant_category="casino"),
        [("merchant_category", f"must be one of {', '.join(MERCHANT_CATEGORIES)}, not casino")],
    ),
    "bad-rental-item": (
        bad("rental", item="yacht"),
        [("item", f"must be one of {', '.join(RENTAL_ITEMS)}, not yacht")],
    ),
    "status-of-another-kind": (
        bad("fine", status="on_time"),
        [("status", "must be one of issued, paid, not on_time")],
    ),
    "bad-education-value": (
        bad("attribute", attribute="education", value="genius"),
        [("value", f"education must be one of {', '.join(EDUCATION_LEVELS)}, not genius")],
    ),
    "amount-without-currency": (
        bad("rental", amount="30.00"),
        [("currency", "required when amount is given")],
    ),
    "unsupported-schema-version": (
        bad(schema_version="2"),
        [("schema_version", "unsupported; this server reads version 1, not 2")],
    ),
}


@pytest.mark.parametrize(
    ("case", "suffix"),
    [(case, FORMATS[i % len(FORMATS)]) for i, case in enumerate(FIELD_CASES)],
)
def test_field_rule_names_line_and_field(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], case: str, suffix: str
) -> None:
    """Each case runs in one of the three formats (in turn), to keep the suite fast."""
    bad_event, expected = FIELD_CASES[case]
    events = f.sample_events(5)
    events.insert(BAD_INDEX, bad_event)
    path = f.write(tmp_path / f"{case}{suffix}", events)
    line = line_of(suffix, BAD_INDEX)
    assert rejected(engine, lake_root, path) == sorted(
        (line, field, reason) for field, reason in expected
    )


def test_every_bad_field_of_every_bad_row_is_listed(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events(30)
    events[4] = f.event("payment", "x1", amount="-1", currency="XYZ")
    events[21] = f.event("friend_link", "x2", "P003", friend_id="P003", action="poked")
    path = f.write(tmp_path / "two-bad.jsonl", events)
    assert rejected(engine, lake_root, path) == [
        (5, "amount", "must not be negative: -1"),
        (5, "currency", "not an ISO 4217 currency code: XYZ"),
        (22, "action", "must be one of added, removed, not poked"),
        (22, "friend_id", "a person cannot befriend themselves"),
    ]


# --- problems of the file's structure, which only some formats can have ---------------------


def test_unknown_csv_column(engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]):
    events = f.sample_events(4)
    events[2]["colour"] = "red"
    path = f.write_csv(tmp_path / "colour.csv", events)
    assert rejected(engine, lake_root, path) == [(1, "colour", "unknown field")]


def test_csv_column_twice(engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]):
    path = tmp_path / "twice.csv"
    path.write_text(
        "source,event_id,person_id,kind,occurred_at,amount,currency,merchant_category,amount\n"
        "bank-a,t1,P001,payment,2026-09-01T10:00:00Z,1.00,CNY,dining,1.00\n"
    )
    assert rejected(engine, lake_root, path) == [(1, "amount", "column appears twice")]


def test_unknown_jsonl_key(engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]):
    events = f.sample_events(6)
    events[4]["colour"] = "red"
    path = f.write_jsonl(tmp_path / "colour.jsonl", events)
    assert rejected(engine, lake_root, path) == [(5, "colour", "unknown field")]


def test_a_lone_surrogate_is_named_by_line_and_field(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """Valid JSON, no text: it stopped the file with an unexpected error where stored."""
    events = f.sample_events(3)
    path = tmp_path / "surrogate.jsonl"
    lines = [json.dumps(e) for e in events]
    lines[1] = lines[1].replace('"bank-a"', '"bank-a\\ud800"', 1)
    path.write_text("\n".join(lines) + "\n")
    assert rejected(engine, lake_root, path) == [(2, "source", "is not valid Unicode text")]


def test_a_carriage_return_inside_a_json_line_is_whitespace(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """JSON Lines end at a newline alone: read as a line break, a CR between members split a
    valid line in two and numbered every later line wrong."""
    events = f.sample_events(2)
    events[1]["currency"] = "BAD"
    first = json.dumps(events[0]).replace(", ", ",\r ")
    path = tmp_path / "cr.jsonl"
    path.write_bytes((first + "\r\n" + json.dumps(events[1]) + "\r\n").encode())
    problems = rejected(engine, lake_root, path)
    assert [(line, field) for line, field, _ in problems] == [(2, "currency")]


def test_a_parquet_column_named_twice_is_named_not_a_crash(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    table = pa.Table.from_pylist(f.sample_events(3))
    doubled = pa.Table.from_arrays(
        [*table.columns, table.column("currency")], names=[*table.column_names, "currency"]
    )
    path = tmp_path / "twice.parquet"
    pq.write_table(doubled, path)
    assert rejected(engine, lake_root, path) == [(1, "currency", "column appears twice")]


def test_unknown_parquet_column(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    events = f.sample_events(4)
    events[2]["colour"] = "red"
    path = f.write_parquet(tmp_path / "colour.parquet", events)
    assert rejected(engine, lake_root, path) == [(1, "colour", "unknown field")]


def test_parquet_column_of_unusable_type(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    table = pa.table(
        {
            "source": ["bank-a"],
            "event_id": ["l1"],
            "person_id": ["P001"],
            "kind": ["payment"],
            "occurred_at": ["2026-09-01T10:00:00Z"],
            "amount": pa.array([[1, 2]], pa.list_(pa.int64())),
            "currency": ["CNY"],
            "merchant_category": ["dining"],
        }
    )
    path = tmp_path / "list.parquet"
    pq.write_table(table, path)
    problems = rejected(engine, lake_root, path)
    assert problems
    assert {(line, field) for line, field, _ in problems} == {(1, "amount")}


def typed_parquet(path: Path, name: str, column: pa.Array) -> Path:
    """Four payments in a Parquet file whose `name` column is `column` (natively typed)."""
    n = len(column)
    data: dict[str, Any] = {
        "source": ["bank-a"] * n,
        "event_id": [f"t{i}" for i in range(n)],
        "person_id": ["P001"] * n,
        "kind": ["payment"] * n,
        "occurred_at": ["2026-09-01T10:00:00Z"] * n,
        "amount": ["1.00"] * n,
        "currency": ["CNY"] * n,
        "merchant_category": ["dining"] * n,
    }
    data[name] = column
    pq.write_table(pa.table(data), path)
    return path


@pytest.mark.parametrize(
    ("name", "column", "reason"),
    [
        pytest.param(
            "amount", pa.array([1.5, 2.0, float("nan"), 3.0]), "NaN is not an amount", id="nan"
        ),
        pytest.param(
            "amount",
            pa.array([1.5, 2.0, float("-inf"), 3.0]),
            "an infinite amount is not allowed",
            id="inf",
        ),
        pytest.param(
            "amount", pa.array([1.5, 2.0, -2.5, 3.0]), "must not be negative: -2.5", id="negative"
        ),
        pytest.param(
            "amount", pa.array([1, 2, 0, 3], pa.int64()), "must be greater than zero", id="zero"
        ),
        pytest.param(
            "amount",
            pa.array([1, 2, 200_000_000, 3], pa.int64()),
            "absurdly large (over 100,000,000): 200000000",
            id="absurd-int",
        ),
        pytest.param(
            "amount",
            pa.array([1.5, 2.0, 1.005, 3.0]),
            "has more than 2 decimals: 1.005",
            id="float-decimals",
        ),
        pytest.param(
            "amount",
            pa.array([Decimal(v) for v in ("1.5", "2", "1.005", "3")], pa.decimal128(18, 3)),
            "has more than 2 decimals or is too large: 1.005",
            id="decimal-decimals",
        ),
        pytest.param(
            "schema_version",
            pa.array([1, 1, 2, 1], pa.int16()),
            "unsupported; this server reads version 1, not 2",
            id="schema-version",
        ),
        pytest.param(
            "occurred_at",
            pa.array(
                [dt.datetime(2026, 9, 1, tzinfo=dt.UTC)] * 2
                + [dt.datetime(1990, 3, 6, tzinfo=dt.UTC), dt.datetime(2026, 9, 1, tzinfo=dt.UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "is before the person was born",
            id="timestamp-before-birth",
        ),
    ],
)
def test_typed_parquet_values_are_judged_natively(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    people: list[str],
    name: str,
    column: pa.Array,
    reason: str,
) -> None:
    path = typed_parquet(tmp_path / "typed.parquet", name, column)
    assert rejected(engine, lake_root, path) == [(3, name, reason)]


def test_typed_parquet_absurd_float_is_called_absurd(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """1e20 has no decimals at all; the problem to report is its size."""
    path = typed_parquet(tmp_path / "huge.parquet", "amount", pa.array([1.5, 2.0, 1e20, 3.0]))
    problems = rejected(engine, lake_root, path)
    assert [(line, field) for line, field, _ in problems] == [(3, "amount")]
    assert problems[0][2].startswith("absurdly large (over 100,000,000)"), problems


def test_parquet_nanoseconds_past_the_microsecond_are_refused_not_rounded(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """As in text: a resend that changed only those digits passed for the same event, and
    the last nanosecond of a month was stored in the next one."""
    base = 1_772_330_400_000_000_000  # 2026-03-01T02:00:00Z in nanoseconds
    values = [base + 123_456_000, base + 123_456_789, base, 1_775_001_599_999_999_999]
    column = pa.array(values, pa.timestamp("ns", tz="UTC"))
    path = typed_parquet(tmp_path / "nanoseconds.parquet", "occurred_at", column)
    more_precise = "is more precise than a microsecond, all kaimen keeps: "
    assert rejected(engine, lake_root, path) == [
        (2, "occurred_at", more_precise + "2026-03-01 02:00:00.123456789Z"),
        (4, "occurred_at", more_precise + "2026-03-31 23:59:59.999999999Z"),
    ]


def test_naive_parquet_timestamps_have_no_utc_offset(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    naive = pa.array([dt.datetime(2026, 9, 1, 10)] * 2, pa.timestamp("us"))
    path = typed_parquet(tmp_path / "naive.parquet", "occurred_at", naive)
    assert rejected(engine, lake_root, path) == [
        (1, "occurred_at", "has no UTC offset; store timestamps with a time zone"),
        (2, "occurred_at", "has no UTC offset; store timestamps with a time zone"),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json\n", "not valid JSON"),
        ('{"source": "bank-a",\n', "not valid JSON"),
        ("[1, 2]\n", "each line must be a JSON object"),
        ('"payment"\n', "each line must be a JSON object"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "not valid JSON (nested too deeply)"),
    ],
)
def test_malformed_json_line(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], text: str, reason: str
) -> None:
    path = f.write_jsonl(tmp_path / "broken.jsonl", f.sample_events(5))
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(2, text)
    path.write_text("".join(lines))
    problems = rejected(engine, lake_root, path)
    assert [(line, field) for line, field, _ in problems] == [(3, "*")]
    assert problems[0][2].startswith(reason)


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("NaN", "NaN is not an amount"),
        ("Infinity", "an infinite amount is not allowed"),
        ("-Infinity", "an infinite amount is not allowed"),
        ("-3.5", "must not be negative: -3.5"),
        ("1.005", "not a plain decimal number with at most 2 decimals: 1.005"),
    ],
)
def test_jsonl_number_literals_are_judged_as_written(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], literal: str, reason: str
) -> None:
    good = f.write_jsonl(tmp_path / "numbers.jsonl", f.sample_events(2)).read_text()
    line = (
        '{"source": "bank-a", "event_id": "n1", "person_id": "P001", "kind": "payment", '
        f'"occurred_at": "2026-09-01T10:00:00Z", "amount": {literal}, "currency": "CNY", '
        '"merchant_category": "dining"}\n'
    )
    path = tmp_path / "numbers.jsonl"
    path.write_text(good + line)
    assert rejected(engine, lake_root, path) == [(3, "amount", reason)]


def test_jsonl_nested_value(engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]):
    events: list[dict[str, Any]] = list(f.sample_events(3))
    events[1] = {**f.event("payment", "nested"), "amount": {"value": "1.00"}}
    path = f.write_jsonl(tmp_path / "nested.jsonl", events)
    problems = rejected(engine, lake_root, path)
    assert {(line, field) for line, field, _ in problems} == {(2, "amount")}
    assert (2, "amount", "must be a single value, not a list or object") in problems


def test_jsonl_blank_lines_keep_physical_line_numbers(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    path = f.write_jsonl(tmp_path / "blank.jsonl", f.sample_events(2))
    bad_line = f.write_jsonl(tmp_path / "x.jsonl", [bad(amount="0")]).read_text()
    path.write_text(path.read_text() + "\n   \n" + bad_line)
    assert rejected(engine, lake_root, path) == [(5, "amount", "must be greater than zero")]


CSV_HEADER = "source,event_id,person_id,kind,occurred_at,amount,currency,merchant_category\n"


def csv_row(event_id: str, amount: str = "1.00", extra: str = "") -> str:
    return f"bank-a,{event_id},P001,payment,2026-09-01T10:00:00Z,{amount},CNY,groceries{extra}\n"


def test_csv_rows_with_wrong_number_of_fields(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        CSV_HEADER
        + csv_row("c1")
        + csv_row("c2", extra=",surplus")  # line 3
        + csv_row("c3")
        + "bank-a,c4,P001\n"  # line 5
        + csv_row("c5", amount="-1")  # line 6: later lines keep their numbers
    )
    assert rejected(engine, lake_root, path) == [
        (3, "*", "has 9 fields, the header has 8"),
        (5, "*", "has 3 fields, the header has 8"),
        (6, "amount", "must not be negative: -1"),
    ]


@pytest.mark.parametrize(
    "filler",
    [
        pytest.param("\n", id="blank-line"),
        pytest.param(
            'bank-a,q1,P001,court_judgment,2026-09-01T10:00:00Z,,,,"(2026) Jing\n01",Court,entered\n',
            id="quoted-newline",
        ),
    ],
)
def test_csv_line_numbers_are_physical_lines(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], filler: str
) -> None:
    """The docs promise 'the physical line in CSV': a blank line or a quoted value spanning two
    lines must not shift the line named for the rows after it."""
    header = CSV_HEADER.rstrip("\n") + ",case_number,court,status\n"
    path = tmp_path / "physical.csv"
    path.write_text(header + csv_row("c1", extra=",,,") + filler + csv_row("c9", "0", ",,,"))
    bad_line = 3 + filler.count("\n")
    problems = [p for p in rejected(engine, lake_root, path) if p[1] == "amount"]
    assert problems == [(bad_line, "amount", "must be greater than zero")]


# --- values at the edge of the rules are accepted --------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"amount": "100000000"}, id="max-amount"),
        pytest.param({"amount": "100000000.00"}, id="max-amount-decimals"),
        pytest.param({"amount": "0.01"}, id="smallest-amount"),
        pytest.param({"occurred_at": "1990-03-07T00:00:00Z"}, id="born-that-midnight"),
        pytest.param({"occurred_at": "2026-09-01T10:00:00+0800"}, id="offset-without-colon"),
        pytest.param({"occurred_at": "2026-09-01 10:00:00Z"}, id="space-separator"),
        pytest.param({"occurred_at": "2026-09-01T10:00:00.123456+05:30"}, id="fraction"),
        pytest.param({"occurred_at": "2026-09-01T10:00:00z"}, id="lower-case-z"),
        pytest.param({"occurred_at": "2026-09-01T10:00:00+23:59"}, id="largest-offset"),
        pytest.param({"occurred_at": "2026-09-01T23:59:59-23:59"}, id="smallest-offset"),
        pytest.param({"occurred_at": "2026-09-01T10:00:00.123456000Z"}, id="nanoseconds-of-zeros"),
        pytest.param({"schema_version": "1"}, id="schema-version-1"),
    ],
)
def test_edge_values_are_accepted(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    people: list[str],
    fields: dict[str, str],
) -> None:
    path = f.write_csv(tmp_path / "edge.csv", [f.event("payment", "edge", **fields)])
    report = ingest_file(engine, lake_root, path, "test", now=NOW)
    assert (report.total, report.new, report.duplicate) == (1, 1, 0)


def test_clock_skew_is_tolerated_up_to_five_minutes(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    soon = NOW + dt.timedelta(seconds=299)
    path = f.write_csv(
        tmp_path / "soon.csv", [bad(occurred_at=ts(soon), recorded_at=ts(soon), event_id="s1")]
    )
    assert ingest_file(engine, lake_root, path, "test", now=NOW).new == 1
    late = NOW + dt.timedelta(seconds=301)
    path = f.write_csv(
        tmp_path / "late.csv", [bad(occurred_at=ts(late), recorded_at=ts(late), event_id="s2")]
    )
    assert rejected(engine, lake_root, path) == [
        (2, "occurred_at", "is in the future"),
        (2, "recorded_at", "is in the future"),
    ]


def test_clock_skew_is_tolerated_without_recorded_at(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    """An event a minute ahead of our clock is within the tolerated skew; the default
    recorded_at (time of receipt) must not turn it into 'recorded before it occurred'."""
    soon = NOW + dt.timedelta(seconds=60)
    path = f.write_csv(tmp_path / "soon.csv", [bad(occurred_at=ts(soon))])
    report = ingest_file(engine, lake_root, path, "test", now=NOW)
    assert (report.total, report.new) == (1, 1)
