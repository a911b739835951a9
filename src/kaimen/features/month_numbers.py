"""Months as numbers (year * 12 + month - 1) inside the engine, and back to 'YYYY-MM' text.

Summarising groups every event by its two months. Their text, made per event, and the
calendar functions behind it (the ICU time-zone code on DuckDB) were the dearest part of the
step; a number is made from the event's epoch with a few integer operations, grouped by,
and named as text once per summary row.
"""

from __future__ import annotations

import datetime as dt  # the UDF's annotations below are read at run time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

# Ibis is imported inside the functions, as in kaimen.features.summaries.

MICROS_PER_DAY = 86_400_000_000
# Days from 0000-03-01 (the civil calendar's year starting in March, so the leap day comes
# last) to 1970-01-01, and the days of a 400-year era.
DAYS_BEFORE_EPOCH = 719_468
DAYS_PER_ERA = 146_097


def month_number(timestamp: ir.TimestampValue) -> ir.IntegerValue:
    """The month (UTC) of `timestamp` as year * 12 + month - 1, for years 0 to 9999."""
    import ibis
    from ibis.common.exceptions import IbisError

    try:
        engine = ibis.get_backend(timestamp).name
    except IbisError:  # an unbound table: no engine known yet, so the portable form
        engine = None
    if engine != "duckdb":
        return timestamp.year().cast("int64") * 12 + timestamp.month().cast("int64") - 1

    @ibis.udf.scalar.builtin(name="epoch_us")  # type: ignore[untyped-decorator]
    def epoch_us(value: dt.datetime) -> int:  # type: ignore[empty-body]
        """DuckDB's epoch_us: microseconds since 1970-01-01 UTC, with no calendar work."""

    @ibis.udf.scalar.builtin(name="divide")  # type: ignore[untyped-decorator]
    def divide(numerator: int, denominator: int) -> int:  # type: ignore[empty-body]
        """DuckDB's integer division (Ibis's `//` divides as doubles, at twice the cost)."""

    # Counted from 0000-03-01, so every number divided below is positive and a truncating
    # division is the floor.
    micros = epoch_us(timestamp) + DAYS_BEFORE_EPOCH * MICROS_PER_DAY
    days = divide(micros, MICROS_PER_DAY)
    # Howard Hinnant's `civil_from_days` in years that start in March (the leap day last):
    # March-based year Y and month index m (0 = March) is month number Y * 12 + m + 2,
    # whether the month falls in Y or, for January and February, in Y + 1.
    era = divide(days, DAYS_PER_ERA)
    day_of_era = days - era * DAYS_PER_ERA
    year_of_era = divide(
        day_of_era
        - divide(day_of_era, 1460)
        + divide(day_of_era, 36_524)
        - divide(day_of_era, DAYS_PER_ERA - 1),
        365,
    )
    day_of_year = day_of_era - (
        year_of_era * 365 + divide(year_of_era, 4) - divide(year_of_era, 100)
    )
    month_from_march = divide(day_of_year * 5 + 2, 153)
    number: ir.IntegerValue = (era * 400 + year_of_era) * 12 + month_from_march + 2
    return number


def month_text(number: ir.IntegerValue) -> ir.StringValue:
    """The 'YYYY-MM' text of a `month_number` (years 1000 to 9999)."""
    year = (number // 12).cast("string")
    month = (number % 12 + 1).cast("string").lpad(2, "0")
    text: ir.StringValue = year + "-" + month
    return text
