"""Months as kaimen writes them everywhere: `YYYY-MM`, e.g. 2026-10."""

from __future__ import annotations

import datetime as dt
import re

MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"
_MONTH = re.compile(MONTH_PATTERN)


def is_month(text: str) -> bool:
    """Whether `text` is a month written YYYY-MM."""
    return _MONTH.fullmatch(text) is not None


def month_of_instant(at: dt.datetime) -> str:
    """The month (in UTC) that instant `at` falls in; a month before it has ended by then."""
    return at.astimezone(dt.UTC).strftime("%Y-%m")
