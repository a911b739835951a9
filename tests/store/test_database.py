"""Connecting to the store: the two supported databases, SQLite set up for safe concurrent
use, and a store opened only once its schema is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError

from kaimen.domain.errors import ConfigurationError
from kaimen.store.database import (
    connect,
    is_current,
    migrate,
    newest_revision,
    open_store,
    stored_revision,
)
from kaimen.store.tables import identities
from tests.store.store_rows import T0


def test_a_fresh_database_is_not_current_until_migrated(empty_database_url: str) -> None:
    engine = connect(empty_database_url)
    try:
        assert not is_current(engine)
        assert "people" not in inspect(engine).get_table_names()
        migrate(engine)
        assert is_current(engine)
        assert "people" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_an_opened_store_is_current(database_url: str) -> None:
    engine = open_store(database_url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


def test_the_newest_migration_file_is_alembics_head(empty_database_url: str) -> None:
    # open_store skips Alembic when the stored revision is the newest file's: the two agree.
    engine = connect(empty_database_url)
    try:
        assert stored_revision(engine) is None
        migrate(engine)
        assert is_current(engine)
        assert stored_revision(engine) == newest_revision()
    finally:
        engine.dispose()


def test_a_store_behind_the_newest_migration_is_migrated_when_opened(
    empty_database_url: str,
) -> None:
    behind = connect(empty_database_url)
    try:
        migrate(behind, "0006")
        assert not is_current(behind)
    finally:
        behind.dispose()
    engine = open_store(empty_database_url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    row = {
        "person_id": "nobody",
        "kind": "phone",
        "lookup_hash": "0" * 64,
        "encrypted_value": "sealed",
        "created_at": T0,
    }
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(identities).values(**row))


def test_sqlite_is_set_up_for_readers_during_a_long_write(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'new' / 'folder' / 'kaimen.sqlite'}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
        assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 30000}
        assert (tmp_path / "new" / "folder" / "kaimen.sqlite").exists()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url", ["mysql://localhost/kaimen", "postgresql://localhost/kaimen", "kaimen.sqlite"]
)
def test_other_databases_are_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unsupported database URL scheme"):
        connect(url)
