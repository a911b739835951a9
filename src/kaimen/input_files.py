"""Reading tabular input (CSV, JSON Lines, Parquet, or records from HTTP) into one shape.

Every input becomes an Arrow table of text columns plus `_line`, the 1-based position a person
would look for: the physical line in CSV (header is line 1) and JSON Lines, the row in Parquet,
the item in an HTTP list. Values stay text so that every later check can name the exact bad
value; structural problems (unknown fields, malformed lines) are collected, not raised, so the
error report lists every bad row at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kaimen.domain.errors import InputFileError, RowError

LINE = "_line"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class InputTable:
    """Text columns (only the allowed ones, all present) plus `_line`, and structural errors."""

    table: pa.Table
    errors: list[RowError]
    sha256: str
    name: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], lines: pa.Array, allowed: Sequence[str]
) -> pa.Table:
    n = len(lines)
    data = {
        name: columns[name] if name in columns else pa.nulls(n, pa.string()) for name in allowed
    }
    data[LINE] = lines
    return pa.table(data)


def _unknown(names: Sequence[str], allowed: Sequence[str], line: int) -> list[RowError]:
    known = set(allowed)
    errors = [RowError(line, n, "unknown field") for n in names if n not in known]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            errors.append(RowError(line, n, "column appears twice"))
        seen.add(n)
    return errors


def _read_csv(path: Path, allowed: Sequence[str]) -> tuple[pa.Table, list[RowError]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise InputFileError(f"{path.name}: empty CSV file (a header line is required)")
    errors = _unknown(header, allowed, 1)
    if errors:
        return _complete({}, pa.array([], pa.int64()), allowed), errors

    def read(threads: bool, handler: Any = None) -> pa.Table:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=threads, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    numbered: list[tuple[int, int, int]] = []

    def skip(row: Any) -> str:
        numbered.append((row.number or 0, row.expected_columns, row.actual_columns))
        return "skip"

    table = read(True, skip)
    if numbered:
        # Only a single-threaded read numbers the bad lines; worth it on the error path alone.
        numbered.clear()
        table = read(False, skip)
        errors = [
            RowError(number, "*", f"has {actual} fields, the header has {expected}")
            for number, expected, actual in numbered
        ]
        # The good rows are the data lines that were not skipped.
        skipped = np.array([e[0] for e in numbered], dtype=np.int64)
        every = np.arange(2, table.num_rows + len(skipped) + 2, dtype=np.int64)
        rows = np.setdiff1d(every, skipped)
        lines = pa.array(rows)
    else:
        lines = pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64))
    columns = {name: table.column(name) for name in table.column_names}
    return _complete(columns, lines, allowed), errors


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    raise TypeError


def records_table(
    records: Sequence[Mapping[str, Any]], allowed: Sequence[str], first_line: int = 1
) -> tuple[pa.Table, list[RowError]]:
    """Records (from JSON) to text columns; numbers must already be text (see `_read_jsonl`)."""
    errors: list[RowError] = []
    columns: dict[str, list[str | None]] = {name: [] for name in allowed}
    known = set(allowed)
    for offset, record in enumerate(records):
        line = first_line + offset
        for name in record:
            if name not in known:
                errors.append(RowError(line, name, "unknown field"))
        for name in allowed:
            raw = record.get(name)
            try:
                columns[name].append(_text(raw))
            except TypeError:
                errors.append(RowError(line, name, "must be a single value, not a list or object"))
                columns[name].append(None)
    lines = pa.array(np.arange(first_line, first_line + len(records), dtype=np.int64))
    arrays = {name: pa.array(values, pa.string()) for name, values in columns.items()}
    return _complete(arrays, lines, allowed), errors


def _read_jsonl(path: Path, allowed: Sequence[str]) -> tuple[pa.Table, list[RowError]]:
    errors: list[RowError] = []
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                # Numbers and NaN/Infinity stay as written, so checks can quote them exactly.
                record = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
            except json.JSONDecodeError as exc:
                errors.append(RowError(number, "*", f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(record, dict):
                errors.append(RowError(number, "*", "each line must be a JSON object"))
                continue
            records.append(record)
            lines.append(number)
    table, record_errors = records_table(records, allowed)
    line_array = pa.array(lines, pa.int64())
    remap = {i + 1: line for i, line in enumerate(lines)}
    errors += [RowError(remap[e.line], e.field, e.reason) for e in record_errors]
    return table.set_column(table.schema.get_field_index(LINE), LINE, line_array), errors


def _read_parquet(path: Path, allowed: Sequence[str]) -> tuple[pa.Table, list[RowError]]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    errors = _unknown(table.column_names, allowed, 1)
    columns: dict[str, pa.ChunkedArray] = {}
    for name in table.column_names:
        if name not in allowed:
            continue
        column = table.column(name)
        try:
            columns[name] = column if column.type == pa.string() else pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            errors.append(RowError(1, name, f"column type {column.type} cannot hold this field"))
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return _complete(columns, lines, allowed), errors


def read_input(path: Path, allowed: Sequence[str]) -> InputTable:
    """Read a CSV, JSON Lines or Parquet file (chosen by its extension)."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            f"{path.name}: unknown file type {path.suffix!r}; use .csv, .jsonl or .parquet"
        )
    try:
        if kind == "csv":
            table, errors = _read_csv(path, allowed)
        elif kind == "jsonl":
            table, errors = _read_jsonl(path, allowed)
        else:
            table, errors = _read_parquet(path, allowed)
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except pa.ArrowInvalid as exc:
        raise InputFileError(f"{path.name}: cannot be parsed as {kind} ({exc})") from exc
    return InputTable(table, errors, file_sha256(path), path.name)
