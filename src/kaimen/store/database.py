"""Connecting to the store and bringing its schema to the latest migration."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry

from kaimen.domain.errors import ConfigurationError
from kaimen.store.json_text import JSON_TEXT as JSON_TEXT
from kaimen.store.revisions import newest_revision as newest_revision

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported only to change or compare the schema: it takes longer to import than a
# command takes to read a score, and a store at the newest revision does not need it.


# How long a statement waits for another connection's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# The size SQLite cuts the WAL file back to when it writes it from its start again. Without a
# limit the file keeps the size of the largest write it ever held until the last connection
# closes: a month's publication or a file's key index (hundreds of megabytes) stayed on disk
# beside a server for as long as it ran. The decisions' WAL stays well under it between two
# of their checkpoints, so the limit costs them nothing.
SQLITE_WAL_LIMIT_BYTES = 64 * 1024 * 1024


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work during a long ingest; foreign keys are off in SQLite by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")
    cursor.close()


# A pool pre-ping is a round trip on every checkout, as dear as a decision's own read. A
# connection handed back to the pool a moment ago is alive; one that sat idle longer may have
# been cut (a server restart, an idle timeout) and is pinged first, and replaced when dead.
PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED = "kaimen_returned_at"


def _note_return(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED] = time.monotonic()


def ping_when_idle(engine: Engine, after: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection on checkout when it has been idle `after` seconds or more; a
    dead one is swapped for a new one (the pool's documented response to a
    `DisconnectionError` raised on checkout). A new connection is never pinged."""
    dialect = engine.dialect

    def check(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < after:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError("the connection was closed while idle") from error
            raise

    event.listen(engine, "checkin", _note_return)
    event.listen(engine, "checkout", check)


# SQLite's answers that say the file cannot be reached or used right now (a volume gone, a
# directory made unreadable, a writer holding the lock past the busy timeout), not that a
# statement is wrong.
_SQLITE_UNREACHABLE = ("unable to open", "disk i/o error", "database is locked", "readonly")
# PostgreSQL SQLSTATE classes of a server that cannot serve now: connection exceptions,
# insufficient resources, operator intervention (a shutdown, a terminated backend), and
# "not accepting connections" (a database closed to connections).
_POSTGRES_UNREACHABLE = ("08", "53", "57P", "55000")


def _driver_unreachable(error: BaseException) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return any(phrase in text for phrase in _SQLITE_UNREACHABLE)
    module = type(error).__module__
    if module.startswith("psycopg") and type(error).__name__ != "IntegrityError":
        from psycopg import InterfaceError as PsycopgInterfaceError
        from psycopg import OperationalError as PsycopgOperationalError

        if isinstance(error, PsycopgInterfaceError):  # a connection already closed
            return True
        if isinstance(error, PsycopgOperationalError):
            state = getattr(error, "sqlstate", None)
            # No SQLSTATE: the connection failed before the server said anything.
            return state is None or state.startswith(_POSTGRES_UNREACHABLE)
    return False


def is_unreachable(error: BaseException) -> bool:
    """True when `error` (or what caused it) says the store cannot be reached or used right
    now, as opposed to a statement the store refused: what is answered 503 and tried again
    later, not 500."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, DisconnectionError | PoolTimeout):
            return True
        if (
            isinstance(current, OperationalError | InterfaceError)
            and current.orig is not None
            and _driver_unreachable(current.orig)
        ):
            return True
        if _driver_unreachable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


_FILE_IDENTITY = "kaimen_file_identity"


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _sqlite_file(engine: Engine, path: Path) -> None:
    """Keep a pooled SQLite connection only while its file is still the store's file. A
    connection keeps working on a file moved or deleted under it (writes that nobody will
    read again); one whose path no longer leads to its file is replaced on checkout, and the
    new one, opened read-write only (`mode=rw`), fails instead of making an empty store."""

    def opened(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FILE_IDENTITY] = _file_identity(path)

    def check(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if _file_identity(path) != record.info.get(_FILE_IDENTITY):
            raise DisconnectionError("the store's file is no longer where it was")

    event.listen(engine, "connect", opened)
    event.listen(engine, "checkout", check)


def connect(url: str) -> Engine:
    """An engine for a `sqlite:///` or `postgresql+psycopg://` URL; its errors and logs never
    show statement parameters (they hold identity hashes and personal data)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        on_disk = bool(path) and path != ":memory:" and "?" not in path
        if on_disk:
            file = Path(path).absolute()
            file.parent.mkdir(parents=True, exist_ok=True)
            # Made here, once: every connection after opens it read-write, never creating it.
            sqlite3.connect(file).close()
            url = f"sqlite:///{file.as_uri()}?mode=rw&uri=true"
        engine = create_engine(url, hide_parameters=True, json_serializer=JSON_TEXT)
        event.listen(engine, "connect", _sqlite_pragmas)
        if on_disk:
            _sqlite_file(engine, file)
        return engine
    if url.startswith("postgresql+psycopg://"):
        # The API serves up to ~40 requests at once (AnyIO's thread pool), each holding a
        # connection for a moment; a pool smaller than that opens and closes a PostgreSQL
        # backend per request under load (measured: 273 per 1,000 decisions at 5 + 10).
        engine = create_engine(
            url,
            pool_size=20,
            max_overflow=20,
            hide_parameters=True,
            json_serializer=JSON_TEXT,
        )
        ping_when_idle(engine)
        return engine
    raise ConfigurationError(
        f"unsupported database URL scheme {url.split(':', 1)[0]!r}: "
        "use sqlite:///PATH or postgresql+psycopg://..."
    )


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    location = resources.files("kaimen.store") / "migrations"
    config.set_main_option("script_location", str(location))
    return config


def _step(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to the newest migration, or to `revision` (a no-op when already
    there)."""
    from alembic import command

    _step(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision`."""
    from alembic import command

    _step(engine, command.downgrade, revision)


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def stored_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before its first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision: str | None = connection.execute(
            text("SELECT version_num FROM alembic_version")
        ).scalar_one_or_none()
        return revision


def open_store(url: str) -> Engine:
    """Connect and migrate: what every entry point does before touching the store. Alembic
    runs only when the schema is not at the newest revision."""
    engine = connect(url)
    if stored_revision(engine) != newest_revision():
        migrate(engine)
    return engine
