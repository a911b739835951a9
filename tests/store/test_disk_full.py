"""Telling a store full for want of space from any other database error, whether the error
comes through SQLAlchemy or from the driver itself (the key index writes through it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from kaimen.store.disk_full import is_store_full


def _fill(connection: sqlite3.Connection) -> sqlite3.OperationalError:
    # A database allowed a few pages is full as a full disk makes it: SQLITE_FULL.
    connection.execute("PRAGMA max_page_count = 4")
    connection.execute("CREATE TABLE t (x TEXT)")
    with pytest.raises(sqlite3.OperationalError) as caught:
        for _ in range(100):
            connection.execute("INSERT INTO t VALUES (?)", ("x" * 2000,))
    return caught.value


def test_the_drivers_own_full_error_is_a_full_store(tmp_path: Path) -> None:
    error = _fill(sqlite3.connect(tmp_path / "small.sqlite"))
    assert "full" in str(error)
    assert is_store_full(error)
    assert not is_store_full(sqlite3.OperationalError("no such table: t"))
    assert not is_store_full(ValueError("full"))


def test_the_same_error_through_sqlalchemy_is_a_full_store(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'small.sqlite'}")
    with pytest.raises(DBAPIError) as caught, engine.begin() as store:
        store.execute(text("PRAGMA max_page_count = 4"))
        store.execute(text("CREATE TABLE t (x TEXT)"))
        for _ in range(100):
            store.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000})
    assert is_store_full(caught.value)
