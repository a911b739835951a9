"""This run's databases on the test PostgreSQL server, and fresh migrated ones made ahead.

Every database a run makes is named kaimen_test_<run>_..., so the run can drop what it made,
whichever pytest-xdist worker made it, without touching anyone else's.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kaimen.store.database import open_store

STORE_FILE = "kaimen.sqlite"  # an SQLite store's file in its home
# A test database's sessions commit without waiting for the disk, as the SQLite stores (WAL,
# synchronous=NORMAL) do: every committed row is seen all the same (only a crash of the
# server could lose one), and the flush cost 3 to 5 ms a commit on a busy machine.
SESSION_OPTIONS = "-csynchronous_commit=off"


class Server:
    """The PostgreSQL server of KAIMEN_TEST_POSTGRES_URL and this run's databases on it."""

    def __init__(self, admin_url: str, run: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"kaimen_test_{run}_"
        self._dropper: ThreadPoolExecutor | None = None
        self._dropping: list[Future[None]] = []

    def _execute(self, statement: str) -> list[Any]:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                result = connection.execute(text(statement))
                return list(result) if result.returns_rows else []
        finally:
            admin.dispose()

    def url(self, name: str) -> str:
        url = make_url(self.admin_url).set(database=name)
        return url.update_query_dict({"options": SESSION_OPTIONS}).render_as_string(
            hide_password=False
        )

    def create(self, suffix: str | None = None, template: str | None = None) -> str:
        """A new database (a copy of `template` when given); returns its name."""
        name = self.prefix + (suffix or uuid.uuid4().hex[:12])
        copy = f' TEMPLATE "{template}"' if template else ""
        self._execute(f'CREATE DATABASE "{name}"{copy}')
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_later(self, name: str) -> None:
        """Drops `name` in the background: DROP DATABASE is the server waiting on its disk
        (seconds for a population's copy on a busy machine), time the next test can use.
        `finish` waits for every one."""
        if self._dropper is None:
            self._dropper = ThreadPoolExecutor(max_workers=1)
        self._dropping.append(self._dropper.submit(self.drop, name))

    def finish(self) -> None:
        """Waits for the background drops; raises what one raised."""
        if self._dropper is not None:
            self._dropper.shutdown()
        for dropped in self._dropping:
            dropped.result()

    def drop_run(self) -> None:
        """Every database of this run still there: shared ones, and any a crashed worker left."""
        pattern = self.prefix.replace("_", r"\_") + "%"
        for (name,) in self._execute(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{pattern}'"
        ):
            self.drop(name)

    @contextlib.contextmanager
    def fresh(self) -> Iterator[str]:
        """A new, empty database, dropped afterwards."""
        name = self.create()
        try:
            yield self.url(name)
        finally:
            self.drop_later(name)


class MigratedCopies:
    """Copies of one database at the newest migration for tests, made ahead and dropped
    behind in the background: CREATE and DROP DATABASE are mostly the server waiting on its
    disk, time a test can use."""

    AHEAD = 2

    def __init__(self, server: Server) -> None:
        self.server = server
        self.template = server.create("migrated_" + os.environ.get("PYTEST_XDIST_WORKER", "main"))
        open_store(server.url(self.template)).dispose()
        self._maker = ThreadPoolExecutor(max_workers=self.AHEAD)
        self._dropper = ThreadPoolExecutor(max_workers=1)
        self._ahead = deque(self._make() for _ in range(self.AHEAD))
        self._dropped: list[Future[None]] = []

    def _make(self) -> Future[str]:
        return self._maker.submit(self.server.create, template=self.template)

    def take(self) -> str:
        name = self._ahead.popleft().result()
        self._ahead.append(self._make())
        return name

    def give_back(self, name: str) -> None:
        self._dropped.append(self._dropper.submit(self.server.drop, name))

    def close(self) -> None:
        for made in self._ahead:
            self.give_back(made.result())
        self._maker.shutdown()
        self._dropper.shutdown()
        for dropped in self._dropped:
            dropped.result()  # raises what a drop raised
        self.server.drop(self.template)
