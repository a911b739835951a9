"""Columns read out of SQLite as one joined text each (`store.sqlite_columns`): the rows as
they are, aligned across columns; an empty result; and a value that cannot be split back is
refused rather than misread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine

from kaimen.store import sqlite_columns
from kaimen.store.database import connect

SCHEMA = pa.schema([("name", pa.string()), ("number", pa.int64())])


@pytest.fixture
def rows(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'columns.sqlite'}")
    with engine.begin() as store:
        store.exec_driver_sql("CREATE TABLE t (name TEXT, number INTEGER, kept INTEGER)")
        store.exec_driver_sql(
            "INSERT INTO t VALUES ('a', 1, 1), ('b b', -20, 1), ('', 3, 1), ('skip', 4, 0), "
            "('é', 50000000000, 1)"
        )
    yield engine
    engine.dispose()


def test_the_rows_come_back_aligned_and_typed(rows: Engine) -> None:
    with rows.connect() as store:
        table = sqlite_columns.read(
            store, "SELECT name, number FROM t WHERE kept = ? ORDER BY rowid", [1], SCHEMA
        )
    assert table.schema == SCHEMA
    assert table.to_pylist() == [
        {"name": "a", "number": 1},
        {"name": "b b", "number": -20},
        {"name": "", "number": 3},
        {"name": "é", "number": 50000000000},
    ]


def test_no_rows_is_an_empty_table(rows: Engine) -> None:
    with rows.connect() as store:
        table = sqlite_columns.read(store, "SELECT name, number FROM t WHERE kept = ?", [9], SCHEMA)
    assert table.num_rows == 0 and table.schema == SCHEMA


@pytest.mark.parametrize("value", ["x\x1fy", None])
def test_a_value_that_cannot_be_split_back_is_refused(rows: Engine, value: str | None) -> None:
    with rows.begin() as store:
        store.exec_driver_sql("INSERT INTO t VALUES (?, 7, 1)", (value,))
        with pytest.raises(sqlite_columns.Unsplittable, match="column name"):
            sqlite_columns.read(store, "SELECT name, number FROM t WHERE kept = ?", [1], SCHEMA)
