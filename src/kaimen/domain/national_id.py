"""Chinese resident identity numbers (GB 11643-1999), validated one at a time or in bulk.

Checks run in a fixed order and the first failure is the reason: `format` (18 ASCII
characters, 17 digits then a digit or X), `region` (a province-level prefix of GB/T 2260),
`birth_date` (a real calendar date, not in the future, not before 1900) and `check_digit`
(ISO 7064 MOD 11-2). The birth date is the only fact from the number's content that scoring
uses. Sex (the 17th digit's parity) and the province (the first two digits) could proxy for
protected traits: they are kept only for the fairness audit, encrypted in a table of their own
that no feature or model reads (`kaimen.scoring.fairness`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kaimen.domain.errors import IdentityRejected

# Province-level prefixes of GB/T 2260 (mainland), plus 71 Taiwan, 81 Hong Kong, 82 Macao,
# and 83 for residence permits of Taiwan residents.
PROVINCE_CODES: frozenset[int] = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = dt.date(1900, 1, 1)
# The birth date in the number is a date in China: a moment is on or after it when its date
# in Beijing time is.
BIRTH_TIME_ZONE = "Asia/Shanghai"

REASONS = ("format", "region", "birth_date", "check_digit")


@dataclass(frozen=True)
class NationalId:
    """A validated, normalised identity number (upper-case X)."""

    value: str
    birth_date: dt.date

    def __repr__(self) -> str:  # never print the number itself
        return "NationalId(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class BulkCheck:
    """Result of `check_many`: normalised values, a reason per row ('' when valid), birth dates."""

    normalised: list[str]
    reasons: list[str]
    birth_dates: npt.NDArray[np.datetime64]


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(c) * int(w) for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def check_many(values: list[str], today: dt.date) -> BulkCheck:
    """Validate many numbers at once (vectorised); see the module docstring for the order."""
    normalised = [v.strip().upper() if isinstance(v, str) else "" for v in values]
    n = len(normalised)
    reasons = np.full(n, "", dtype=object)
    births = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if n == 0:
        return BulkCheck([], [], births)
    raw = np.array(normalised, dtype="U19")  # one spare code point exposes over-long input
    lengths = np.fromiter((len(v) for v in normalised), dtype=np.int64, count=n)
    # Unicode code points, padded with 0 past each string's end.
    codes = raw.view(np.uint32).reshape(n, 19)[:, :18].astype(np.int64)
    is_digit = (codes >= 48) & (codes <= 57)
    last_ok = is_digit[:, 17] | (codes[:, 17] == ord("X"))
    ok_format = (lengths == 18) & is_digit[:, :17].all(axis=1) & last_ok
    reasons[~ok_format] = "format"

    digits = np.where(is_digit, codes - 48, 0)
    province = digits[:, 0] * 10 + digits[:, 1]
    ok_region = np.isin(province, list(PROVINCE_CODES))
    reasons[ok_format & ~ok_region] = "region"

    year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    pending = ok_format & ok_region
    valid_date = pending & (month >= 1) & (month <= 12) & (day >= 1) & (year >= 1)
    month_start = np.zeros(n, dtype="datetime64[M]")
    month_start[valid_date] = ((year[valid_date] - 1970) * 12 + (month[valid_date] - 1)).astype(
        "datetime64[M]"
    )
    days_in_month = (month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")
    valid_date &= day <= days_in_month.astype(np.int64)
    births[valid_date] = month_start[valid_date].astype("datetime64[D]") + (day[valid_date] - 1)
    in_range = (births >= np.datetime64(EARLIEST_BIRTH)) & (births <= np.datetime64(today))
    ok_birth = valid_date & in_range
    reasons[pending & ~ok_birth] = "birth_date"

    pending &= ok_birth
    check_index = (digits[:, :17] @ WEIGHTS) % 11
    expected = np.array([ord(c) for c in CHECK_CHARS])[check_index]
    reasons[pending & (expected != codes[:, 17])] = "check_digit"
    births[reasons != ""] = np.datetime64("NaT")
    return BulkCheck(normalised, [str(r) for r in reasons], births)


def sex_of(value: str) -> str:
    """'male' or 'female' from a valid number's 17th digit (odd for men, GB 11643-1999)."""
    return "male" if int(value[16]) % 2 else "female"


def province_of(value: str) -> str:
    """The two-digit province-level code a valid number starts with.

    Only the province is kept, not the six-digit county code: the county is where the number
    was first issued, not where someone lives, and its thousands of values would leave nearly
    every group too small to report while, with the birth date and sex, nearly naming people.
    """
    return value[:2]


def reason_message(reason: str) -> str:
    """A sentence for a rejection reason code."""
    return {
        "format": "must be 18 ASCII characters: 17 digits then a digit or X",
        "region": "the first two digits are not a province-level region code",
        "birth_date": "digits 7-14 are not a real birth date between 1900 and today",
        "check_digit": "the last character does not match the ISO 7064 MOD 11-2 check",
    }[reason]


def parse(value: str, today: dt.date) -> NationalId:
    """Validate one number; raises `IdentityRejected` naming the reason."""
    result = check_many([value], today)
    reason = result.reasons[0]
    if reason:
        raise IdentityRejected(reason, f"national ID {reason_message(reason)}")
    birth = result.birth_dates[0].astype(dt.date)
    return NationalId(result.normalised[0], birth)
