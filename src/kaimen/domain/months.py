"""Months as kaimen writes them: `YYYY-MM`."""

from __future__ import annotations

import re

MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"
_MONTH = re.compile(MONTH_PATTERN)


def is_month(text: str) -> bool:
    return _MONTH.fullmatch(text) is not None
