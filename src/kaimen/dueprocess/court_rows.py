"""Judging the rows of a court list, column by column in Arrow: every bad row named by line,
field and reason, and no reason ever quoting a name or an ID number.

A row's ID number is 18 characters: digits, `X` last, and `*` where the court masked a
digit. One without a mask that passes every check of a resident ID is `full`; one with a
mask is `masked`; one without a mask that fails a check (a digit mistyped at the court) is
`unverified`. All three are accepted: only a full number links on its own, the others go to
probabilistic matching.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.domain import national_id
from kaimen.domain.court_list import FILE_STATUSES, ID_LENGTH, MASK
from kaimen.domain.currencies import ISO_4217
from kaimen.domain.errors import RowError
from kaimen.input_files import LINE, bool_values, int64_array, int64_values, text_array
from kaimen.store.case_numbers import normalise_case_numbers

COLUMNS = (
    "name",
    "id_number",
    "case_number",
    "court",
    "amount",
    "currency",
    "judgment_date",
    "status",
)
DEFAULT_CURRENCY = "CNY"
DEFAULT_STATUS = "entered"
MAX_NAME = 200
MAX_COURT = 200
MAX_CASE = 100
AMOUNT_TYPE = pa.decimal128(18, 2)
_AMOUNT = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"
# Thousands written with commas, as people write them: only in groups of three.
_GROUPED = r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]{1,2})?$"
_ID_SHAPE = rf"^[0-9{MASK}]{{{ID_LENGTH - 1}}}[0-9X{MASK}]$"
_UNREADABLE = r"[\p{Cc}\p{Cf}]"
_EARLIEST = dt.date(1900, 1, 1)
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class CheckedRows:
    """The rows that passed, in their normalised forms (every column equally long), and the
    errors of those that did not."""

    line: npt.NDArray[np.int64]
    name: pa.Array
    id_number: pa.Array
    id_form: pa.Array
    birth_date: pa.Array
    case_number: pa.Array
    court: pa.Array
    amount: pa.Array
    currency: pa.Array
    judgment_date: pa.Array
    status: pa.Array
    errors: list[RowError]

    def __len__(self) -> int:
        return len(self.line)


def _text(value: str) -> pa.Scalar:
    """An Arrow text scalar: a plain Python argument to a compute function goes through
    `pa.scalar`, which imports pandas (over a second) into a command that reads a CSV."""
    return text_array([value])[0]


def _number(value: int) -> pa.Scalar:
    return int64_array(np.array([value]))[0]


def _day(value: dt.date) -> pa.Scalar:
    days = (value - dt.date(1970, 1, 1)).days
    return pc.cast(int64_array(np.array([days])).cast(pa.int32()), pa.date32())[0]


def _mask(array: pa.Array | pa.ChunkedArray) -> Mask:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return bool_values(array)


def _tidy(array: pa.Array) -> pa.Array:
    """Unicode NFKC, trimmed, inner runs of white space as one space; empty as null."""
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(array, "NFKC"))
    text = pc.replace_substring_regex(text, r"\s+", " ")
    return pc.if_else(pc.equal(text, _text("")), pa.nulls(len(text), pa.string()), text)


class _Rows:
    """Collects errors per row while the columns are judged."""

    def __init__(self, lines: npt.NDArray[np.int64]) -> None:
        self.lines = lines
        self.ok = np.ones(len(lines), dtype=bool)
        self.errors: list[RowError] = []
        self._refused: dict[str, Mask] = {}

    def refuse(self, where: Mask, field: str, reason: str) -> None:
        where = where & self.ok_or_field(field)
        self.errors += [RowError(int(line), field, reason) for line in self.lines[where]]
        self.ok &= ~where
        self._refused[field] = self._refused.get(field, np.zeros_like(where)) | where

    def ok_or_field(self, field: str) -> Mask:
        """Rows without an error in `field` yet: one reason per field and row."""
        refused = self._refused.get(field)
        return np.ones(len(self.lines), dtype=bool) if refused is None else ~refused


def _text_field(
    rows: _Rows, table: pa.Table, field: str, longest: int, required: bool = True
) -> pa.Array:
    value = _tidy(table.column(field).combine_chunks())
    if required:
        rows.refuse(~_mask(pc.is_valid(value)), field, "missing")
    rows.refuse(
        _mask(pc.greater(pc.utf8_length(value), _number(longest))), field, f"longer than {longest}"
    )
    rows.refuse(
        _mask(pc.match_substring_regex(value, _UNREADABLE)),
        field,
        "contains control or invisible formatting characters",
    )
    return value


def _dates(text: pa.Array) -> pa.Array:
    """ISO dates (YYYY-MM-DD) as date32, null where the text is not exactly a real date."""
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2024-02-30 over into March: only a date that prints back as given is one.
    exact = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), text)
    return pc.if_else(exact, pc.cast(parsed, pa.date32()), pa.nulls(len(text), pa.date32()))


def _in_range(dates: pa.Array, today: dt.date) -> pa.Array:
    """True where a date lies between 1900-01-01 and today, null where there is none."""
    earliest, latest = _day(_EARLIEST), _day(today)
    return pc.and_(pc.greater_equal(dates, earliest), pc.less_equal(dates, latest))


def _id_numbers(
    rows: _Rows, table: pa.Table, today: dt.date
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(normalised number, form, birth date) of every row."""
    raw = pc.utf8_upper(_tidy(table.column("id_number").combine_chunks()))
    raw = pc.replace_substring(raw, " ", "")
    rows.refuse(~_mask(pc.is_valid(raw)), "id_number", "missing")
    rows.refuse(
        ~_mask(pc.match_substring_regex(raw, _ID_SHAPE)),
        "id_number",
        f"must be {ID_LENGTH} characters: digits, X last, and {MASK} for a masked digit",
    )
    number = pc.fill_null(raw, _text(""))
    masked = _mask(pc.match_substring(number, MASK))
    check = national_id.check_many(number.to_pylist(), today)
    valid = np.array([reason == "" for reason in check.reasons], dtype=bool)
    form = np.where(masked, "masked", np.where(valid, "full", "unverified"))
    # A masked or unverifiable number still gives a birth date when digits 7-14 are shown
    # and form one.
    digits = pc.utf8_slice_codeunits(number, 6, 14)
    shown = pc.if_else(
        pc.match_substring_regex(digits, r"^[0-9]{8}$"),
        pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(digits, 0, 4),
            pc.utf8_slice_codeunits(digits, 4, 6),
            pc.utf8_slice_codeunits(digits, 6, 8),
            _text("-"),
        ),
        pa.nulls(len(digits), pa.string()),
    )
    births = _dates(shown)
    births = pc.if_else(_in_range(births, today), births, pa.nulls(len(births), pa.date32()))
    return number, text_array(form.tolist()), births


def amount_digits(text: pa.Array) -> pa.Array:
    """Amounts as written, with thousands separators taken out where they separate thousands
    (`12,345.60`); any other comma stays, for the amount rule to refuse: `12,34` is not
    1234, and guessing what was meant would store another sum."""
    grouped = pc.match_substring_regex(text, _GROUPED)
    return pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)


def check_rows(table: pa.Table, today: dt.date) -> CheckedRows:
    """Judge every row of `table` (COLUMNS as text, plus `_line`)."""
    rows = _Rows(int64_values(table.column(LINE).combine_chunks()))
    name = _text_field(rows, table, "name", MAX_NAME)
    number, form, birth = _id_numbers(rows, table, today)
    case_number = _text_field(rows, table, "case_number", MAX_CASE)
    court = _text_field(rows, table, "court", MAX_COURT)

    amount_text = amount_digits(_tidy(table.column("amount").combine_chunks()))
    rows.refuse(~_mask(pc.is_valid(amount_text)), "amount", "missing")
    rows.refuse(_mask(pc.starts_with(amount_text, "-")), "amount", "must not be negative")
    plain = pc.match_substring_regex(amount_text, _AMOUNT)
    rows.refuse(
        ~_mask(plain), "amount", "not a plain decimal number with at most 2 decimals (max 1e16)"
    )
    amount = pc.cast(
        pc.if_else(plain, amount_text, pa.nulls(len(amount_text), pa.string())), AMOUNT_TYPE
    )

    currency = pc.utf8_upper(
        pc.fill_null(_tidy(table.column("currency").combine_chunks()), _text(DEFAULT_CURRENCY))
    )
    rows.refuse(
        ~_mask(pc.is_in(currency, value_set=text_array(sorted(ISO_4217)))),
        "currency",
        "not an ISO 4217 currency code",
    )

    date_text = _tidy(table.column("judgment_date").combine_chunks())
    rows.refuse(~_mask(pc.is_valid(date_text)), "judgment_date", "missing")
    judged = _dates(date_text)
    rows.refuse(~_mask(pc.is_valid(judged)), "judgment_date", "not a real date as YYYY-MM-DD")
    rows.refuse(
        ~_mask(_in_range(judged, today)) & _mask(pc.is_valid(judged)),
        "judgment_date",
        "must be between 1900-01-01 and today",
    )

    status = pc.utf8_lower(
        pc.fill_null(_tidy(table.column("status").combine_chunks()), _text(DEFAULT_STATUS))
    )
    rows.refuse(
        ~_mask(pc.is_in(status, value_set=text_array(list(FILE_STATUSES)))),
        "status",
        f"must be one of {', '.join(FILE_STATUSES)}",
    )

    errors = rows.errors + _repeats(court, case_number, rows.lines, rows.ok)
    keep = int64_array(np.flatnonzero(rows.ok))

    def kept(array: pa.Array) -> pa.Array:
        return pc.take(array, keep)

    return CheckedRows(
        line=rows.lines[rows.ok],
        name=kept(name),
        id_number=kept(number),
        id_form=kept(form),
        birth_date=kept(birth),
        case_number=kept(case_number),
        court=kept(court),
        amount=kept(amount),
        currency=kept(currency),
        judgment_date=kept(judged),
        status=kept(status),
        errors=errors,
    )


def case_key_of(case_number: pa.Array) -> pa.Array:
    """A case number as it is compared (and stored as `case_key`): the form payment
    references are matched in (`store.case_numbers.normalise_case_numbers`), so
    `（2025）京0105执 1234号` is the case `(2025)京0105执1234号` whichever way a court writes it."""
    return normalise_case_numbers(case_number)


def case_keys(court: pa.Array, case_number: pa.Array) -> pa.Array:
    """One text key per (court, case number), the case number compared as `case_key_of`
    gives it; the separator appears in neither."""
    return pc.binary_join_element_wise(court, case_key_of(case_number), _text("\x1f"))


def _repeats(
    court: pa.Array, case_number: pa.Array, lines: npt.NDArray[np.int64], ok: Mask
) -> list[RowError]:
    """Each row whose (court, case number) an earlier good row already has."""
    rows = np.flatnonzero(ok)
    if not len(rows):
        return []
    at = int64_array(rows)
    keys = case_keys(pc.take(court, at), pc.take(case_number, at))
    codes = int64_values(pc.dictionary_encode(keys).indices)
    _, first = np.unique(codes, return_index=True)
    first_row = first[codes]
    later = np.flatnonzero(first_row != np.arange(len(codes)))
    return [
        RowError(int(lines[rows[i]]), "case_number", f"repeats line {lines[rows[first_row[i]]]}")
        for i in later
    ]
