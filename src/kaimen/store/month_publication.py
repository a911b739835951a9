"""A month's scores published with their score-change alerts, in the caller's transaction.

The alerts compare each score with the person's score in the run published before. On
PostgreSQL that run's million scores are read by COPY on a connection of their own while the
month's rows are COPYed in: the server runs the two on two cores, and the read no longer
waits for the write (under READ COMMITTED the publication's own transaction would read the
same committed rows). On SQLite, one writer in this process, the alerts are joined in the
store after the rows (a second connection here contends with the writer for SQLite's locks:
measured slower than one after the other).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Connection, Engine

from kaimen.store import alerts, score_publishing
from kaimen.telemetry.steps import timed_step


@dataclass(frozen=True)
class Published:
    people: int
    score_change_alerts: int


def publish(
    connection: Connection,
    month: str,
    model_version: str,
    table: pa.Table,
    now: dt.datetime,
    characteristics: Sequence[str],
) -> Published:
    """Publish `table` (as `score_publishing.publish_table` takes it) and raise the run's
    score-change alerts against the run published before it."""
    with timed_step("publish_rows"), ThreadPoolExecutor(max_workers=1) as pool:
        reading = None
        if connection.dialect.name == "postgresql":
            reading = pool.submit(_previous_run, connection.engine, month, model_version)
        people = score_publishing.publish_table(
            connection, month, model_version, table, now, characteristics
        )
        # The read's error, if any, is raised here, once the rows are written.
        previous = reading.result() if reading is not None else None
    with timed_step("score_change_alerts"):
        raised = alerts.raise_score_changes(connection, month, model_version, now, table, previous)
    return Published(people, raised)


def _previous_run(engine: Engine, month: str, model_version: str) -> alerts.PreviousRun | None:
    with engine.connect() as reader:
        return alerts.previous_run_scores(reader, month, model_version)
