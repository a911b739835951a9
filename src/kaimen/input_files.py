"""Reading tabular input (CSV, JSON Lines, Parquet, or records from HTTP) into one shape.

Every input becomes Arrow tables (chunks) of columns plus `_line`, the 1-based position a person
would look for: the physical line in CSV (header is line 1) and JSON Lines, the row in Parquet,
the item in an HTTP list. Values stay text (or their Parquet type) so that every later check
can name the exact bad value; structural problems (unknown fields, malformed lines) are collected, not raised, so the
error report lists every bad row at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kaimen.domain.errors import InputFileError, NothingToRead, RowError
from kaimen.domain.json_values import DuplicateKey, unique_members
from kaimen.domain.text import excerpt, is_unicode

LINE = "_line"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def int64_array(values: npt.ArrayLike) -> pa.Array:
    """Arrow int64 over NumPy's buffer. `pa.array` is avoided on this path: before converting
    anything it asks pandas whether the input is a pandas object, which imports pandas (over a
    second) into a command that only reads a CSV."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def text_array(values: Sequence[str | None]) -> pa.Array:
    """Arrow text from Python strings (or None), without `pa.array`'s pandas import."""
    builder = pa.lib.StringBuilder()
    builder.append_values(values)
    array: pa.Array = builder.finish()
    return array


def int64_values(array: pa.Array) -> npt.NDArray[np.int64]:
    """NumPy's view of an int64 array without nulls. `to_numpy` is avoided for the same
    reason as `pa.array`: Arrow's converter loads pandas on first use."""
    if array.null_count:
        raise ValueError("int64_values needs an array without nulls")
    data = array.cast(pa.int64()).buffers()[1]
    return np.frombuffer(data, dtype=np.int64, count=len(array), offset=8 * array.offset)


def bool_values(array: pa.Array) -> npt.NDArray[np.bool_]:
    """NumPy booleans of an Arrow boolean array, null as False (see `int64_values`)."""
    validity, data = array.buffers()[:2]
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    values = bits[array.offset : array.offset + len(array)].astype(bool)
    if validity is not None and array.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        values &= valid[array.offset : array.offset + len(array)].astype(bool)
    return values


def _no_lines() -> pa.Array:
    return int64_array(np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class InputChunk:
    """Part of a file: allowed columns (text, or natively typed from Parquet) plus `_line`."""

    table: pa.Table
    errors: list[RowError]


@dataclass(frozen=True)
class InputTable:
    """Text columns (only the allowed ones, all present) plus `_line`, and structural errors."""

    table: pa.Table
    errors: list[RowError]
    sha256: str
    name: str


def not_a_file(path: Path) -> InputFileError:
    """The refusal of a path that is not a regular file, saying what it is instead."""
    if path.is_dir():
        return InputFileError(f"{path}: a folder, not a file")
    if path.exists():
        return InputFileError(f"{path}: not a regular file (a pipe or a device)")
    return InputFileError(f"{path}: no such file")


def file_sha256(path: Path) -> str:
    """The file's SHA-256, or `InputFileError` when it cannot be read."""
    if not path.is_file():
        raise not_a_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from exc
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
    errors = [RowError(line, _named(n), "unknown field") for n in names if n not in known]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            errors.append(RowError(line, _named(n), "column appears twice"))
        seen.add(n)
    return errors


def _named(column: str) -> str:
    """A header's column as an error names it (a blank one, say a trailing comma's, too)."""
    return excerpt(column) if column.strip() else "(a column with no name)"


def _csv_chunks(path: Path, allowed: Sequence[str], rows: int) -> Iterator[InputChunk]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = csv.reader(handle)
        try:
            with _whole_fields():
                header = next(records, None)
                # Arrow's reader cannot size a header with no line after it; and a header
                # alone is refused like an empty file, so look for one non-blank line past it.
                has_rows = any(row for row in records)
        except csv.Error as exc:
            raise InputFileError(
                f"{path.name}, line {records.line_num}: not valid CSV ({exc})"
            ) from exc
    if not header or not has_rows:
        raise NothingToRead(path.name)
    errors = _unknown(header, allowed, 1)
    if errors:
        yield InputChunk(_complete({}, _no_lines(), allowed), errors)
        return
    skipped: list[tuple[int, int, int]] = []

    def skip(row: Any) -> str:
        skipped.append((row.number or 0, row.expected_columns, row.actual_columns))
        return "skip"

    reader = pacsv.open_csv(
        path,
        # Single-threaded parsing numbers bad lines; blocks still stream in order.
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26),
        parse_options=pacsv.ParseOptions(invalid_row_handler=skip, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    next_line = 2
    reported = 0
    for batch in reader:
        fresh = skipped[reported:]
        reported = len(skipped)
        bad = np.array([number for number, _, _ in fresh], dtype=np.int64)
        span = np.arange(next_line, next_line + batch.num_rows + len(bad), dtype=np.int64)
        lines = np.setdiff1d(span, bad) if len(bad) else span
        next_line += len(span)
        chunk_errors = [
            RowError(number, "*", f"has {actual} fields, the header has {expected}")
            for number, expected, actual in fresh
        ]
        table = pa.Table.from_batches([batch])
        columns = {name: table.column(name) for name in table.column_names}
        for start in range(0, max(table.num_rows, 1), rows):
            piece = {k: v.slice(start, rows) for k, v in columns.items()}
            yield InputChunk(
                _complete(piece, int64_array(lines[start : start + rows]), allowed),
                chunk_errors if start == 0 else [],
            )
    if len(skipped) > reported:
        # Every row after the last block was malformed (a file whose only line is cut):
        # Arrow hands over no batch for them, but they are still the file's problems.
        yield InputChunk(
            _complete({}, _no_lines(), allowed),
            [
                RowError(number, "*", f"has {actual} fields, the header has {expected}")
                for number, expected, actual in skipped[reported:]
            ],
        )


# Python's CSV reader refuses a field longer than this by default (131,072 characters), with
# an error that names no line: kaimen's own scans of a CSV file lift the limit while they read
# (`_whole_fields`). Arrow reads such a field, and the rules then refuse a value that long by
# its line and field, as any other (a short prefix of it quoted).
_FIELD_LIMIT = 2**31 - 1


@contextmanager
def _whole_fields() -> Iterator[None]:
    previous = csv.field_size_limit(_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def locate(path: Path, errors: list[RowError]) -> list[RowError]:
    """Errors with CSV record numbers turned into physical line numbers (error path only).

    While reading, a CSV row is numbered by record (header = 1, blank lines not counted),
    which is cheap; a person looks for the physical line, which blank lines and quoted
    newlines shift, so a rejected file is scanned once more to translate.
    """
    if FORMATS.get(path.suffix.lower()) != "csv" or not errors:
        return errors
    wanted = {e.line for e in errors}
    start: dict[int, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle, _whole_fields():
        reader = csv.reader(handle)
        record, previous_end = 0, 0
        for row in reader:
            if row:
                record += 1
                if record in wanted:
                    start[record] = previous_end + 1
            previous_end = reader.line_num
    return [RowError(start.get(e.line, e.line), e.field, e.reason) for e in errors]


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
    """Records (from JSON) to text columns; numbers must already be text (see `_jsonl_chunks`)."""
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
    lines = int64_array(np.arange(first_line, first_line + len(records)))
    arrays = {name: text_array(values) for name, values in columns.items()}
    return _complete(arrays, lines, allowed), errors


def _jsonl_chunks(path: Path, allowed: Sequence[str], rows: int) -> Iterator[InputChunk]:
    errors: list[RowError] = []
    records: list[dict[str, Any]] = []
    lines: list[int] = []

    def flush() -> InputChunk:
        table, record_errors = records_table(records, allowed)
        remap = dict(enumerate(lines, start=1))
        chunk_errors = errors + [RowError(remap[e.line], e.field, e.reason) for e in record_errors]
        line_array = int64_array(np.array(lines, dtype=np.int64))
        table = table.set_column(table.schema.get_field_index(LINE), LINE, line_array)
        return InputChunk(table, chunk_errors)

    # Lines end at a newline alone, as JSON Lines says: a carriage return is whitespace
    # inside a JSON value's line (read as a line break, it split a valid line in two and
    # numbered every later line wrong); one before the newline is whitespace too.
    with path.open(encoding="utf-8-sig", newline="\n") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                # Numbers and NaN/Infinity stay as written, so checks can quote them exactly.
                record = json.loads(
                    text,
                    parse_float=str,
                    parse_int=str,
                    parse_constant=str,
                    object_pairs_hook=unique_members,
                )
            except json.JSONDecodeError as exc:
                errors.append(RowError(number, "*", f"not valid JSON ({exc.msg})"))
                continue
            except RecursionError:
                errors.append(RowError(number, "*", "not valid JSON (nested too deeply)"))
                continue
            except DuplicateKey as duplicated:
                field = excerpt(duplicated.key)
                errors.append(RowError(number, field, "appears twice on the line"))
                continue
            if not isinstance(record, dict):
                errors.append(RowError(number, "*", "each line must be a JSON object"))
                continue
            # An escaped lone surrogate (`\ud800`) is valid JSON but no text: named here,
            # where it stopped the file with an unexpected error when it was stored.
            broken = _not_unicode(record) if "\\u" in text else None
            if broken is not None:
                errors.append(RowError(number, broken, "is not valid Unicode text"))
                continue
            records.append(record)
            lines.append(number)
            if len(records) >= rows:
                yield flush()
                errors, records, lines = [], [], []
    yield flush()


def _not_unicode(record: dict[str, Any]) -> str | None:
    """The field (as an error names it) of the first key or value of `record` that is not
    valid Unicode text, at any depth; None when all are."""
    for key, value in record.items():
        if not is_unicode(key) or not is_unicode(json.dumps(value, ensure_ascii=False)):
            return excerpt(key) if is_unicode(key) else "*"
    return None


# Arrow types that stay as they are (the rules judge them natively); all else becomes text.
def keeps_type(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_timestamp(arrow_type)
        or pa.types.is_date(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def _parquet_chunks(path: Path, allowed: Sequence[str], rows: int) -> Iterator[InputChunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    names = parquet.schema_arrow.names
    errors = _unknown(names, allowed, 1)
    if len(set(names)) != len(names):
        # A column named twice cannot be read by its name: the header's problems are all.
        yield InputChunk(_complete({}, _no_lines(), allowed), errors)
        return
    present = [n for n in names if n in set(allowed)]
    first = 1
    for batch in parquet.iter_batches(batch_size=rows, columns=present):
        columns: dict[str, pa.Array] = {}
        for name in present:
            column = batch.column(name)
            if not keeps_type(column.type):
                try:
                    column = pc.cast(column, pa.string())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    errors.append(
                        RowError(1, name, f"column type {excerpt(str(column.type))} cannot hold it")
                    )
                    column = pa.nulls(len(column), pa.string())
            columns[name] = column
        lines = int64_array(np.arange(first, first + batch.num_rows))
        first += batch.num_rows
        yield InputChunk(_complete(columns, lines, allowed), errors)
        errors = []
    if first == 1:
        yield InputChunk(_complete({}, _no_lines(), allowed), errors)


def iter_input(path: Path, allowed: Sequence[str], rows: int = 1_000_000) -> Iterator[InputChunk]:
    """Read a CSV, JSON Lines or Parquet file (chosen by extension) in chunks of `rows`."""
    if not path.is_file():
        raise not_a_file(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            f"{path.name}: unknown file type {path.suffix!r}; use .csv, .jsonl or .parquet"
        )
    chunks = {"csv": _csv_chunks, "jsonl": _jsonl_chunks, "parquet": _parquet_chunks}[kind]
    seen = 0
    try:
        for chunk in chunks(path, allowed, rows):
            seen += chunk.table.num_rows + len(chunk.errors)
            yield chunk
    except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
        bad = first_bad_byte(path) if kind != "parquet" else None
        if bad is not None:
            raise _not_utf8(path, bad) from exc
        raise InputFileError(f"{path.name}: cannot be parsed as {kind} ({exc})") from exc
    if not seen:
        raise NothingToRead(path.name)


@dataclass(frozen=True)
class BadByte:
    """Where a text file stops being UTF-8: 1-based line, and byte within that line."""

    line: int
    column: int
    value: int


def first_bad_byte(path: Path) -> BadByte | None:
    """The first byte that is not UTF-8 text (or is NUL, which UTF-16 text is full of).

    Read line by line in binary: a newline byte never occurs inside a UTF-8 sequence, so
    each line decodes on its own and a person can be told where to look.
    """
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            nul = line.find(b"\0")
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = exc.start if nul < 0 else min(exc.start, nul)
                return BadByte(number, at + 1, line[at])
            if nul >= 0:
                return BadByte(number, nul + 1, 0)
    return None


def _not_utf8(path: Path, bad: BadByte) -> InputFileError:
    return InputFileError(
        f"{path.name}: line {bad.line} is not UTF-8 text (byte {bad.column} of the line is "
        f"0x{bad.value:02X}); the file is likely in another encoding (GB18030, UTF-16, "
        "Latin-1): re-save it as UTF-8 and send it again"
    )


def read_input(path: Path, allowed: Sequence[str]) -> InputTable:
    """Read a whole (small) file as text columns, e.g. an enrolment file."""
    tables: list[pa.Table] = []
    errors: list[RowError] = []
    for chunk in iter_input(path, allowed):
        text = {
            name: chunk.table.column(name)
            if name == LINE or pa.types.is_string(chunk.table.column(name).type)
            else pc.cast(chunk.table.column(name), pa.string())
            for name in chunk.table.column_names
        }
        tables.append(pa.table(text))
        errors += chunk.errors
    table = pa.concat_tables(tables) if tables else _complete({}, _no_lines(), allowed)
    return InputTable(table, errors, file_sha256(path), path.name)
