"""Shared fixtures: real SQLite files, and a fresh real PostgreSQL database per test when
KAIMEN_TEST_POSTGRES_URL names a server (CI always sets it)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from kaimen.domain.national_id import check_character
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault

POSTGRES_ENV = "KAIMEN_TEST_POSTGRES_URL"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def make_national_id(region: str = "110101", birth: str = "19900307", sequence: str = "123") -> str:
    """A valid resident ID number for tests (check character computed, not hard-coded)."""
    body = region + birth + sequence
    return body + check_character(body)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV)


def _fresh_postgres(admin_url: str) -> Iterator[str]:
    name = f"kaimen_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_admin_url: str | None
) -> Iterator[str]:
    """Each store test runs on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kaimen.sqlite'}"
        return
    if not postgres_admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    yield from _fresh_postgres(postgres_admin_url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_store(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def vault() -> IdentityVault:
    return IdentityVault(bytes(range(32)))


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"
