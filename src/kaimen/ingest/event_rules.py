"""Every check an event must pass, compiled from the event catalogue into one DuckDB query.

One pass over a chunk both judges and types it: per row it yields the list of problems
("field<TAB>reason", empty when the row is good), the lake-typed columns and the month.
Columns that arrive as text (CSV, JSON, HTTP) get the shape checks that text needs;
columns that arrive typed (Parquet timestamps, decimals, dates) skip the text round trip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

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
from kaimen.domain.national_id import BIRTH_TIME_ZONE
from kaimen.domain.prohibited import PROHIBITED, sql_pattern
from kaimen.domain.text import ECHO_CHARS, ELLIPSIS
from kaimen.input_files import LINE
from kaimen.lake.schema import PARTITION

INPUT_COLUMNS: tuple[str, ...] = tuple(f.name for f in ENVELOPE + PAYLOAD)
EARLIEST = "1900-01-01"
TIMESTAMP_SHAPE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
OFFSET_SHAPE = r"([Zz]|[+-]\d{2}(:?\d{2})?)"
# The shape a timestamp must have, stricter than the above where the engine's cast would take
# a value but shift or cut it: an offset past 23 hours or 59 minutes (+25:00 was stored a day
# away), the hour 24 (the next midnight) and digits past the microsecond that are not zeros
# (cut, so a resend that changed only them passed for the same event). One pattern, as
# before: a valid timestamp costs no more to judge; only a refused one is looked at again,
# to say why (`IMPOSSIBLE_OFFSET`, `HOUR_24`, `BEYOND_MICROSECONDS`).
STRICT_TIMESTAMP_SHAPE = (
    r"\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-35-9]|[3-9]\d):\d{2}(:\d{2}(\.\d{1,6}0*)?)?"
    r"([Zz]|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?"
)
IMPOSSIBLE_OFFSET = r"[+-]((2[4-9]|[3-9]\d)(:?\d{2})?|\d{2}:?[6-9]\d)$"
HOUR_24 = r"^\d{4}-\d{2}-\d{2}[T ]24"
BEYOND_MICROSECONDS = r"\.\d{6}\d*[1-9]"
AMOUNT_SHAPE = rf"\d{{1,12}}(\.\d{{1,{AMOUNT_DECIMALS}}})?"
RAW = "raw"  # the relation the rules read
TYPED = "__t"  # suffix of a column's typed value inside the query
# Someone who opted out left for good: nothing about them is accepted again, from anyone.
OPTED_OUT = "opted out of kaimen, so no events about them are accepted: "


class Arrival:
    """How a column arrived: as text, or already in its natural type (or a naive timestamp)."""

    TEXT = "text"
    NATIVE = "native"
    FLOAT = "float"
    NAIVE_TIMESTAMP = "naive_timestamp"
    WRONG = "wrong"


def arrival_of(name: str, arrow_type: pa.DataType) -> str:
    """Classify a column of an input table (see `Arrival`)."""
    kind = FIELDS[name].type
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return Arrival.TEXT
    if pa.types.is_null(arrow_type):
        return Arrival.TEXT
    if kind is FieldType.TIMESTAMP and pa.types.is_timestamp(arrow_type):
        return Arrival.NATIVE if arrow_type.tz else Arrival.NAIVE_TIMESTAMP
    if kind is FieldType.DATE and pa.types.is_date(arrow_type):
        return Arrival.NATIVE
    if kind in (FieldType.DECIMAL, FieldType.INTEGER) and (
        pa.types.is_integer(arrow_type) or pa.types.is_decimal(arrow_type)
    ):
        return Arrival.NATIVE
    if kind is FieldType.DECIMAL and pa.types.is_floating(arrow_type):
        return Arrival.FLOAT
    return Arrival.WRONG


def needs_text(schema: pa.Schema) -> bool:
    """Some input column of `schema` must be turned into text before the rules judge it."""
    return any(arrival_of(n, schema.field(n).type) == Arrival.WRONG for n in INPUT_COLUMNS)


def _q(text: str) -> str:
    """A SQL string literal of a constant we wrote (never of input)."""
    return "'" + text.replace("'", "''") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_q(v) for v in sorted(values)) + ")"


def _first(field: str, cases: list[tuple[str, str]]) -> str:
    """At most one problem per field: the first condition that holds."""
    if not cases:
        return "NULL"
    whens = " ".join(f"WHEN {cond} THEN {_q(field + chr(9))} || {reason}" for cond, reason in cases)
    return f"CASE {whens} END"


def _shown(name: str) -> str:
    """The value as text."""
    return f"CAST({name} AS VARCHAR)"


def _echo(expression: str) -> str:
    """SQL for `excerpt` of the value as text: all a reason may repeat of what it refuses."""
    text = _shown(expression)
    return (
        f"CASE WHEN length({text}) <= {ECHO_CHARS} THEN {text} "
        f"ELSE left({text}, {ECHO_CHARS}) || {_q(ELLIPSIS)} END"
    )


def _naming(message: str, expression: str) -> str:
    """A reason that ends with the value it refuses (a short prefix of a long one)."""
    return f"{_q(message)} || {_echo(expression)}"


def _typed_expression(name: str, arrivals: dict[str, str]) -> str:
    spec = FIELDS[name]
    arrival = arrivals[name]
    column = f"raw.{name}"  # people.person_id is in scope too
    if arrival == Arrival.WRONG or arrival == Arrival.NAIVE_TIMESTAMP:
        return f"CAST(NULL AS {_sql_type(spec.type)})"
    if spec.type is FieldType.TIMESTAMP:
        # DuckDB reads "Z" but not the equally valid "z".
        parsed = (
            f"TRY_CAST(upper({column}) AS TIMESTAMPTZ)"
            if arrival == Arrival.TEXT
            else f"TRY_CAST({column} AS TIMESTAMPTZ)"
        )
        if name == "recorded_at":
            # Unsent, it is when kaimen received the event (never before it occurred,
            # which may be a little ahead of our clock).
            occurred = _typed_expression("occurred_at", arrivals)
            return f"coalesce({parsed}, greatest($received_at::TIMESTAMPTZ, {occurred}))"
        return parsed
    if spec.type is FieldType.DECIMAL:
        if arrival == Arrival.FLOAT:
            return f"TRY_CAST(round({column}, {AMOUNT_DECIMALS}) AS DECIMAL(18, 2))"
        if arrival == Arrival.TEXT:
            return (
                f"CASE WHEN regexp_full_match({column}, {_q(AMOUNT_SHAPE)}) "
                f"THEN TRY_CAST({column} AS DECIMAL(18, 2)) END"
            )
        return f"TRY_CAST({column} AS DECIMAL(18, 2))"
    if spec.type is FieldType.DATE:
        return f"TRY_CAST({column} AS DATE)"
    if spec.type is FieldType.INTEGER:
        return f"TRY_CAST(coalesce({_shown(column)}, '{SCHEMA_VERSION}') AS SMALLINT)"
    return column


def _sql_type(kind: FieldType) -> str:
    return {
        FieldType.TIMESTAMP: "TIMESTAMPTZ",
        FieldType.DECIMAL: "DECIMAL(18, 2)",
        FieldType.DATE: "DATE",
        FieldType.INTEGER: "SMALLINT",
    }.get(kind, "VARCHAR")


def _refused_timestamp(name: str) -> str:
    """Why text of the wrong shape is not a timestamp kaimen keeps (see `STRICT_TIMESTAMP_SHAPE`)."""
    return (
        f"CASE WHEN regexp_matches({name}, {_q(IMPOSSIBLE_OFFSET)}) "
        f"THEN {_naming('has a UTC offset past 23:59 (hours 00-23, minutes 00-59): ', name)} "
        f"WHEN regexp_matches({name}, {_q(HOUR_24)}) "
        f"THEN {_naming('not a real date and time: ', name)} "
        f"WHEN regexp_full_match({name}, {_q(TIMESTAMP_SHAPE + OFFSET_SHAPE + '?')}) "
        f"AND regexp_matches({name}, {_q(BEYOND_MICROSECONDS)}) "
        f"THEN {_naming('is more precise than a microsecond, all kaimen keeps: ', name)} "
        f"ELSE {_naming('not an ISO 8601 timestamp like 2026-01-31T09:30:00+08:00: ', name)} END"
    )


def _timestamp_cases(name: str, arrival: str) -> list[tuple[str, str]]:
    typed = name + TYPED
    # Unsent, an optional timestamp is filled in on receipt: nothing to judge.
    cases = [(f"{name} IS NULL", _q("missing") if FIELDS[name].required else "NULL")]
    if arrival == Arrival.NAIVE_TIMESTAMP:
        cases.append(
            (f"{name} IS NOT NULL", _q("has no UTC offset; store timestamps with a time zone"))
        )
    elif arrival == Arrival.WRONG:
        cases.append((f"{name} IS NOT NULL", _q("must be a timestamp with a UTC offset")))
    elif arrival == Arrival.TEXT:
        cases += [
            (
                f"NOT regexp_full_match({name}, {_q(STRICT_TIMESTAMP_SHAPE)})",
                _refused_timestamp(name),
            ),
            (
                f"NOT regexp_matches({name}, {_q(OFFSET_SHAPE + '$')})",
                _q("has no UTC offset; add Z or one like +08:00"),
            ),
            (f"{typed} IS NULL", _naming("not a real date and time: ", name)),
        ]
    return [
        *cases,
        (f"{typed} > now_limit", _q("is in the future")),
        (f"{typed} < TIMESTAMPTZ '{EARLIEST} 00:00:00+00'", _q("is before 1900")),
        (
            # By the date in the birth date's own time zone, not at UTC midnight: 01:00 in
            # Beijing on the day of birth is the day before in UTC. Compared as instants
            # with that midnight (`born_at`, once a person), not as each event's local date:
            # the same answer, without a time zone conversion per event.
            f"born_at IS NOT NULL AND {typed} < born_at",
            _q("is before the person was born"),
        ),
    ]


def _amount_cases(name: str, arrival: str) -> list[tuple[str, str]]:
    typed = name + TYPED
    cases: list[tuple[str, str]] = []
    if arrival == Arrival.TEXT:
        cases += [
            (f"lower({name}) IN ('nan', '+nan', '-nan')", _q("NaN is not an amount")),
            (
                f"regexp_full_match(lower({name}), '[+-]?inf(inity)?')",
                _q("an infinite amount is not allowed"),
            ),
            (f"starts_with(trim({name}), '-')", _naming("must not be negative: ", name)),
            (
                f"{typed} IS NULL",
                _naming(
                    f"not a plain decimal number with at most {AMOUNT_DECIMALS} decimals: ", name
                ),
            ),
        ]
    elif arrival == Arrival.FLOAT:
        cases += [
            (f"isnan({name})", _q("NaN is not an amount")),
            (f"isinf({name})", _q("an infinite amount is not allowed")),
            (f"{name} < 0", _naming("must not be negative: ", name)),
            (
                f"{name} > {MAX_AMOUNT}",
                _naming(f"absurdly large (over {MAX_AMOUNT:,}): ", name),
            ),
            (
                f"abs({name} * 100 - round({name} * 100)) > 1e-6 OR {typed} IS NULL",
                _naming(f"has more than {AMOUNT_DECIMALS} decimals: ", name),
            ),
        ]
    elif arrival == Arrival.NATIVE:
        cases += [
            (f"{name} < 0", _naming("must not be negative: ", name)),
            (
                f"{name} > {MAX_AMOUNT}",
                _naming(f"absurdly large (over {MAX_AMOUNT:,}): ", name),
            ),
            (
                f"{typed} IS NULL OR {typed} <> {name}",
                _naming(f"has more than {AMOUNT_DECIMALS} decimals or is too large: ", name),
            ),
        ]
    else:
        cases.append(("true", _q("must be a decimal number")))
    return [
        *cases,
        (f"{typed} = 0", _q("must be greater than zero")),
        (f"{typed} > {MAX_AMOUNT}", _naming(f"absurdly large (over {MAX_AMOUNT:,}): ", name)),
    ]


def _date_cases(name: str, arrival: str) -> list[tuple[str, str]]:
    typed = name + TYPED
    if arrival == Arrival.TEXT:
        cases = [
            (
                f"NOT regexp_full_match({name}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') OR {typed} IS NULL",
                _naming("not a real date in the form YYYY-MM-DD: ", name),
            )
        ]
    elif arrival == Arrival.NATIVE:
        cases = []
    else:
        cases = [("true", _q("must be a date (YYYY-MM-DD)"))]
    return [
        *cases,
        (f"{typed} > CAST(now_limit AS DATE)", _q("is in the future")),
        (f"{typed} < DATE '{EARLIEST}'", _q("is before 1900")),
        (f"birth_date IS NOT NULL AND {typed} < birth_date", _q("is before the person was born")),
    ]


def _value_cases(
    name: str, arrival: str, kind_choices: dict[str, tuple[str, ...]]
) -> list[tuple[str, str]]:
    """Checks of a present value, by the field's type."""
    kind = FIELDS[name].type
    if kind is FieldType.DECIMAL:
        return _amount_cases(name, arrival)
    if kind is FieldType.DATE:
        return _date_cases(name, arrival)
    if arrival != Arrival.TEXT:
        return [("true", _q("must be text"))]
    if kind is FieldType.CURRENCY:
        # A map's key lookup, not `NOT IN (...)`: inside a CASE the engine tests a long
        # list one value at a time, which made this the costliest rule of a file.
        codes = ", ".join(f"{_q(code)}: true" for code in sorted(ISO_4217))
        return [
            (
                f"NOT map_contains(MAP {{{codes}}}, {name})",
                _naming("not an ISO 4217 currency code: ", name),
            )
        ]
    if kind is FieldType.IDENTIFIER:
        return [
            (
                f"NOT regexp_full_match({name}, {_q(IDENTIFIER_PATTERN)})",
                _q("must be 1-128 letters, digits or . _ : - (starting with a letter or digit)"),
            )
        ]
    if kind is FieldType.TEXT:
        return [
            (f"trim({name}) = ''", _q("is blank")),
            (
                f"length({name}) > {MAX_TEXT_LENGTH}",
                _q(f"longer than {MAX_TEXT_LENGTH} characters"),
            ),
            (f"regexp_matches({name}, '[\\x00-\\x1f\\x7f]')", _q("contains control characters")),
        ]
    if kind is FieldType.CHOICE:
        return [
            (
                f"kind = {_q(k)} AND {name} NOT IN {_in(choices)}",
                _naming(f"must be one of {', '.join(choices)}, not ", name),
            )
            for k, choices in kind_choices.items()
        ]
    raise AssertionError(f"no value checks for {kind}")


def _payload_problems(arrivals: dict[str, str]) -> list[str]:
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
            for cond, reason in _value_cases(name, arrivals[name], choices)
        ]
        problems.append(_first(name, cases))
    return problems


def _cross_field_problems() -> list[str]:
    repayment = f"kind IN {_in(REPAYMENT_KINDS)}"
    paid, due = "paid_date" + TYPED, "due_date" + TYPED
    with_amount = "kind IN ('rental', 'court_judgment')"
    attribute_cases = [
        (
            f"kind = 'attribute' AND attribute = {_q(attr)} AND value IS NOT NULL "
            f"AND value NOT IN {_in(values)}",
            _naming(f"{attr} must be one of {', '.join(values)}, not ", "value"),
        )
        for attr, values in ATTRIBUTE_VALUES.items()
    ] + [
        # A free-text value (an employer's name) must not record a special category: the
        # same words the points rulebook refuses to score.
        (
            f"kind = 'attribute' AND value IS NOT NULL "
            f"AND regexp_matches(value, {_q(sql_pattern(criterion))})",
            _q(f"names a prohibited category ({label}); such data is not recorded"),
        )
        for criterion, label in PROHIBITED.items()
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
                    f"{repayment} AND status = 'on_time' AND {paid} > {due}",
                    _q("is after due_date, so status cannot be on_time"),
                ),
                (
                    f"{repayment} AND status = 'late' AND {paid} <= {due}",
                    _q("is not after due_date, so status cannot be late"),
                ),
            ],
        ),
        _first(
            "currency",
            [
                (
                    f"{with_amount} AND amount IS NOT NULL AND currency IS NULL",
                    _q("required when amount is given"),
                )
            ],
        ),
        _first(
            "amount",
            [
                (
                    f"{with_amount} AND currency IS NOT NULL AND amount IS NULL",
                    _q("required when currency is given"),
                )
            ],
        ),
        _first("value", attribute_cases),
        _first(
            "friend_id",
            [
                (
                    "kind = 'friend_link' AND friend_id = person_id",
                    _q("a person cannot befriend themselves"),
                ),
                (
                    "kind = 'friend_link' AND friend_id IS NOT NULL AND friend_status IS NULL",
                    _naming("not an enrolled person: ", "friend_id"),
                ),
                (
                    "kind = 'friend_link' AND friend_id IS NOT NULL AND friend_status <> 'active'",
                    _naming(OPTED_OUT, "friend_id"),
                ),
            ],
        ),
    ]


def _presence(name: str, arrival: str) -> list[tuple[str, str]]:
    """A text envelope field's first checks: there if the catalogue requires it, and text."""
    cases = [(f"{name} IS NULL", _q("missing"))] if FIELDS[name].required else []
    if arrival != Arrival.TEXT:
        cases.append((f"{name} IS NOT NULL", _q("must be text")))
    return cases


def _envelope_problems(arrivals: dict[str, str]) -> list[str]:
    versions = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
    return [
        _first(
            "source",
            [
                *_presence("source", arrivals["source"]),
                (
                    f"NOT regexp_full_match(source, {_q(SOURCE_PATTERN)})",
                    _naming("must be 1-64 lower-case letters, digits or . _ - : ", "source"),
                ),
            ],
        ),
        _first(
            "event_id",
            [
                *_presence("event_id", arrivals["event_id"]),
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
                *_presence("person_id", arrivals["person_id"]),
                ("person_status IS NULL", _naming("not an enrolled person: ", "person_id")),
                ("person_status <> 'active'", _naming(OPTED_OUT, "person_id")),
            ],
        ),
        _first(
            "kind",
            [
                *_presence("kind", arrivals["kind"]),
                (
                    f"kind NOT IN {_in(EVENT_KINDS)}",
                    _naming(
                        f"unknown kind; expected one of {', '.join(EVENT_KINDS)}, not ", "kind"
                    ),
                ),
            ],
        ),
        _first(
            "schema_version",
            [
                (
                    "schema_version IS NOT NULL AND (schema_version" + TYPED + " IS NULL OR "
                    f"schema_version{TYPED} NOT IN ({versions}))",
                    _naming(
                        f"unsupported; this server reads version {versions}, not ", "schema_version"
                    ),
                )
            ],
        ),
        _first("occurred_at", _timestamp_cases("occurred_at", arrivals["occurred_at"])),
        _first(
            "recorded_at",
            [
                *_timestamp_cases("recorded_at", arrivals["recorded_at"])[:-1],
                (
                    f"occurred_at{TYPED} IS NOT NULL AND recorded_at{TYPED} < occurred_at{TYPED}",
                    _q("is earlier than occurred_at"),
                ),
            ],
        ),
    ]


@cache
def _compile(arrivals_key: tuple[tuple[str, str], ...]) -> str:
    arrivals = dict(arrivals_key)
    checks = ",\n        ".join(
        _envelope_problems(arrivals) + _payload_problems(arrivals) + _cross_field_problems()
    )
    typed = ", ".join(f"{_typed_expression(n, arrivals)} AS {n}{TYPED}" for n in INPUT_COLUMNS)
    return f"""
SELECT {LINE},
    list_filter([
        {checks}
    ], lambda problem: problem IS NOT NULL) AS problems,
    {", ".join(f"{n}{TYPED} AS {n}" for n in INPUT_COLUMNS)},
    strftime(occurred_at{TYPED}, '%Y-%m') AS {PARTITION}
FROM (
    SELECT raw.*, {typed}, people.birth_date, people.born_at, people.status AS person_status,
        friends.status AS friend_status,
        $now_limit::TIMESTAMPTZ AS now_limit
    FROM raw
    LEFT JOIN (
        SELECT person_id, birth_date, status,
            timezone({_q(BIRTH_TIME_ZONE)}, CAST(birth_date AS TIMESTAMP)) AS born_at
        FROM people
    ) AS people ON people.person_id = raw.person_id
    LEFT JOIN people AS friends ON friends.person_id = raw.friend_id
)
"""


def rules_sql(schema: pa.Schema) -> str:
    """The judging-and-typing query for input tables of this schema."""
    return _compile(tuple((n, arrival_of(n, schema.field(n).type)) for n in INPUT_COLUMNS))


@dataclass(frozen=True)
class CheckedChunk:
    """Problems found, and the name of the temp table holding the judged rows."""

    errors: list[RowError]
    table: str


def check_chunk(
    connection: duckdb.DuckDBPyConnection,
    raw: pa.Table,
    now: dt.datetime,
    into: str = "checked",
    max_errors: int | None = None,
) -> CheckedChunk:
    """Judge and type `raw` against the registered `people` table, into temp table `into`."""
    for name in INPUT_COLUMNS:  # a number where text belongs is judged as its text
        column = raw.column(name)
        if arrival_of(name, column.type) == Arrival.WRONG or finer_than_kept(column.type):
            raw = raw.set_column(
                raw.schema.get_field_index(name), name, pc.cast(column, pa.string())
            )
    connection.register(RAW, raw)
    try:
        return check_relation(connection, raw.schema, now, into, max_errors)
    finally:
        connection.unregister(RAW)


def finer_than_kept(arrow_type: pa.DataType) -> bool:
    """A timestamp with a time zone in nanoseconds: judged as its text (nine decimals), so
    that digits past the microsecond are refused as they are in text, not rounded away by
    the engine's cast (a resend changing only them passed for the same event, and
    23:59:59.999999999 was stored in the next month)."""
    return pa.types.is_timestamp(arrow_type) and arrow_type.unit == "ns" and bool(arrow_type.tz)


def check_relation(
    connection: duckdb.DuckDBPyConnection,
    schema: pa.Schema,
    now: dt.datetime,
    into: str = "checked",
    max_errors: int | None = None,
    shared: bool = False,
    derived: str = "",
) -> CheckedChunk:
    """Judge and type the relation named `raw` (of `schema`: the input columns and `_line`,
    none of a type `arrival_of` calls wrong) into temp table `into`; `check_chunk` of rows
    the engine reads itself, such as a Parquet file. `shared`: a table of the in-memory
    database instead, which the connection's cursors see too (a temp table is its own).
    `derived`: more columns (`expression AS name, ...`) computed over the typed columns in
    the same pass."""
    limit = now + dt.timedelta(seconds=CLOCK_SKEW_SECONDS)
    table = "TABLE" if shared else "TEMP TABLE"
    select = f"SELECT *, {derived} FROM ({rules_sql(schema)})" if derived else rules_sql(schema)
    connection.execute(
        f"CREATE OR REPLACE {table} {into} AS {select}",
        {"now_limit": limit.isoformat(), "received_at": now.isoformat()},
    )
    query = f"SELECT {LINE}, problems FROM {into} WHERE len(problems) > 0 ORDER BY {LINE}"
    if max_errors is not None:
        query += f" LIMIT {int(max_errors)}"
    errors: list[RowError] = []
    for line, problems in connection.execute(query).fetchall():
        for problem in problems:
            field, reason = problem.split("\t", 1)
            errors.append(RowError(int(line), field, reason))
    return CheckedChunk(errors, into)


def register_people(connection: duckdb.DuckDBPyConnection, people: pa.Table) -> None:
    """Make everyone enrolled (person_id, birth_date, status) available to the rules."""
    connection.register("people", people)
