"""The snapshots' key is led by the run (migration 0030): a month's rows go in at the end of
the key, and every read or removal of one person's snapshots finds them through the runs,
never by reading every month's rows. Shown by the plans the databases choose."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.sql import ClauseElement

from kaimen.store import alerts, person_data, score_publishing, scores
from kaimen.store.score_read_path import SNAPSHOT_HISTORY
from kaimen.store.tables import score_snapshots
from tests.store.score_rows import T0, enrol, register_models, snapshot

PEOPLE = tuple(f"P{i:03d}" for i in range(40))


@pytest.fixture
def published(engine: Engine) -> Engine:
    """Forty people scored over three months, one month by two models."""
    enrol(engine, *PEOPLE)
    register_models(engine, "card-1", "card-2")
    for hours, (month, version, score) in enumerate(
        (
            ("2026-08", "card-1", 560),
            ("2026-09", "card-1", 600),
            ("2026-09", "card-2", 610),
            ("2026-10", "card-2", 650),
        )
    ):
        at = T0 + dt.timedelta(hours=hours)
        with engine.begin() as store:
            rows = [snapshot(p, month, version, at, score) for p in PEOPLE]
            score_publishing.publish(store, month, version, rows, at)
    return engine


def _plan(store: Connection, statement: ClauseElement | str, parameters: Any = None) -> str:
    """The plan as text: SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's EXPLAIN lines with
    sequential scans made as dear as they go (so a scan is chosen only when nothing else can
    answer: these tables are too small for costs to decide)."""
    if isinstance(statement, str):
        sql, bound = statement, parameters
    else:
        compiled = statement.compile(store, compile_kwargs={"literal_binds": True})
        sql, bound = str(compiled), None
    if store.dialect.name == "sqlite":
        rows = store.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", bound or ()).all()
        return "\n".join(str(r[-1]) for r in rows)
    store.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = store.exec_driver_sql(f"EXPLAIN {sql}", bound or ()).all()
    return "\n".join(str(r[0]) for r in rows)


def _reads_snapshots_by_key(store: Connection, plan: str) -> bool:
    """Whether the plan reaches the snapshots only through a key lookup naming the person:
    on SQLite the whole run-led key; on PostgreSQL each month's key, led by the person."""
    if store.dialect.name == "sqlite":
        snapshot_lines = [line for line in plan.splitlines() if "score_snapshots" in line]
        return bool(snapshot_lines) and all(
            line.startswith("SEARCH") and "person_id=?" in line for line in snapshot_lines
        )
    if "Seq Scan on score_snapshots" in plan:
        return False
    used = set(re.findall(r"using (\S+) on score_snapshots", plan))
    definitions = store.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'score_snapshots%%'"
    ).all()
    led = {name for name, definition in definitions if "(person_id, month" in definition}
    return bool(used) and used <= led


def test_a_person_s_snapshots_are_read_through_their_runs(published: Engine) -> None:
    with published.begin() as store:
        plan = _plan(store, scores.published_query("P007"))
        assert _reads_snapshots_by_key(store, plan), plan
        history = scores.history(store, "P007")
    assert [(s.month, s.model_version) for s in history] == [
        ("2026-10", "card-2"),
        ("2026-09", "card-2"),
        ("2026-08", "card-1"),
    ]


def test_the_decision_path_s_history_read_is_through_the_runs(published: Engine) -> None:
    with published.begin() as store:
        dialect = store.dialect.name
        marker = "?" if dialect == "sqlite" else "%s"
        plan = _plan(store, SNAPSHOT_HISTORY.format(p=marker), ("P007",))
        assert _reads_snapshots_by_key(store, plan), plan


def test_erasing_a_person_removes_each_of_their_snapshots_by_key(published: Engine) -> None:
    with published.begin() as store:
        column = score_snapshots.c.person_id
        plan = _plan(store, delete(score_snapshots).where(person_data._rows_of(column, "P007")))
        assert _reads_snapshots_by_key(store, plan), plan
        removed = person_data.erase(store, "P007")
        left = store.execute(select(score_snapshots.c.person_id).where(column == "P007")).all()
        others = store.execute(select(score_snapshots.c.person_id)).all()
    assert removed["score_snapshots"] == 4
    assert left == []
    assert len(others) == 4 * (len(PEOPLE) - 1)


def test_score_change_alerts_read_the_run_before_as_one_range_of_the_key(
    published: Engine,
) -> None:
    with published.begin() as store:
        if store.dialect.name == "sqlite":
            query = (
                "SELECT person_id, score FROM score_snapshots "
                "WHERE month = ? AND model_version = ? AND score IS NOT NULL"
            )
            plan = _plan(store, query, ("2026-09", "card-2"))
            assert plan.splitlines() == [
                "SEARCH score_snapshots USING PRIMARY KEY (month=? AND model_version=?)"
            ], plan
        raised = alerts.raise_score_changes(store, "2026-10", "card-2", T0)
    assert raised == len(PEOPLE)  # 610 to 650 for everyone
