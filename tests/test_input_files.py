"""Reading input files: every format without pandas, and the Arrow/NumPy bridges it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from kaimen.domain.errors import InputFileError, NothingToRead
from kaimen.domain.text import excerpt
from kaimen.input_files import (
    BadByte,
    bool_values,
    first_bad_byte,
    int64_array,
    int64_values,
    read_input,
    text_array,
)

COLUMNS = ("person_id", "phone", "national_id")

READ_EACH = """
import sys
from pathlib import Path
from kaimen.input_files import read_input
for name in sys.argv[1:]:
    parsed = read_input(Path(name), ("person_id", "phone", "national_id"))
    print(parsed.table.num_rows, len(parsed.errors), "pandas" in sys.modules)
"""


def test_no_format_imports_pandas_to_be_read(tmp_path: Path) -> None:
    rows = [{"person_id": f"A{i}", "phone": f"138{i:08d}", "national_id": "x"} for i in range(5)]
    csv = tmp_path / "people.csv"
    csv.write_text("person_id,phone,national_id\n" + "".join(f"A{i},1,x\n" for i in range(5)))
    jsonl = tmp_path / "people.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{bad\n")
    parquet = tmp_path / "people.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    done = subprocess.run(
        [sys.executable, "-c", READ_EACH, str(csv), str(jsonl), str(parquet)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == ["5 0 False", "5 1 False", "5 0 False"]


def test_a_short_csv_row_is_reported_at_its_line(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("person_id,phone,national_id\nA1,1,x\nA2,1\nA3,1,x\n")
    parsed = read_input(csv, COLUMNS)
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "*")]
    assert parsed.table.column("_line").to_pylist() == [2, 4]


def test_the_bridges_keep_values_offsets_and_nulls() -> None:
    numbers = int64_array(np.arange(10) * 3)
    assert numbers.type == pa.int64()
    assert numbers.to_pylist() == [i * 3 for i in range(10)]
    assert int64_values(numbers.slice(4, 3)).tolist() == [12, 15, 18]
    flags = pc.greater(numbers, int64_array(np.full(10, 10)))
    assert bool_values(flags.slice(3, 5)).tolist() == [False, True, True, True, True]
    text = text_array(["a", None, "", "ë"])
    assert text.type == pa.string()
    assert text.to_pylist() == ["a", None, "", "ë"]
    with_nulls = pc.equal(text, text_array(["a", "b", "", "x"]))
    assert bool_values(with_nulls).tolist() == [True, False, True, False]


def test_a_csv_whose_only_row_is_cut_names_that_row(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("person_id,phone,national_id\nA1,1380")
    parsed = read_input(csv, COLUMNS)
    assert [(e.line, e.field, e.reason) for e in parsed.errors] == [
        (2, "*", "has 2 fields, the header has 3")
    ]
    assert parsed.table.num_rows == 0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("people.csv", b""),
        ("people.csv", b"person_id,phone,national_id\n"),
        ("people.csv", b"person_id,phone,national_id\n\n"),
        ("people.jsonl", b""),
        ("people.jsonl", b"\n \n"),
    ],
)
def test_a_file_without_rows_is_refused_as_empty(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(NothingToRead, match=f"{name}: the file holds no rows"):
        read_input(path, COLUMNS)


def test_a_zero_row_parquet_file_is_refused_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "people.parquet"
    pq.write_table(pa.table({name: pa.array([], pa.string()) for name in COLUMNS}), path)
    with pytest.raises(NothingToRead):
        read_input(path, COLUMNS)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "latin-1"])
def test_text_in_another_encoding_is_refused_with_its_line_and_a_hint(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "people.csv"
    text = (
        "person_id,phone,national_id\nA1,1,x\nA2,1,é张\n"
        if encoding != "latin-1"
        else ("person_id,phone,national_id\nA1,1,x\nA2,1,café\n")
    )
    path.write_bytes(text.encode(encoding))
    with pytest.raises(InputFileError) as refused:
        read_input(path, COLUMNS)
    line = 1 if encoding == "utf-16" else 3  # UTF-16's byte-order mark comes first
    assert f"people.csv: line {line} is not UTF-8 text" in str(refused.value)
    assert "re-save it as UTF-8" in str(refused.value)


def test_the_first_bad_byte_is_found_past_good_multibyte_text(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes('{"name": "张三"}\n'.encode() * 3 + b'{"name": "\xd5\xc5"}\n')
    assert first_bad_byte(path) == BadByte(4, 11, 0xD5)
    path.write_bytes(b'{"a": "x"}\n{"a": "\x00"}\n')  # UTF-16 text without its mark
    assert first_bad_byte(path) == BadByte(2, 8, 0)
    path.write_bytes('{"name": "张三"}\n'.encode())
    assert first_bad_byte(path) is None


def test_a_csv_field_longer_than_pythons_csv_limit_is_read_for_the_rules_to_judge(
    tmp_path: Path,
) -> None:
    """Python's CSV reader refuses a field past 131,072 characters with an error naming no
    line (it stopped `kaimen enrol --file` with "an unexpected error"); such a field is read,
    and the rules refuse its value by line and field like any other."""
    long = "x" * 200_000
    path = tmp_path / "people.csv"
    path.write_text(f"person_id,phone,national_id\nA1,13800000001,{long}\nA2,13800000002,x\n")
    parsed = read_input(path, COLUMNS)
    assert parsed.errors == []
    assert parsed.table.column("national_id").to_pylist() == [long, "x"]


def test_an_unknown_csv_column_of_any_length_is_quoted_short(tmp_path: Path) -> None:
    long = "x" * 200_000
    path = tmp_path / "people.csv"
    path.write_text(f"person_id,phone,{long}\nA1,13800000001,x\n")
    parsed = read_input(path, COLUMNS)
    assert [(e.line, e.field, e.reason) for e in parsed.errors] == [
        (1, excerpt(long), "unknown field")
    ]
    assert len(excerpt(long)) < 100


def test_a_column_with_no_name_is_called_so(tmp_path: Path) -> None:
    """A trailing comma in the header was reported as "line 1: : unknown field"."""
    path = tmp_path / "people.csv"
    path.write_text("person_id,phone,national_id,\nA1,13800000001,x,\n")
    parsed = read_input(path, COLUMNS)
    assert [(e.line, e.field, e.reason) for e in parsed.errors] == [
        (1, "(a column with no name)", "unknown field")
    ]


def test_a_json_line_naming_a_key_twice_is_refused_at_its_line(tmp_path: Path) -> None:
    """Readers differ on which of two equal keys wins: refused, as in a request's body."""
    path = tmp_path / "people.jsonl"
    path.write_text(
        '{"person_id": "A1", "phone": "13800000001", "national_id": "x"}\n'
        '{"person_id": "A2", "phone": "13800000002", "national_id": "x", "phone": "1"}\n'
    )
    parsed = read_input(path, COLUMNS)
    assert [(e.line, e.field, e.reason) for e in parsed.errors] == [
        (2, "phone", "appears twice on the line")
    ]
