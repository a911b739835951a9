"""The embedded DuckDB engine: no server, configured the same way everywhere.

A DuckDB database of its own costs about 20 ms to open (its catalogue of built-in functions
is made anew), an Ibis backend on one about 35 ms: paid by every API request that judges
events, reads a person's features or counts a report. So such work runs in a `session` (a
cursor) of one in-memory database the process shares, opened in a fraction of a
millisecond. A session's temporary tables and views, registered tables and time zone are its
own; anything else it created (a table or view not marked TEMP, a macro) every session would
see, and the threads and memory limit are the database's. So a session creates only
temporary objects, and work that needs more (a file's ingest: tables its cursors share, a
memory limit, a folder to spill to) `connect`s a database of its own.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

_SHARED_LOCK = threading.Lock()
# The process's shared database and the process it was opened in (a forked child opens its own).
_shared: tuple[int, duckdb.DuckDBPyConnection] | None = None


def session() -> duckdb.DuckDBPyConnection:
    """A new session of the process's shared in-memory database, in UTC, for work that
    creates only temporary objects (see the module's docstring). Close it when done: its
    temporary tables go with it."""
    global _shared
    with _SHARED_LOCK:  # the database's own connection makes the cursors, one at a time
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), duckdb.connect(":memory:"))
        opened = _shared[1].cursor()
    opened.execute("SET TimeZone = 'UTC'")
    return opened


def connect(
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database of its own that works in UTC and may spill to
    `temp_directory`."""
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
    """An Ibis backend on embedded DuckDB, in UTC: where pipeline expressions run by default.
    On a session of the shared database (Ibis makes only temporary views and registers its
    in-memory tables) unless `threads` or `memory_limit` is given."""
    if threads is None and memory_limit is None:
        return ibis.duckdb.from_connection(session())
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
    fill_temp_table(backend.con, name, rows)
    return backend.table(name)


def fill_temp_table(connection: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    """`rows` as the session's temporary table `name` (replacing one so named)."""
    connection.register(f"{name}_rows", rows)
    try:
        connection.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{name}_rows"')
    finally:
        connection.unregister(f"{name}_rows")
