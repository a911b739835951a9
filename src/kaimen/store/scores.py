"""Score snapshots: one per person, month and model, visible once their run is published."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from kaimen.domain.scores import DIMENSIONS as DIMENSIONS
from kaimen.store.tables import score_runs, score_snapshots


@dataclass(frozen=True)
class Snapshot:
    person_id: str
    month: str
    model_version: str
    score: int | None
    band: str | None
    thin_file: bool
    dimensions: dict[str, int | None]
    reasons: list[dict[str, Any]]
    points: dict[str, int]


def is_published(connection: Connection, month: str, model_version: str) -> bool:
    return (
        connection.execute(
            select(score_runs.c.month).where(
                score_runs.c.month == month, score_runs.c.model_version == model_version
            )
        ).first()
        is not None
    )


def publish(
    connection: Connection,
    month: str,
    model_version: str,
    rows: Sequence[dict[str, Any]],
    now: dt.datetime,
) -> None:
    """Insert a month's snapshots and mark the run published, in the caller's transaction."""
    if rows:
        connection.execute(insert(score_snapshots), list(rows))
    connection.execute(
        insert(score_runs).values(
            month=month, model_version=model_version, people=len(rows), published_at=now
        )
    )


def history(connection: Connection, person_id: str) -> list[Snapshot]:
    """The person's published snapshots, newest month first (latest model per month)."""
    query = (
        select(score_snapshots, score_runs.c.published_at)
        .join(
            score_runs,
            (score_runs.c.month == score_snapshots.c.month)
            & (score_runs.c.model_version == score_snapshots.c.model_version),
        )
        .where(score_snapshots.c.person_id == person_id)
        .order_by(score_snapshots.c.month.desc(), score_runs.c.published_at.desc())
    )
    seen: set[str] = set()
    snapshots: list[Snapshot] = []
    for row in connection.execute(query):
        if row.month in seen:
            continue
        seen.add(row.month)
        snapshots.append(
            Snapshot(
                row.person_id,
                row.month,
                row.model_version,
                row.score,
                row.band,
                bool(row.thin_file),
                {d: getattr(row, d) for d in DIMENSIONS},
                json.loads(row.reasons),
                json.loads(row.points),
            )
        )
    return snapshots


def published_models(connection: Connection, month: str) -> list[str]:
    """Versions of the models whose runs for `month` are published, oldest first."""
    query = (
        select(score_runs.c.model_version)
        .where(score_runs.c.month == month)
        .order_by(score_runs.c.published_at, score_runs.c.model_version)
    )
    return list(connection.execute(query).scalars())


MONTH_COLUMNS = ("person_id", "score", "band", "thin_file", "points")


def month_columns(connection: Connection, month: str, model_version: str) -> dict[str, list[Any]]:
    """A published month's snapshots as columns (MONTH_COLUMNS), for population-wide analysis.

    Columns rather than Snapshot objects: callers hand them to an engine whole.
    """
    query = select(*(score_snapshots.c[name] for name in MONTH_COLUMNS)).where(
        score_snapshots.c.month == month, score_snapshots.c.model_version == model_version
    )
    rows = connection.execute(query).all()
    # zip(*rows) transposes in C; an empty month gives empty columns.
    columns = list(zip(*rows, strict=True)) or [() for _ in MONTH_COLUMNS]
    return {name: list(values) for name, values in zip(MONTH_COLUMNS, columns, strict=True)}


def latest(connection: Connection, person_id: str) -> Snapshot | None:
    """The person's newest published snapshot (latest model of the newest month), if any."""
    query = (
        select(score_snapshots)
        .join(
            score_runs,
            (score_runs.c.month == score_snapshots.c.month)
            & (score_runs.c.model_version == score_snapshots.c.model_version),
        )
        .where(score_snapshots.c.person_id == person_id)
        .order_by(score_snapshots.c.month.desc(), score_runs.c.published_at.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    if row is None:
        return None
    return Snapshot(
        row.person_id,
        row.month,
        row.model_version,
        row.score,
        row.band,
        bool(row.thin_file),
        {d: getattr(row, d) for d in DIMENSIONS},
        json.loads(row.reasons),
        json.loads(row.points),
    )
