"""A person's published scores read, and the read logged, through the database driver alone.

`kaimen show` is a command a person waits for, and importing SQLAlchemy was most of its
start-up. Here its statements are text fixed per dialect (as `decision_path` does for
decisions), run on a sqlite3 or psycopg connection opened straight from the store's URL.
Nothing is migrated here: a store whose schema is not at the newest revision is refused with
a message, and any other command (which opens the store through SQLAlchemy and Alembic)
brings it up to date. Values are read and written as SQLAlchemy stores them (UTC datetimes
as naive text on SQLite, JSON as text), so every other reader sees the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from kaimen.domain.errors import ConfigurationError
from kaimen.domain.json_values import JsonValue
from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import Snapshot, points_from_stored, reasons_from_stored
from kaimen.store.json_text import JSON_TEXT
from kaimen.store.revisions import newest_revision
from kaimen.store.run_characteristics import characteristics_of

_DIMENSIONS = tuple(d.value for d in Dimension)
# A person's published snapshots, newest first (the decision path reads the first), found
# through the runs as `scores.of_person` finds them.
# `{p}` is the dialect's parameter marker: `?` for sqlite3, `%s` for psycopg.
SNAPSHOT_HISTORY = f"""
SELECT score_snapshots.month, score_snapshots.model_version, score_runs.published_at,
       score_snapshots.score, score_snapshots.band, score_snapshots.thin_file,
       {", ".join(f"score_snapshots.{d}" for d in _DIMENSIONS)},
       score_snapshots.reasons, score_snapshots.points, score_runs.characteristics
FROM score_snapshots
JOIN score_runs ON score_runs.month = score_snapshots.month
               AND score_runs.model_version = score_snapshots.model_version
WHERE (score_snapshots.month, score_snapshots.model_version) IN
      (SELECT month, model_version FROM score_runs)
  AND score_snapshots.person_id = {{p}}
ORDER BY score_snapshots.month DESC, score_runs.published_at DESC
"""
_REVISIONS = """
SELECT revised_at, month, score_before, score_after, cause, note
FROM score_revisions WHERE person_id = {p}
ORDER BY revised_at DESC, revision_id DESC
"""
_STATUS = "SELECT status FROM people WHERE person_id = {p}"
_LOG = (
    "INSERT INTO access_log (person_id, accessed_at, actor, purpose, what, disclosed) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {json})"
)
SQLITE = {
    "history": SNAPSHOT_HISTORY.format(p="?"),
    "revisions": _REVISIONS.format(p="?"),
    "status": _STATUS.format(p="?"),
    "log": _LOG.format(p="?", json="?"),
}
POSTGRES = {
    "history": SNAPSHOT_HISTORY.format(p="%s"),
    "revisions": _REVISIONS.format(p="%s"),
    # Locking the person's row orders the log against a concurrent opt-out.
    "status": _STATUS.format(p="%s") + " FOR UPDATE",
    "log": _LOG.format(p="%s", json="CAST(%s AS json)"),
}
SQLITE_PREFIX, POSTGRES_PREFIX = "sqlite://", "postgresql+psycopg://"


@dataclass(frozen=True)
class RevisionRow:
    """A score revision as the person's history shows it."""

    revised_at: dt.datetime
    month: str
    score_before: int | None
    score_after: int | None
    cause: str
    note: str


class StoreNotReady(ConfigurationError):
    """The store is missing, or its schema is not the one this kaimen reads."""


def _json(value: Any) -> Any:
    """A JSON column as read: text on SQLite, already decoded by psycopg on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def _utc(value: Any) -> dt.datetime:
    """A UTCDateTime column as read: naive UTC text on SQLite, aware on PostgreSQL."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    assert isinstance(value, dt.datetime)
    return value.astimezone(dt.UTC)


def _sqlite_time(value: dt.datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite (naive, microseconds always shown)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _snapshot(person_id: str, row: tuple[Any, ...]) -> Snapshot:
    month, model_version, published_at, score, band, thin_file = row[:6]
    dimensions = dict(zip(Dimension, row[6 : 6 + len(_DIMENSIONS)], strict=True))
    reasons, points, characteristics = row[6 + len(_DIMENSIONS) :]
    names = characteristics_of(characteristics)
    return Snapshot(
        person_id,
        month,
        model_version,
        _utc(published_at),
        score,
        band,
        bool(thin_file),
        dimensions,
        reasons_from_stored(names, _json(reasons)),
        points_from_stored(names, _json(points)),
    )


class ScoreReader:
    """One driver connection to the store (see `score_reader`)."""

    def __init__(self, driver: Any, postgres: bool) -> None:
        self._driver = driver
        self._postgres = postgres
        self._sql = POSTGRES if postgres else SQLITE

    def history(self, person_id: str) -> list[Snapshot]:
        """As `scores.history`: published snapshots, newest month first, the latest
        published model of each month."""
        cursor = self._driver.cursor()
        try:
            rows = cursor.execute(self._sql["history"], (person_id,)).fetchall()
        finally:
            cursor.close()
        if self._postgres:
            self._driver.rollback()  # end the read's transaction
        seen: set[str] = set()
        snapshots: list[Snapshot] = []
        for row in rows:
            if row[0] not in seen:
                seen.add(row[0])
                snapshots.append(_snapshot(person_id, row))
        return snapshots

    def revisions(self, person_id: str) -> list[RevisionRow]:
        """As `score_revisions.of_person`, newest first."""
        cursor = self._driver.cursor()
        try:
            rows = cursor.execute(self._sql["revisions"], (person_id,)).fetchall()
        finally:
            cursor.close()
        if self._postgres:
            self._driver.rollback()
        return [RevisionRow(_utc(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def record_if_active(
        self,
        person_id: str,
        actor: str,
        purpose: str,
        what: str,
        disclosed: Mapping[str, JsonValue],
        now: dt.datetime,
    ) -> bool:
        """As `access_log.record_if_active`: log a read unless the person opted out since,
        in one transaction of its own."""
        driver = self._driver
        if not self._postgres:
            # IMMEDIATE: the write lock first, so no opt-out commits between check and write.
            driver.execute("BEGIN IMMEDIATE")
        cursor = driver.cursor()
        try:
            found = cursor.execute(self._sql["status"], (person_id,)).fetchone()
            active = found is not None and found[0] == "active"
            if active:
                at: dt.datetime | str = now if self._postgres else _sqlite_time(now)
                cursor.execute(
                    self._sql["log"],
                    (person_id, at, actor, purpose, what, JSON_TEXT(dict(disclosed))),
                )
        except BaseException:
            driver.rollback()
            raise
        finally:
            cursor.close()
        driver.commit()
        return active


def _stored_revision(driver: Any, missing: type[Exception]) -> str | None:
    cursor = driver.cursor()
    try:
        row = cursor.execute("SELECT version_num FROM alembic_version").fetchone()
    except missing:
        return None
    finally:
        cursor.close()
    return None if row is None else str(row[0])


def _open_sqlite(url: str) -> tuple[Any, type[Exception]]:
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if path in ("", ":memory:"):
        raise StoreNotReady("an in-memory SQLite store holds no scores")
    # mode=rw: a missing file is an error, not a new empty store.
    target = f"file:{quote(path)}?mode=rw"
    name, _, query = path.partition("?")
    if "uri=true" in query.split("&"):
        # A store's engine names its file as a URI once it exists (`database.open_store`),
        # and a rendered URL percent-encodes that URI's colon.
        target = f"{unquote(name)}?mode=rw"
        path = unquote(name)
    try:
        driver = sqlite3.connect(target, uri=True, isolation_level=None, timeout=30)
    except sqlite3.OperationalError:
        raise StoreNotReady(f"no kaimen store at {path}") from None
    # As `database.connect` sets them (WAL is kept by the file itself).
    driver.execute("PRAGMA foreign_keys=ON")
    driver.execute("PRAGMA synchronous=NORMAL")
    driver.execute("PRAGMA busy_timeout=30000")
    return driver, sqlite3.OperationalError


def _open_postgres(url: str) -> tuple[Any, type[Exception]]:
    import psycopg

    driver = psycopg.connect("postgresql://" + url.removeprefix(POSTGRES_PREFIX))
    return driver, psycopg.errors.UndefinedTable


@contextmanager
def score_reader(url: str) -> Iterator[ScoreReader]:
    """A connection to the store at `url` (as `database.connect` takes it), refused with
    `StoreNotReady` when the schema is not at the newest revision; closed at the end."""
    if url.startswith(SQLITE_PREFIX):
        driver, missing = _open_sqlite(url)
    elif url.startswith(POSTGRES_PREFIX):
        driver, missing = _open_postgres(url)
    else:
        raise ConfigurationError(
            f"unsupported database URL scheme {url.split(':', 1)[0]!r}: "
            "use sqlite:///PATH or postgresql+psycopg://..."
        )
    try:
        postgres = not url.startswith(SQLITE_PREFIX)
        found, expected = _stored_revision(driver, missing), newest_revision()
        if postgres:
            driver.rollback()
        if found != expected:
            remedy = (
                "it was written by a newer kaimen"
                if found is not None and found > expected
                else "run `kaimen status` once to bring the store up to date"
            )
            raise StoreNotReady(
                f"the store's schema is at revision {found or '(none)'}, this kaimen reads "
                f"{expected}: {remedy}"
            )
        yield ScoreReader(driver, postgres)
    finally:
        driver.close()
