"""The model registry: every trained model, its artifact, metrics, and which is champion.

There is one champion across kinds: the model `kaimen score` uses. The first model ever
registered becomes champion; later ones are challengers until promoted explicitly. The
database enforces "at most one" with a partial unique index (`uq_models_one_champion`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from kaimen.domain.model_metrics import ModelMetrics
from kaimen.store.tables import models

KINDS = ("scorecard", "lightgbm")


def home_of(lake_root: Path) -> Path:
    """The home a lake root belongs to: KAIMEN_HOME holds `lake/` and `models/` side by side
    (`config.Settings`), so what needs the home's artifacts and has the lake root finds them."""
    return lake_root.resolve().parent


def stored_path(artifact: Path, home: Path) -> str:
    """How the registry names an artifact: relative to the home when it is inside it (a
    moved or copied home then scores with its own artifacts), else absolute."""
    absolute = artifact.resolve()
    try:
        return absolute.relative_to(home.resolve()).as_posix()
    except ValueError:
        return str(absolute)


def artifact_path(stored: str, home: Path) -> Path:
    """The artifact a registry path names: a relative one is inside `home`, an absolute one
    is where it says."""
    return home / stored  # joining an absolute path gives that path


@dataclass(frozen=True)
class ModelRecord:
    version: str
    kind: str
    path: str
    sha256: str
    trained_at: dt.datetime
    as_of: str
    metrics: ModelMetrics
    champion: bool


def _record(row: Row[Any]) -> ModelRecord:
    return ModelRecord(
        row.version,
        row.kind,
        row.path,
        row.sha256,
        row.trained_at,
        row.as_of,
        ModelMetrics.from_json(row.metrics),
        bool(row.champion),
    )


def register(connection: Connection, record: ModelRecord) -> bool:
    """Add a model; it becomes champion only when there is none yet. Returns whether it did.

    `record.champion` asks for it to be champion, which is refused (ValueError) when another
    model already is: a new model never silently replaces the champion; see `promote`.
    """
    if record.kind not in KINDS:
        raise ValueError(f"unknown model kind {record.kind!r}; known: {', '.join(KINDS)}")
    current = champion(connection)
    if record.champion and current is not None:
        raise ValueError(
            f"{current.version} is the champion; register {record.version} and promote it"
        )
    connection.execute(
        insert(models).values(
            version=record.version,
            kind=record.kind,
            path=record.path,
            sha256=record.sha256,
            trained_at=record.trained_at,
            as_of=record.as_of,
            metrics=record.metrics.to_json(),
            champion=int(current is None),
        )
    )
    return current is None


def get(connection: Connection, version: str) -> ModelRecord | None:
    row = connection.execute(select(models).where(models.c.version == version)).first()
    return _record(row) if row else None


def champion(connection: Connection) -> ModelRecord | None:
    """The model scores are published with, of whatever kind."""
    row = connection.execute(select(models).where(models.c.champion == 1)).first()
    return _record(row) if row else None


def every(connection: Connection) -> list[ModelRecord]:
    """All registered models, oldest first."""
    query = select(models).order_by(models.c.trained_at, models.c.version)
    return [_record(row) for row in connection.execute(query)]


def promote(connection: Connection, version: str) -> None:
    """Make `version` the one champion, in the caller's transaction. KeyError if unknown.

    Two promotions racing each clear the old champion and set their own; the unique index
    makes the second commit fail instead of leaving two champions.
    """
    if get(connection, version) is None:
        raise KeyError(version)
    connection.execute(update(models).where(models.c.champion == 1).values(champion=0))
    connection.execute(update(models).where(models.c.version == version).values(champion=1))
