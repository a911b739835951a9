"""Shared fixtures: real SQLite files, a fresh real PostgreSQL database per test when
KAIMEN_TEST_POSTGRES_URL names a server (CI always sets it), and the seeded population
(tests/population.py), built once per run however many pytest-xdist workers there are."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from kaimen.domain.national_id import check_character
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from tests.databases import STORE_FILE, MigratedCopies, Server
from tests.population import BACKENDS, Population, Populations, made_once, simulated

POSTGRES_ENV = "KAIMEN_TEST_POSTGRES_URL"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
RUN = pytest.StashKey[str]()

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist workers start with COLUMNS=80 and LINES=24 set, which Rich would make the
    # CLI's fixed width on import; the CLI tests give each command its own COLUMNS.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def make_national_id(region: str = "110101", birth: str = "19900307", sequence: str = "123") -> str:
    """A valid resident ID number for tests (check character computed, not hard-coded)."""
    body = region + birth + sequence
    return body + check_character(body)


# -- one run, however many workers ---------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    config.stash[RUN] = workerinput["kaimen_run"] if workerinput else uuid.uuid4().hex[:12]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than the cores. A worker spends about a fifth of its time
    waiting (on PostgreSQL, Chromium, Spark, the commands and servers it starts), so with
    one per core the cores idled: on 2 cores the suite took 704 s with three workers against
    834 s with two (2026-12-07)."""
    return (os.cpu_count() or 1) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller: each worker gets the controller's run id."""
    node.workerinput["kaimen_run"] = node.config.stash[RUN]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or the only process), after every worker: drop the run's databases."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if admin_url and not hasattr(session.config, "workerinput"):
        Server(admin_url, session.config.stash[RUN]).drop_run()


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    """The temporary folder every worker of this run sees (the run's own without xdist)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV)


@pytest.fixture(scope="session")
def postgres_server(
    request: pytest.FixtureRequest, postgres_admin_url: str | None
) -> Iterator[Server | None]:
    if not postgres_admin_url:
        yield None
        return
    server = Server(postgres_admin_url, request.config.stash[RUN])
    yield server
    server.finish()


def _needs(server: Server | None) -> Server:
    if server is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return server


@pytest.fixture
def postgres_url(postgres_server: Server | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    with _needs(postgres_server).fresh() as url:
        yield url


# -- a fresh store per test ---------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file at the newest migration, for tests to copy instead of migrating."""
    path = tmp_path_factory.mktemp("migrated") / STORE_FILE
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: Server | None) -> Iterator[MigratedCopies]:
    copies = MigratedCopies(_needs(postgres_server))
    yield copies
    copies.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on a fresh SQLite file and on a fresh PostgreSQL database, both
    at the newest migration already (copies of one migrated per run and worker)."""
    if request.param == "sqlite":
        path = tmp_path / STORE_FILE
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    _needs(request.getfixturevalue("postgres_server"))
    copies: MigratedCopies = request.getfixturevalue("migrated_postgres")
    name = copies.take()
    yield copies.server.url(name)
    copies.give_back(name)


@pytest.fixture(params=BACKENDS)
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: Server | None
) -> Iterator[str]:
    """A fresh database with no tables at all, for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / STORE_FILE}"
        return
    with _needs(postgres_server).fresh() as url:
        yield url


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


# -- the seeded population ------------------------------------------------------------------


@pytest.fixture(scope="session")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The population's simulation: people.csv and events.parquet (read only)."""
    return made_once(_shared_root(tmp_path_factory), "simulation", simulated)


@pytest.fixture(scope="session")
def populations(
    tmp_path_factory: pytest.TempPathFactory, simulation: Path, postgres_server: Server | None
) -> Populations:
    root = _shared_root(tmp_path_factory)
    return Populations(root, simulation, postgres_server, NOW, tmp_path_factory)


@pytest.fixture(scope="session")
def scored_population(populations: Populations) -> Iterator[Population]:
    """The scored population on SQLite, shared: for tests that only read it."""
    population = populations.shared("scored", "sqlite")
    store = population.home / STORE_FILE
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    yield population
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before, "a test wrote to it"


@pytest.fixture(scope="module", params=BACKENDS)
def trained_copy(request: pytest.FixtureRequest, populations: Populations) -> Iterator[Population]:
    """The trained population, nothing scored: the module's own copy, on each backend."""
    with populations.copy("trained", request.param) as population:
        yield population


@pytest.fixture(scope="module", params=BACKENDS)
def scored_copy(request: pytest.FixtureRequest, populations: Populations) -> Iterator[Population]:
    """The scored population (PREVIOUS and LAST scored): the module's own copy, on each
    backend."""
    with populations.copy("scored", request.param) as population:
        yield population
