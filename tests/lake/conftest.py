"""A DuckDB connection per test, configured as kaimen configures it."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from kaimen.engines.embedded import connect


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect()
    yield connection
    connection.close()
