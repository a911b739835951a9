"""Telling a store write refused for want of disk space from any other database error."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# SQLite says SQLITE_FULL when the disk is full; a write over a file size limit (EFBIG)
# comes back as SQLITE_IOERR_WRITE. PostgreSQL's SQLSTATE 53100 is `disk_full`.
_SQLITE_FULL = frozenset({"SQLITE_FULL", "SQLITE_IOERR_WRITE"})
_POSTGRES_DISK_FULL = "53100"


def is_store_full(error: BaseException) -> bool:
    """Whether `error` is the store refusing a write because its disk is full: through
    SQLAlchemy, or from the driver itself (the key index's bulk writes call it directly)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    return (
        getattr(cause, "sqlite_errorname", None) in _SQLITE_FULL
        or getattr(cause, "sqlstate", None) == _POSTGRES_DISK_FULL
    )
