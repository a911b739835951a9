"""Counting days the way a deadline's law counts them: calendar days, or working days in one
jurisdiction's calendar (weekends and public holidays off, and in China the weekend days
declared working days to bridge a holiday counted in), from the maintained `holidays` library.

A calendar is named `country:CC` (ISO 3166 code, e.g. `country:CN`) or `financial:MIC`
(a market's calendar, e.g. `financial:XECB` for the euro area's TARGET days).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import TYPE_CHECKING

from kaimen.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from holidays import HolidayBase

_KINDS = ("country", "financial")


def check_calendar(name: str) -> str:
    """`name` when the holidays library knows it; a ConfigurationError naming it otherwise.

    Looked up in the library's list of calendars and their codes, without loading one:
    every profile is checked when it loads (the monthly batch, each command), and loading
    China's calendar took 0.33 s on top of the library's import."""
    from holidays import registry

    kind, code = _parts(name)
    entities = registry.COUNTRIES if kind == "country" else registry.FINANCIAL
    # Each entry: the entity's class name, then the codes it answers to.
    if not any(code in codes[1:] for codes in entities.values()):
        raise _unknown(name)
    return name


def _parts(name: str) -> tuple[str, str]:
    kind, _, code = name.partition(":")
    if kind not in _KINDS or not code:
        raise ConfigurationError(
            f"calendar {name!r} must be 'country:<ISO code>' or 'financial:<market code>'"
        )
    return kind, code


def _unknown(name: str) -> ConfigurationError:
    return ConfigurationError(f"the holidays library has no calendar {name!r}")


@lru_cache(maxsize=64)
def _holidays(name: str, year: int) -> HolidayBase:
    import holidays  # imported where used: only deadline work needs it

    kind, code = _parts(name)
    try:
        if kind == "country":
            return holidays.country_holidays(code, years=year)
        return holidays.financial_holidays(code, years=year)
    except NotImplementedError:
        raise _unknown(name) from None


def is_working_day(day: dt.date, calendar: str) -> bool:
    """Whether `day` is a working day in `calendar` (make-up working days included)."""
    return bool(_holidays(calendar, day.year).is_working_day(day))


def add_working_days(start: dt.date, count: int, calendar: str) -> dt.date:
    """The `count`-th working day after `start` (`start` itself never counts: a deadline of
    three working days from a Friday payment ends on the third working day after it)."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    remaining = count
    while remaining:
        day += dt.timedelta(days=1)
        if is_working_day(day, calendar):
            remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date, calendar: str) -> int:
    """Working days after `start` up to and including `end` (0 when `end` <= `start`)."""
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day, calendar):
            count += 1
    return count
