"""Judging the rows of a payments file, column by column in Arrow: every bad row named by line,
field and reason, and no reason ever quoting a payer's name or ID number.

The column checks are the court list's (`court_rows`): the same tidying of text, the same
dates, the same way of collecting one reason per field and row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.domain import national_id
from kaimen.domain.currencies import ISO_4217
from kaimen.domain.errors import RowError
from kaimen.dueprocess.court_rows import (
    AMOUNT_TYPE,
    DEFAULT_CURRENCY,
    _dates,
    _in_range,
    _mask,
    _Rows,
    _text_field,
    _tidy,
    amount_digits,
)
from kaimen.input_files import LINE, int64_array, int64_values, text_array

COLUMNS = (
    "transaction_id",
    "payer_name",
    "payer_id_number",
    "amount",
    "currency",
    "paid_on",
    "destination_account",
    "reference",
)
MAX_TRANSACTION = 128
MAX_NAME = 200
MAX_ACCOUNT = 64
MAX_REFERENCE = 500
_AMOUNT = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"


@dataclass(frozen=True)
class CheckedPayments:
    """The rows that passed, normalised (every column equally long), and the others' errors."""

    line: npt.NDArray[np.int64]
    transaction_id: pa.Array
    payer_name: pa.Array
    payer_id_number: pa.Array
    amount: pa.Array
    currency: pa.Array
    paid_on: pa.Array
    destination_account: pa.Array
    reference: pa.Array
    errors: list[RowError]

    def __len__(self) -> int:
        return len(self.line)


def _payer_ids(rows: _Rows, table: pa.Table, today: dt.date) -> pa.Array:
    """Valid resident ID numbers (upper-case X), null where none was given."""
    number = pc.replace_substring(
        pc.utf8_upper(_tidy(table.column("payer_id_number").combine_chunks())), " ", ""
    )
    given = _mask(pc.is_valid(number))
    check = national_id.check_many(pc.fill_null(number, "").to_pylist(), today)
    reasons = np.array(check.reasons, dtype=object)
    for reason in national_id.REASONS:
        rows.refuse(
            given & (reasons == reason),
            "payer_id_number",
            f"{reason}: {national_id.reason_message(reason)}",
        )
    return number


def _amounts(rows: _Rows, table: pa.Table) -> pa.Array:
    text = amount_digits(_tidy(table.column("amount").combine_chunks()))
    rows.refuse(~_mask(pc.is_valid(text)), "amount", "missing")
    plain = pc.match_substring_regex(text, _AMOUNT)
    rows.refuse(~_mask(plain), "amount", "not a plain decimal number with at most 2 decimals")
    amount = pc.cast(pc.if_else(plain, text, pa.nulls(len(text), pa.string())), AMOUNT_TYPE)
    rows.refuse(_mask(pc.equal(amount, pa.scalar(0, AMOUNT_TYPE))), "amount", "must be above 0")
    return amount


def check_payments(table: pa.Table, today: dt.date) -> CheckedPayments:
    """Judge every row of `table` (COLUMNS as text, plus `_line`)."""
    rows = _Rows(int64_values(table.column(LINE).combine_chunks()))
    transaction = _text_field(rows, table, "transaction_id", MAX_TRANSACTION)
    name = _text_field(rows, table, "payer_name", MAX_NAME, required=False)
    number = _payer_ids(rows, table, today)
    amount = _amounts(rows, table)
    currency = pc.utf8_upper(
        pc.fill_null(_tidy(table.column("currency").combine_chunks()), DEFAULT_CURRENCY)
    )
    rows.refuse(
        ~_mask(pc.is_in(currency, value_set=text_array(sorted(ISO_4217)))),
        "currency",
        "not an ISO 4217 currency code",
    )
    date_text = _tidy(table.column("paid_on").combine_chunks())
    rows.refuse(~_mask(pc.is_valid(date_text)), "paid_on", "missing")
    paid = _dates(date_text)
    rows.refuse(~_mask(pc.is_valid(paid)), "paid_on", "not a real date as YYYY-MM-DD")
    rows.refuse(
        ~_mask(_in_range(paid, today)) & _mask(pc.is_valid(paid)),
        "paid_on",
        "must be between 1900-01-01 and today",
    )
    account = _text_field(rows, table, "destination_account", MAX_ACCOUNT)
    reference = pc.fill_null(
        _text_field(rows, table, "reference", MAX_REFERENCE, required=False), ""
    )
    errors = rows.errors + _repeats(transaction, rows.lines, rows.ok)
    keep = int64_array(np.flatnonzero(rows.ok))

    def kept(array: pa.Array) -> pa.Array:
        return pc.take(array, keep)

    return CheckedPayments(
        line=rows.lines[rows.ok],
        transaction_id=kept(transaction),
        payer_name=kept(name),
        payer_id_number=kept(number),
        amount=kept(amount),
        currency=kept(currency),
        paid_on=kept(paid),
        destination_account=kept(account),
        reference=kept(reference),
        errors=errors,
    )


def _repeats(
    transaction: pa.Array, lines: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_]
) -> list[RowError]:
    """Each good row whose transaction id an earlier good row already has."""
    rows = np.flatnonzero(ok)
    if not len(rows):
        return []
    codes = int64_values(pc.dictionary_encode(pc.take(transaction, int64_array(rows))).indices)
    _, first = np.unique(codes, return_index=True)
    first_row = first[codes]
    later = np.flatnonzero(first_row != np.arange(len(codes)))
    return [
        RowError(int(lines[rows[i]]), "transaction_id", f"repeats line {lines[rows[first_row[i]]]}")
        for i in later
    ]
