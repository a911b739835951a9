"""An Arrow table handed to an SQLite store in C, for one `INSERT ... SELECT` in its transaction.

Python's sqlite3 binds every value of every row from a Python object: a month's million
snapshot rows (13 columns) took 2.1-2.6 s to convert and bind, against 0.9 s for SQLite to
copy the same rows from one table to another. Apache Arrow's ADBC driver for SQLite binds them
straight from the Arrow buffers into a private file of their own (0.6 s at a million rows),
which the store's connection attaches and reads in the caller's transaction, so what the
rows go into stays all or nothing.

The ADBC driver carries its own copy of SQLite. Two copies of SQLite in one process must
never have the same file open (POSIX locks belong to the process: one copy closing its
descriptor drops the other's locks), so the file is only ever open in one of them: the
driver writes it and closes it before the store's connection attaches it. Nothing else knows
its name, and it is unlinked as soon as it is attached: the connection reads it through its
open descriptor, and the space goes back when the connection detaches it, which it does when
it returns to the pool (SQLite cannot detach a database the running transaction has read).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, event

from kaimen.domain.errors import StorageFull

# The pool record's key for the staged databases still attached to a connection.
_ATTACHED = "kaimen_staged"
_TABLE = "rows"
_names = itertools.count(1)
# SQLite's words for a write the disk refused: SQLITE_FULL, and SQLITE_IOERR_WRITE (what a
# file size limit gives).
_FULL = ("database or disk is full", "disk I/O error")
# Parts `attach_in_parts` attaches at once: SQLite attaches ten databases at most, and a
# transaction may stage other tables too.
MAX_PARTS = 6


def attach(connection: Connection, table: pa.Table) -> str:
    """Write `table` to a private SQLite file and attach it to `connection` (an SQLite
    store's, in or out of a transaction); the qualified name to select its rows from, in the
    table's row order (`schema.rows`, columns as the table's)."""
    return _attach(connection, _written(table))


def attach_in_parts(connection: Connection, table: pa.Table, parts: int) -> Iterator[str]:
    """`attach` for each of `parts` parts of `table` (as even as can be; fewer when it has
    fewer rows), in order, each part written on a thread of its own while the caller copies
    the one before (SQLite copies a million snapshot rows in about 1 s; the driver writes
    them in about 0.6 s, outside the interpreter's lock). At most MAX_PARTS parts."""
    if not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"{parts} parts: from 1 to {MAX_PARTS}")
    size = max(1, -(-table.num_rows // parts))
    parts_of = [table.slice(start, size) for start in range(0, max(table.num_rows, 1), size)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        writing: Future[str] | None = pool.submit(_written, parts_of[0])
        try:
            for following in [*parts_of[1:], None]:
                assert writing is not None
                path, writing = writing.result(), None
                if following is not None:
                    writing = pool.submit(_written, following)
                yield _attach(connection, path)
        finally:
            if writing is not None:  # the caller stopped early: the part ahead is not read
                with contextlib.suppress(Exception):
                    Path(writing.result()).unlink()


def _written(table: pa.Table) -> str:
    """`table` as the table `rows` of a new private SQLite file, written by the ADBC driver;
    the file's path. StorageFull when the temporary folder has no room for it."""
    import adbc_driver_sqlite.dbapi as adbc

    descriptor, path = tempfile.mkstemp(prefix="kaimen-staged-", suffix=".sqlite")
    os.close(descriptor)
    try:
        with adbc.connect(path, autocommit=True) as staging:
            cursor = staging.cursor()
            try:
                # Nobody else reads this file, and it is gone if the process is: no journal
                # and no waiting for the disk (set outside a transaction, as SQLite asks).
                cursor.execute("PRAGMA journal_mode = OFF")
                cursor.execute("PRAGMA synchronous = OFF")
                # Then one transaction: left to commit each row itself, the driver reports a
                # failed write as its own failed ROLLBACK, hiding the cause.
                staging.adbc_connection.set_options(**{"adbc.connection.autocommit": "false"})
                cursor.adbc_ingest(_TABLE, table, mode="create")
                staging.adbc_connection.commit()
            finally:
                cursor.close()
    except adbc.Error as error:
        Path(path).unlink()
        if any(said in str(error) for said in _FULL):
            raise StorageFull(
                f"the temporary folder ({tempfile.gettempdir()}, TMPDIR) is full or over a "
                "file size limit, so nothing was stored: free some space there, or point "
                f"TMPDIR at a folder with room, and run the same command again ({error})"
            ) from error
        raise
    except BaseException:
        Path(path).unlink()
        raise
    return path


def _attach(connection: Connection, path: str) -> str:
    """Attach the staged file at `path` (closed by the driver) and unlink it."""
    _detach_on_return(connection.engine)
    # Those of the connection's earlier transactions, should it not have been returned since
    # (SQLite attaches ten databases at most).
    running = connection.get_transaction()
    _detach_all_but(connection.connection.driver_connection, connection.connection, running)
    schema = f"kaimen_staged_{next(_names)}"
    try:
        connection.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (path,))
    finally:
        Path(path).unlink()
    # With the transaction it was attached in (held, so no later one can be taken for it).
    attached: list[tuple[str, object]] = connection.connection.info.setdefault(_ATTACHED, [])
    attached.append((schema, connection.get_transaction()))
    return f"{schema}.{_TABLE}"


def _detach_on_return(engine: Engine) -> None:
    if not event.contains(engine, "checkin", _detach):
        event.listen(engine, "checkin", _detach)


def _detach(dbapi_connection: Any, record: Any) -> None:
    """Detach a returned connection's staged databases (the pool has ended its transaction);
    one that cannot be detached now is tried again at the next return."""
    _detach_all_but(dbapi_connection, record, None)


def _detach_all_but(dbapi_connection: Any, record: Any, running: object) -> None:
    """Detach the staged databases of transactions other than `running` (SQLite cannot
    detach one the running transaction has read, and one it attached is still to be read)."""
    if dbapi_connection is None:
        return
    attached: list[tuple[str, object]] = record.info.get(_ATTACHED, [])
    for entry in list(attached):
        schema, attached_in = entry
        if running is not None and attached_in is running:
            continue
        with contextlib.suppress(Exception):
            dbapi_connection.execute(f"DETACH DATABASE {schema}")
            attached.remove(entry)
