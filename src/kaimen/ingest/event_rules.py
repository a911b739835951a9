"""Every check an event must pass, compiled from the event catalogue into one DuckDB query.

The query returns, per input row, the list of problems found ("field<TAB>reason"), so one
pass over the batch names every bad row and every bad field at once; a second query turns
the (by then valid) text into the lake's typed columns and a content hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from kaimen.domain.currencies import ISO_4217
from kaimen.domain.errors import RowError
from kaimen.domain.events import (
    AMOUNT_DECIMALS,
    ATTRIBUTE_VALUES,
    CLOCK_SKEW_SECONDS,
    ENVELOPE,
    EVENT_KINDS,
    FIELDS,
    IDENTIFIER_PATTERN,
    MAX_AMOUNT,
    MAX_TEXT_LENGTH,
    PAYLOAD,
    REPAYMENT_KINDS,
    SCHEMA_VERSION,
    SOURCE_PATTERN,
    SUPPORTED_SCHEMA_VERSIONS,
    FieldType,
)
from kaimen.input_files import LINE
from kaimen.lake.schema import CONTENT_HASH, PARTITION

INPUT_COLUMNS: tuple[str, ...] = tuple(f.name for f in ENVELOPE + PAYLOAD)
EARLIEST = "1900-01-01"
TIMESTAMP_SHAPE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
OFFSET_SHAPE = r"([Zz]|[+-]\d{2}(:?\d{2})?)"
AMOUNT_SHAPE = rf"\d{{1,12}}(\.\d{{1,{AMOUNT_DECIMALS}}})?"


def _q(text: str) -> str:
    """A SQL string literal of a constant we wrote (never of input)."""
    return "'" + text.replace("'", "''") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_q(v) for v in sorted(values)) + ")"


def _problem(field: str, condition: str, reason_sql: str) -> str:
    return f"CASE WHEN {condition} THEN {_q(field + chr(9))} || {reason_sql} END"


def _first(field: str, cases: list[tuple[str, str]]) -> str:
    """At most one problem per field: the first condition that holds."""
    whens = " ".join(f"WHEN {cond} THEN {_q(field + chr(9))} || {reason}" for cond, reason in cases)
    return f"CASE {whens} END"


def _timestamp_cases(name: str) -> list[tuple[str, str]]:
    return [
        (f"{name} IS NULL", _q("missing")),
        (
            f"NOT regexp_full_match({name}, {_q(TIMESTAMP_SHAPE + OFFSET_SHAPE + '?')})",
            _q("not an ISO 8601 timestamp like 2026-01-31T09:30:00+08:00: ") + f" || {name}",
        ),
        (
            f"NOT regexp_matches({name}, {_q(OFFSET_SHAPE + '$')})",
            _q("has no UTC offset; add Z or one like +08:00"),
        ),
        (
            f"TRY_CAST({name} AS TIMESTAMPTZ) IS NULL",
            _q("not a real date and time: ") + f" || {name}",
        ),
        (f"CAST({name} AS TIMESTAMPTZ) > now_limit", _q("is in the future")),
        (
            f"CAST({name} AS TIMESTAMPTZ) < TIMESTAMPTZ '{EARLIEST} 00:00:00+00'",
            _q("is before 1900"),
        ),
        (
            f"birth_date IS NOT NULL AND CAST({name} AS TIMESTAMPTZ) < CAST(birth_date AS TIMESTAMPTZ)",
            _q("is before the person was born"),
        ),
    ]


def _value_cases(name: str, kind_choices: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """Checks of a present value, by the field's type."""
    spec = FIELDS[name]
    if spec.type is FieldType.DECIMAL:
        return [
            (f"lower({name}) IN ('nan', '+nan', '-nan')", _q("NaN is not an amount")),
            (
                f"regexp_full_match(lower({name}), '[+-]?inf(inity)?')",
                _q("an infinite amount is not allowed"),
            ),
            (f"starts_with(trim({name}), '-')", _q("must not be negative: ") + f" || {name}"),
            (
                f"NOT regexp_full_match({name}, {_q(AMOUNT_SHAPE)})",
                _q(f"not a plain decimal number with at most {AMOUNT_DECIMALS} decimals: ")
                + f" || {name}",
            ),
            (f"CAST({name} AS DECIMAL(18, 2)) = 0", _q("must be greater than zero")),
            (
                f"CAST({name} AS DECIMAL(18, 2)) > {MAX_AMOUNT}",
                _q(f"absurdly large (over {MAX_AMOUNT:,}): ") + f" || {name}",
            ),
        ]
    if spec.type is FieldType.CURRENCY:
        return [
            (
                f"{name} NOT IN {_in(ISO_4217)}",
                _q("not an ISO 4217 currency code: ") + f" || {name}",
            )
        ]
    if spec.type is FieldType.DATE:
        return [
            (
                f"NOT regexp_full_match({name}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
                f"OR TRY_CAST({name} AS DATE) IS NULL",
                _q("not a real date in the form YYYY-MM-DD: ") + f" || {name}",
            ),
            (f"CAST({name} AS DATE) > CAST(now_limit AS DATE)", _q("is in the future")),
            (f"CAST({name} AS DATE) < DATE '{EARLIEST}'", _q("is before 1900")),
            (
                f"birth_date IS NOT NULL AND CAST({name} AS DATE) < birth_date",
                _q("is before the person was born"),
            ),
        ]
    if spec.type is FieldType.IDENTIFIER:
        return [
            (
                f"NOT regexp_full_match({name}, {_q(IDENTIFIER_PATTERN)})",
                _q("must be 1-128 letters, digits or . _ : - (starting with a letter or digit)"),
            )
        ]
    if spec.type is FieldType.TEXT:
        return [
            (f"trim({name}) = ''", _q("is blank")),
            (
                f"length({name}) > {MAX_TEXT_LENGTH}",
                _q(f"longer than {MAX_TEXT_LENGTH} characters"),
            ),
            (f"regexp_matches({name}, '[\\x00-\\x1f\\x7f]')", _q("contains control characters")),
        ]
    if spec.type is FieldType.CHOICE:
        cases: list[tuple[str, str]] = []
        for kind, choices in kind_choices.items():
            cases.append(
                (
                    f"kind = {_q(kind)} AND {name} NOT IN {_in(choices)}",
                    _q(f"must be one of {', '.join(choices)}, not ") + f" || {name}",
                )
            )
        return cases
    raise AssertionError(f"no value checks for {spec.type}")


def _payload_problems() -> list[str]:
    problems: list[str] = []
    for spec in PAYLOAD:
        name = spec.name
        allowed = [k.name for k in EVENT_KINDS.values() if name in k.fields]
        required = [k.name for k in EVENT_KINDS.values() if name in k.required]
        choices = {k.name: k.choices[name] for k in EVENT_KINDS.values() if name in k.choices}
        cases: list[tuple[str, str]] = [
            (
                f"{name} IS NOT NULL AND kind IN {_in(EVENT_KINDS)} AND kind NOT IN {_in(allowed)}",
                _q("not a field of ") + " || kind || " + _q(" events; leave it empty"),
            )
        ]
        if required:
            cases.append(
                (
                    f"{name} IS NULL AND kind IN {_in(required)}",
                    _q("required for ") + " || kind || " + _q(" events"),
                )
            )
        cases += [
            (f"{name} IS NOT NULL AND kind IN {_in(allowed)} AND ({cond})", reason)
            for cond, reason in _value_cases(name, choices)
        ]
        problems.append(_first(name, cases))
    return problems


def _cross_field_problems() -> list[str]:
    repayment = f"kind IN {_in(REPAYMENT_KINDS)}"
    paid_ok = "TRY_CAST(paid_date AS DATE) IS NOT NULL AND TRY_CAST(due_date AS DATE) IS NOT NULL"
    with_amount = "kind IN ('rental', 'court_judgment')"
    attribute_cases = [
        (
            f"kind = 'attribute' AND attribute = {_q(attr)} AND value IS NOT NULL "
            f"AND value NOT IN {_in(values)}",
            _q(f"{attr} must be one of {', '.join(values)}, not ") + " || value",
        )
        for attr, values in ATTRIBUTE_VALUES.items()
    ]
    return [
        _first(
            "paid_date",
            [
                (
                    f"{repayment} AND status = 'defaulted' AND paid_date IS NOT NULL",
                    _q("must be empty when status is defaulted"),
                ),
                (
                    f"{repayment} AND status IN ('on_time', 'late') AND paid_date IS NULL",
                    _q("required when status is ") + " || status",
                ),
                (
                    f"{repayment} AND status = 'on_time' AND {paid_ok} "
                    "AND CAST(paid_date AS DATE) > CAST(due_date AS DATE)",
                    _q("is after due_date, so status cannot be on_time"),
                ),
                (
                    f"{repayment} AND status = 'late' AND {paid_ok} "
                    "AND CAST(paid_date AS DATE) <= CAST(due_date AS DATE)",
                    _q("is not after due_date, so status cannot be late"),
                ),
            ],
        ),
        _problem(
            "currency",
            f"{with_amount} AND amount IS NOT NULL AND currency IS NULL",
            _q("required when amount is given"),
        ),
        _problem(
            "amount",
            f"{with_amount} AND currency IS NOT NULL AND amount IS NULL",
            _q("required when currency is given"),
        ),
        _first("value", attribute_cases) if attribute_cases else "NULL",
        _first(
            "friend_id",
            [
                (
                    "kind = 'friend_link' AND friend_id = person_id",
                    _q("a person cannot befriend themselves"),
                ),
                (
                    "kind = 'friend_link' AND friend_id IS NOT NULL AND NOT friend_enrolled",
                    _q("not an enrolled person: ") + " || friend_id",
                ),
            ],
        ),
    ]


def _envelope_problems() -> list[str]:
    versions = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
    return [
        _first(
            "source",
            [
                ("source IS NULL", _q("missing")),
                (
                    f"NOT regexp_full_match(source, {_q(SOURCE_PATTERN)})",
                    _q("must be 1-64 lower-case letters, digits or . _ - : ") + " || source",
                ),
            ],
        ),
        _first(
            "event_id",
            [
                ("event_id IS NULL", _q("missing")),
                (
                    f"NOT regexp_full_match(event_id, {_q(IDENTIFIER_PATTERN)})",
                    _q(
                        "must be 1-128 letters, digits or . _ : - (starting with a letter or digit)"
                    ),
                ),
            ],
        ),
        _first(
            "person_id",
            [
                ("person_id IS NULL", _q("missing")),
                ("birth_date IS NULL", _q("not an enrolled person: ") + " || person_id"),
            ],
        ),
        _first(
            "kind",
            [
                ("kind IS NULL", _q("missing")),
                (
                    f"kind NOT IN {_in(EVENT_KINDS)}",
                    _q(f"unknown kind; expected one of {', '.join(EVENT_KINDS)}, not ")
                    + " || kind",
                ),
            ],
        ),
        _problem(
            "schema_version",
            f"schema_version IS NOT NULL AND schema_version NOT IN {_in(map(str, SUPPORTED_SCHEMA_VERSIONS))}",
            _q(f"unsupported; this server reads version {versions}, not ") + " || schema_version",
        ),
        _first("occurred_at", _timestamp_cases("occurred_at")),
        _first(
            "recorded_at",
            [
                *_timestamp_cases("recorded_at")[:-1],
                (
                    "TRY_CAST(occurred_at AS TIMESTAMPTZ) IS NOT NULL "
                    "AND CAST(recorded_at AS TIMESTAMPTZ) < CAST(occurred_at AS TIMESTAMPTZ)",
                    _q("is earlier than occurred_at"),
                ),
            ],
        ),
    ]


_CHECK_LIST = ",\n    ".join(_envelope_problems() + _payload_problems() + _cross_field_problems())

CHECK_SQL = f"""
SELECT {LINE} AS line, list_filter([
    {_CHECK_LIST}
], lambda problem: problem IS NOT NULL) AS problems
FROM (
    SELECT raw.*, people.birth_date, friends.person_id IS NOT NULL AS friend_enrolled,
           $now_limit::TIMESTAMPTZ AS now_limit
    FROM raw
    LEFT JOIN people ON people.person_id = raw.person_id
    LEFT JOIN people AS friends ON friends.person_id = raw.friend_id
)
WHERE len(problems) > 0
ORDER BY line
"""


def _typed(spec_name: str) -> str:
    spec = FIELDS[spec_name]
    if spec.type is FieldType.TIMESTAMP:
        return f"CAST({spec_name} AS TIMESTAMPTZ) AS {spec_name}"
    if spec.type is FieldType.DECIMAL:
        return f"CAST({spec_name} AS DECIMAL(18, 2)) AS {spec_name}"
    if spec.type is FieldType.DATE:
        return f"CAST({spec_name} AS DATE) AS {spec_name}"
    if spec.type is FieldType.INTEGER:
        return f"CAST(coalesce({spec_name}, '{SCHEMA_VERSION}') AS SMALLINT) AS {spec_name}"
    return spec_name


_HASHED = [n for n in INPUT_COLUMNS if n != "recorded_at"]

TYPED_SQL = f"""
SELECT *,
    md5(to_json(struct_pack({", ".join(f"{n} := {n}" for n in _HASHED)}))) AS {CONTENT_HASH},
    strftime(occurred_at, '%Y-%m') AS {PARTITION}
FROM (SELECT {LINE}, {", ".join(_typed(n) for n in INPUT_COLUMNS)} FROM raw)
"""


def check_events(
    connection: duckdb.DuckDBPyConnection, raw: pa.Table, people: pa.Table, now: dt.datetime
) -> list[RowError]:
    """Every problem in `raw` (text columns from `input_files`), given the enrolled people."""
    connection.register("raw", raw)
    connection.register("people", people)
    try:
        limit = now + dt.timedelta(seconds=CLOCK_SKEW_SECONDS)
        rows = connection.execute(CHECK_SQL, {"now_limit": limit.isoformat()}).fetchall()
    finally:
        connection.unregister("raw")
        connection.unregister("people")
    errors: list[RowError] = []
    for line, problems in rows:
        for problem in problems:
            field, reason = problem.split("\t", 1)
            errors.append(RowError(int(line), field, reason))
    return errors


def typed_events(connection: duckdb.DuckDBPyConnection, raw: pa.Table) -> pa.Table:
    """Valid text rows as lake-typed columns plus `_line`, content hash and month."""
    connection.register("raw", raw)
    try:
        return connection.sql(TYPED_SQL).to_arrow_table()
    finally:
        connection.unregister("raw")
