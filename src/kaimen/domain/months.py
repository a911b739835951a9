"""Months as kaimen writes them everywhere: `YYYY-MM`, e.g. 2026-10."""

from __future__ import annotations

import re

MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"
_MONTH = re.compile(MONTH_PATTERN)


def is_month(text: str) -> bool:
    """Whether `text` is a month written YYYY-MM."""
    return _MONTH.fullmatch(text) is not None
