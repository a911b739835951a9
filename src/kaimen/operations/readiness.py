"""Readiness: can this installation serve? The store answers at the newest migration, the
lake root is a writable directory holding the files the store lists, and the champion
model's artifact is the one the registry recorded.

Cost, since a probe runs every few seconds: one `SELECT 1`, the Alembic revision (about 30 ms,
mostly reading the migration scripts), one `TemporaryFile` in the lake root, and a `stat` of
every summary file (what every score read and what-if needs, a few per month) and of the
newest `NEWEST_LAKE_FILES` lake files. A lake that is missing altogether (an unmounted
volume, the wrong KAIMEN_HOME, a store restored without its lake) fails on its newest files
as surely as on all of them, while the whole lake, which only grows, would make the probe
cost grow with it; checking every old file belongs to a deliberate integrity check.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from kaimen.store import model_registry, summary_manifest
from kaimen.store.database import is_current, is_unreachable
from kaimen.store.tables import lake_files

NEWEST_LAKE_FILES = 100

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One thing readiness needs: `detail` is a fixed phrase with counts, never a path or an
    error's text, since the answer is public."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)


def _listed(store: Connection, newest: int) -> list[str]:
    """Paths, relative to the lake root, of every summary file and the newest lake files."""
    lake = store.execute(
        select(lake_files.c.path).order_by(lake_files.c.file_id.desc()).limit(newest)
    ).scalars()
    return [*summary_manifest.paths(store), *lake]


def _store(engine: Engine, newest: int) -> tuple[Check, list[str] | None]:
    """Whether the store answers, and what it lists (None when the listing cannot be read,
    e.g. before the first migration)."""
    try:
        with engine.connect() as store:
            store.execute(text("SELECT 1"))
            try:
                return Check("store", True, "answers"), _listed(store, newest)
            except SQLAlchemyError as error:
                _log.warning("readiness: no manifest", extra={"error": type(error).__name__})
                return Check("store", True, "answers"), None
    except (SQLAlchemyError, OSError) as error:
        _log.warning("readiness: the store is unreachable", extra={"error": type(error).__name__})
        return Check("store", False, "unreachable"), None


def _schema(engine: Engine, reachable: bool) -> Check:
    if not reachable:
        return Check("schema", False, "not checked: the store is unreachable")
    try:
        current = is_current(engine)
    except (SQLAlchemyError, OSError) as error:
        _log.warning("readiness: no schema revision", extra={"error": type(error).__name__})
        return Check("schema", False, "the schema revision cannot be read")
    if not current:
        return Check("schema", False, "not at the newest migration this version knows")
    return Check("schema", True, "at the newest migration")


def _missing(lake_root: Path, paths: list[str]) -> list[str]:
    return [path for path in paths if not (lake_root / path).is_file()]


def _lake(engine: Engine, lake_root: Path, listed: list[str] | None, newest: int) -> Check:
    if not lake_root.exists():
        return Check("lake", False, "the lake root does not exist")
    if not lake_root.is_dir():
        return Check("lake", False, "the lake root is not a directory")
    try:
        with tempfile.TemporaryFile(dir=lake_root):
            pass
    except OSError as error:
        _log.warning("readiness: lake root not writable", extra={"error": type(error).__name__})
        return Check("lake", False, "the lake root is not writable")
    if listed is None:
        return Check("lake", True, "writable; listed files not checked: no manifest to read")
    missing = _missing(lake_root, listed)
    if missing:
        # An opt-out or a summary refresh may have swapped a file between the listing and
        # the look: only what is still listed afterwards counts as missing.
        still = set(_store(engine, newest)[1] or ())
        missing = _missing(lake_root, [path for path in missing if path in still])
    if missing:
        _log.warning(
            "readiness: listed lake files are missing",
            extra={"missing": len(missing), "first_missing": missing[0]},
        )
        return Check("lake", False, f"{len(missing)} of {len(listed)} listed files checked missing")
    return Check("lake", True, f"writable; {len(listed)} listed files checked present")


# The champion's artifact hashed once per version of its file (path, size, modification):
# a probe every few seconds would otherwise read and hash the whole model each time.
_HASHED: dict[tuple[str, int, int], str] = {}


def _artifact_sha256(path: Path) -> str:
    found = path.stat()
    key = (str(path), found.st_size, found.st_mtime_ns)
    digest = _HASHED.get(key)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        _HASHED.clear()
        _HASHED[key] = digest
    return digest


def _model(engine: Engine, lake_root: Path, reachable: bool) -> Check:
    """The champion's artifact is there and is the one registered (its SHA-256): what the
    what-if, rescoring and the batch load. No champion yet is ready (nothing to compute)."""
    if not reachable:
        return Check("model", False, "not checked: the store is unreachable")
    try:
        with engine.connect() as store:
            champion = model_registry.champion(store)
    except (SQLAlchemyError, OSError) as error:
        # Before the first migration: the schema check says so already.
        _log.warning("readiness: no model registry", extra={"error": type(error).__name__})
        return Check("model", True, "not checked: no model registry to read")
    if champion is None:
        return Check("model", True, "no model trained yet")
    try:
        path = model_registry.artifact_path(champion.path, model_registry.home_of(lake_root))
        intact = _artifact_sha256(path) == champion.sha256
    except OSError as error:
        _log.warning("readiness: champion unreadable", extra={"error": type(error).__name__})
        return Check("model", False, "the champion's artifact is missing or unreadable")
    if not intact:
        return Check("model", False, "the champion's artifact failed its integrity check")
    return Check("model", True, "the champion's artifact matches the registry")


def store_unavailable(error: BaseException) -> bool:
    """Whether `error` says the store cannot be reached right now (a door answers 503 and
    the request may be tried again), rather than that something is wrong (a 500)."""
    return is_unreachable(error)


def check_readiness(
    engine: Engine, lake_root: Path, newest_lake_files: int = NEWEST_LAKE_FILES
) -> Readiness:
    """Every check, each with its verdict."""
    store, listed = _store(engine, newest_lake_files)
    return Readiness(
        (
            store,
            _schema(engine, store.ok),
            _lake(engine, lake_root, listed, newest_lake_files),
            _model(engine, lake_root, store.ok),
        )
    )
