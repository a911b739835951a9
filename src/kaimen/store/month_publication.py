"""A month's scores published with their score-change alerts, in the caller's transaction.

The alerts compare each score with the person's score in the run published before. That
run's million scores are read on a connection of their own while the month's rows are
written, so the read no longer waits for the write: under READ COMMITTED (PostgreSQL) or
from its own snapshot of the WAL (SQLite) it reads the same committed rows the publication's
transaction would. PostgreSQL runs the COPY out beside the COPY in on a second core; SQLite's
reader runs in C beside the writer (its `group_concat` step releases the interpreter). At a
million people on SQLite the read beside the rows took 0.3-0.55 s off the alerts' step and
added 0.3-0.55 s to the rows' (rows and alerts 2.94 and 3.26 s in two runs, against
3.14-3.29 s read after the rows): one code path for both stores, for little time.
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
        reading = pool.submit(_previous_run, connection.engine, month, model_version, table)
        people = score_publishing.publish_table(
            connection, month, model_version, table, now, characteristics
        )
        # The read's error, if any, is raised here, once the rows are written.
        previous = reading.result()
    with timed_step("score_change_alerts"):
        raised = alerts.raise_score_changes(connection, month, model_version, now, table, previous)
    return Published(people, raised)


def _previous_run(
    engine: Engine, month: str, model_version: str, table: pa.Table
) -> alerts.PreviousRun | None:
    with engine.connect() as reader:
        return alerts.previous_run_scores(reader, month, model_version, table)
