"""Which Parquet files the engine judges where they lie, and that it sees them as the chunked
reader does: same columns, same types, same line numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.ingest.parquet_input import parquet_view
from kaimen.input_files import LINE, iter_input

WHEN = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def write(path: Path, **columns: pa.Array) -> Path:
    base: dict[str, pa.Array] = {
        "source": pa.array(["bank-a", "bank-a", "bank-b"]),
        "event_id": pa.array(["e1", "e2", "e3"]),
        "person_id": pa.array(["P001", "P002", None]),
        "kind": pa.array(["payment"] * 3),
        "occurred_at": pa.array([WHEN] * 3, pa.timestamp("us", tz="UTC")),
    }
    pq.write_table(pa.table({**base, **columns}), path)
    return path


@pytest.fixture
def connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def test_view_holds_what_the_chunked_reader_gives(
    tmp_path: Path, connection: duckdb.DuckDBPyConnection
) -> None:
    path = write(tmp_path / "e.parquet", amount=pa.array([1, 2, 3], pa.decimal128(18, 2)))
    schema = parquet_view(connection, path, INPUT_COLUMNS, "raw")
    assert schema is not None
    chunked = pa.concat_tables(c.table for c in iter_input(path, INPUT_COLUMNS))
    direct = connection.sql("SELECT * FROM raw").to_arrow_table()
    assert direct.column_names == chunked.column_names == [*INPUT_COLUMNS, LINE]
    assert direct.column(LINE).to_pylist() == [1, 2, 3]
    assert direct.cast(chunked.schema).equals(chunked)


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param({"amount": pa.array([1.5, float("nan"), 2.0])}, id="float"),
        pytest.param({"nickname": pa.array(["a", "b", "c"])}, id="unknown-column"),
        pytest.param({"schema_version": pa.array([[1], [1], [1]])}, id="list-to-convert"),
    ],
)
def test_files_to_read_in_chunks_get_no_view(
    tmp_path: Path, connection: duckdb.DuckDBPyConnection, columns: dict[str, pa.Array]
) -> None:
    path = write(tmp_path / "e.parquet", **columns)
    assert parquet_view(connection, path, INPUT_COLUMNS, "raw") is None
    assert connection.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'raw'"
    ).fetchone() == (0,)


def test_a_file_that_is_not_parquet_gets_no_view(
    tmp_path: Path, connection: duckdb.DuckDBPyConnection
) -> None:
    broken = tmp_path / "e.parquet"
    broken.write_text("source,event_id\n")
    assert parquet_view(connection, broken, INPUT_COLUMNS, "raw") is None
    assert parquet_view(connection, tmp_path / "e.csv", INPUT_COLUMNS, "raw") is None
