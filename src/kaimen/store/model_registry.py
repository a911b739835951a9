"""The model registry: every trained model, its artifact, metrics, and which is champion."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kaimen.store.tables import models


@dataclass(frozen=True)
class ModelRecord:
    version: str
    kind: str
    path: str
    sha256: str
    trained_at: dt.datetime
    as_of: str
    metrics: dict[str, Any]
    champion: bool


def _record(row: Any) -> ModelRecord:
    return ModelRecord(
        row.version,
        row.kind,
        row.path,
        row.sha256,
        row.trained_at,
        row.as_of,
        json.loads(row.metrics),
        bool(row.champion),
    )


def register(connection: Connection, record: ModelRecord) -> None:
    """Add a model; the first of its kind becomes champion."""
    has_champion = connection.execute(
        select(models.c.version).where(models.c.kind == record.kind, models.c.champion == 1)
    ).first()
    connection.execute(
        insert(models).values(
            version=record.version,
            kind=record.kind,
            path=record.path,
            sha256=record.sha256,
            trained_at=record.trained_at,
            as_of=record.as_of,
            metrics=json.dumps(record.metrics, sort_keys=True),
            champion=int(record.champion or has_champion is None),
        )
    )


def get(connection: Connection, version: str) -> ModelRecord | None:
    row = connection.execute(select(models).where(models.c.version == version)).first()
    return _record(row) if row else None


def champion(connection: Connection, kind: str = "scorecard") -> ModelRecord | None:
    row = connection.execute(
        select(models).where(models.c.kind == kind, models.c.champion == 1)
    ).first()
    return _record(row) if row else None


def promote(connection: Connection, version: str) -> None:
    """Make `version` the champion of its kind (and no other)."""
    record = get(connection, version)
    if record is None:
        raise KeyError(version)
    connection.execute(update(models).where(models.c.kind == record.kind).values(champion=0))
    connection.execute(update(models).where(models.c.version == version).values(champion=1))
