"""Connecting to the store: the two supported databases, SQLite set up for safe concurrent
use, and a store opened only once its schema is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from kaimen.domain.errors import ConfigurationError
from kaimen.store import database
from kaimen.store.database import (
    connect,
    is_current,
    migrate,
    newest_revision,
    open_store,
    ping_when_idle,
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


def test_sqlites_wal_file_shrinks_back_after_a_large_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "SQLITE_WAL_LIMIT_BYTES", 256 * 1024)
    path = tmp_path / "kaimen.sqlite"
    engine = connect(f"sqlite:///{path}")
    wal = Path(f"{path}-wal")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE bulk (payload BLOB)"))
            connection.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < 4000) INSERT INTO bulk SELECT randomblob(1000) FROM n"
                )
            )
        largest = wal.stat().st_size
        with engine.begin() as connection:  # the WAL is copied back: the next write restarts it
            connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO bulk VALUES (x'00')"))
        assert largest > 4_000_000
        assert wal.stat().st_size <= 256 * 1024
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url", ["mysql://localhost/kaimen", "postgresql://localhost/kaimen", "kaimen.sqlite"]
)
def test_other_databases_are_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unsupported database URL scheme"):
        connect(url)


@pytest.mark.postgres
def test_a_connection_cut_while_idle_is_replaced_on_checkout(postgres_url: str) -> None:
    """No pre-ping on every checkout (a round trip each): a pooled connection is pinged only
    after sitting idle, and one the server closed meanwhile is replaced, not handed out."""
    engine = connect(postgres_url)
    ping_when_idle(engine, after=0.0)  # a second listener: every reuse counts as idle
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = create_engine(postgres_url, poolclass=NullPool)
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first})
        admin.dispose()
        with engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_reused_at_once_is_not_pinged(postgres_url: str) -> None:
    engine = connect(postgres_url)
    pings: list[int] = []
    real_ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return real_ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        for _ in range(5):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        assert pings == []
    finally:
        engine.dispose()
