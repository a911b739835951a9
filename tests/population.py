"""The seeded population the end-to-end tests share, built once per run and backend.

Two stages, each built at most once per run and backend by whichever pytest-xdist worker
needs it first (the others wait on a file lock in the folder all workers share):

- "trained": PEOPLE people simulated over MONTHS months to LAST with SEED, enrolled, ingested
  and trained as of LAST (a scorecard champion and a LightGBM challenger); nothing scored.
- "scored": the same with PREVIOUS and LAST scored.

Tests that only read use the shared SQLite one itself; tests that change it get a private copy
(a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL, where a template must have
no sessions, so only copies are handed out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.scoring.batch import score_month
from kaimen.scoring.training import TrainingReport, train
from kaimen.simulate.run import simulate
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from tests.databases import STORE_FILE, Server

PEOPLE, MONTHS, SEED = 1500, 24, 11
LAST = "2026-10"  # the last simulated month, and the month training is as of
PREVIOUS = "2026-09"
VAULT = IdentityVault(bytes(range(32)))
BACKENDS = ["sqlite", "postgresql"]
Stage = Literal["trained", "scored"]
MADE, DESCRIPTION = ".made", "population.json"


@dataclasses.dataclass
class World:
    """An open store over a population, as the end-to-end tests use it."""

    engine: Engine
    lake: Path
    home: Path
    sim: Path
    report: TrainingReport


@dataclasses.dataclass(frozen=True)
class Population:
    """A store and its home (lake and models), with the simulation it was built from."""

    url: str
    home: Path
    sim: Path
    report: TrainingReport

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    def open(self) -> World:
        """The population with its store open: dispose of the engine when done."""
        return World(open_store(self.url), self.lake, self.home, self.sim, self.report)

    @contextlib.contextmanager
    def opened(self) -> Iterator[World]:
        """The population with its store open, closed afterwards."""
        world = self.open()
        try:
            yield world
        finally:
            world.engine.dispose()


def made_once(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """root/name, made by `make` by whichever worker gets there first; the others wait."""
    folder = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / MADE).exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            make(folder)
            (folder / MADE).touch()
    return folder


def simulated(out: Path) -> None:
    simulate(PEOPLE, MONTHS, SEED, out, LAST)


REPORT = TypeAdapter(TrainingReport)


def _report_fields(report: TrainingReport) -> Any:
    return REPORT.dump_python(report, mode="json")


def _report_from(fields: Any) -> TrainingReport:
    return REPORT.validate_python(fields)


def _moved(report: TrainingReport, old_home: Path, new_home: Path) -> TrainingReport:
    trained = [
        dataclasses.replace(m, path=new_home / m.path.relative_to(old_home)) for m in report.models
    ]
    return dataclasses.replace(report, models=tuple(trained))


class Populations:
    """The population's stages on each backend, built on first use (see the module)."""

    def __init__(
        self,
        root: Path,
        sim: Path,
        server: Server | None,
        now: dt.datetime,
        homes: pytest.TempPathFactory,
    ) -> None:
        self.root, self.sim, self.server, self.now, self.homes = root, sim, server, now, homes
        self._known: dict[tuple[Stage, str], Population] = {}

    def shared(self, stage: Stage, backend: str) -> Population:
        key = (stage, backend)
        if key not in self._known:
            build = self._build_trained if stage == "trained" else self._build_scored
            home = made_once(self.root, f"{stage}-{backend}", lambda h: build(h, backend))
            fields = json.loads((home / DESCRIPTION).read_text())
            report = _report_from(fields["report"])
            self._known[key] = Population(fields["url"], home, self.sim, report)
        return self._known[key]

    @contextlib.contextmanager
    def copy(self, stage: Stage, backend: str) -> Iterator[Population]:
        """A private copy in a new home; its PostgreSQL database is dropped afterwards."""
        source = self.shared(stage, self._available(backend))
        copied = self._copy(source, self.homes.mktemp(f"{stage}-{backend}"), database=None)
        try:
            yield copied
        finally:
            if self.server and backend == "postgresql":
                self.server.drop_later(str(make_url(copied.url).database))

    def _available(self, backend: str) -> str:
        if backend == "postgresql" and self.server is None:
            pytest.skip("KAIMEN_TEST_POSTGRES_URL is not set")
        return backend

    def _copy(self, source: Population, home: Path, database: str | None) -> Population:
        shutil.copytree(
            source.home,
            home,
            # Not a reader's -wal and -shm files: nothing is written to a shared store.
            ignore=shutil.ignore_patterns(f"{STORE_FILE}-*", DESCRIPTION, MADE),
            dirs_exist_ok=True,
        )
        if self.server and not source.url.startswith("sqlite"):
            template = make_url(source.url).database
            url = self.server.url(self.server.create(database, template=template))
        else:
            url = f"sqlite:///{home / STORE_FILE}"
        # Nothing to repoint: the registry names artifacts relative to the home, so the copy
        # scores with its own (tests/scoring/test_moved_home.py holds it to that).
        return Population(url, home, source.sim, _moved(source.report, source.home, home))

    def _build_trained(self, home: Path, backend: str) -> None:
        if self.server and backend == "postgresql":
            url = self.server.url(self.server.create("trained"))
        else:
            url = f"sqlite:///{home / STORE_FILE}"
        engine = open_store(url)
        lake = home / "lake"
        enrol_file(engine, VAULT, self.sim / "people.csv", "test", now=self.now)
        ingest_file(engine, lake, self.sim / "events.parquet", "test", now=self.now)
        report = train(engine, ibis_connection(), lake, home / "models", LAST, "test", self.now)
        engine.dispose()
        self._describe(home, url, report)

    def _build_scored(self, home: Path, backend: str) -> None:
        population = self._copy(self.shared("trained", backend), home, database="scored")
        engine = open_store(population.url)
        for month in (PREVIOUS, LAST):
            score_month(engine, ibis_connection(), population.lake, month, "test", now=self.now)
        engine.dispose()
        self._describe(home, population.url, population.report)

    @staticmethod
    def _describe(home: Path, url: str, report: TrainingReport) -> None:
        document = {"url": url, "report": _report_fields(report)}
        (home / DESCRIPTION).write_text(json.dumps(document))
