"""The embedded DuckDB engine: no server, configured the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis


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
