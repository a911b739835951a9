"""The embedded DuckDB engine: no server, configured the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa


def connect(
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that works in UTC and may spill to `temp_directory`."""
    # Settings through the configuration, not SQL text: a folder may have a quote in its name.
    config: dict[str, str | bool | int | float | list[str]] = {}
    if threads:
        config["threads"] = int(threads)
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(temp_directory)
    connection = duckdb.connect(":memory:", config=config)
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def ibis_connection(
    threads: int | None = None, memory_limit: str | None = None
) -> ibis.BaseBackend:
    """An Ibis backend on embedded DuckDB, in UTC: where pipeline expressions run by default."""
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET TimeZone = 'UTC'")
    if threads:
        backend.raw_sql(f"SET threads = {int(threads)}")
    if memory_limit:
        backend.raw_sql(f"SET memory_limit = '{memory_limit}'")
    return backend


def temp_table(backend: ibis.BaseBackend, name: str, rows: pa.Table) -> ir.Table:
    """`rows` as the embedded backend's temporary table `name` (replacing one so named): a
    table of the backend's own, which an expression written to a file may read, unlike an
    in-memory table."""
    connection: duckdb.DuckDBPyConnection = backend.con
    connection.register(f"{name}_rows", rows)
    try:
        connection.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{name}_rows"')
    finally:
        connection.unregister(f"{name}_rows")
    return backend.table(name)
