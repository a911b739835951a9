"""One canonical spelling per category code, in training and in scoring.

A code read from a CSV as `2`, from Parquet as `2.0` or typed as " 2 " is the same code; compared
as raw text they are three codes, two of them unseen in training, and a card would score them
with its unseen bin. So every category is reduced to one form before it is binned or scored:

- None, NaN and text that is empty after trimming are missing (a blank is not a category);
- a number, or text that reads as a plain decimal number, is written as an integer when it is a
  whole number ("2.0", " 2 ", 2, 2.0 and "+2" all become "2") and otherwise by Python's shortest
  round-trip form of the double ("2.50" becomes "2.5");
- any other text is trimmed and otherwise kept as it is (case and inner spaces included).

Only plain decimal text counts as a number ("1e3", "inf" and "0x10" stay text), so a code like
"A11" or "inf" is never mistaken for one. The scorecard's database expression
(`kaimen.model.scorecard.characteristic_points`) applies the same rules in SQL.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

# Digits with an optional sign and at most one decimal point: what a spreadsheet or a float
# column writes for a code. DECIMAL_PATTERN is the same rule for the database expression.
DECIMAL_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
_DECIMAL = re.compile(DECIMAL_PATTERN)
# Beyond 2^53 a double no longer holds every whole number, so such codes keep the float form.
_EXACT = 2.0**53


def _number_code(number: float) -> str:
    if number == math.floor(number) and abs(number) < _EXACT:
        return str(int(number))
    return repr(number)


def canonical_code(value: object) -> str | None:
    """The canonical form of one category code; None when the value is missing."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        # A flag arrives as True/False from Python but 1/0 from a file: one code each.
        return "1" if value else "0"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return None
        return _number_code(number) if math.isfinite(number) else repr(number)
    text = str(value).strip()
    if not text:
        return None
    if _DECIMAL.match(text):
        return _number_code(float(text))
    return text


def canonical_codes(values: npt.ArrayLike) -> tuple[BoolArray, StrArray]:
    """Which values are missing, and the others in canonical form (see the module doc)."""
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {array.shape}")
    # Codes repeat a lot (a column holds a handful of them), so each distinct one is read once.
    known: dict[tuple[type, object], str | None] = {}
    codes: list[str | None] = []
    for value in array.tolist():
        key = (type(value), value)
        if key not in known:
            known[key] = canonical_code(value)
        codes.append(known[key])
    missing: BoolArray = np.array([c is None for c in codes], dtype=bool)
    text: StrArray = np.array([c for c in codes if c is not None], dtype=str)
    return missing, text
