"""A month's snapshots in a partition of their own on PostgreSQL (migration 0029)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from kaimen.domain.snapshots import Snapshot
from kaimen.store import score_publishing, scores
from tests.store.score_rows import T0, enrol, register_models, snapshot

LATER = T0 + dt.timedelta(hours=1)


def _partitions(engine: Engine) -> dict[str, str]:
    """Each partition of score_snapshots and its bounds."""
    with engine.connect() as store:
        rows = store.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits AS i "
                "JOIN pg_class AS c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST('score_snapshots' AS regclass)"
            )
        )
        return dict(rows.all())


def _publish(engine: Engine, month: str, version: str, *snapshots: Snapshot) -> None:
    with engine.begin() as store:
        score_publishing.publish(store, month, version, snapshots, snapshots[0].published_at)


@pytest.fixture
def postgres(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    enrol(engine, "P1", "P2")
    register_models(engine, "card-1", "card-2")
    return engine


def test_each_month_published_first_gets_its_own_partition(postgres: Engine) -> None:
    _publish(postgres, "2026-09", "card-1", snapshot("P1", month="2026-09", score=560))
    _publish(postgres, "2026-10", "card-1", snapshot("P1"), snapshot("P2", score=700))
    # The same month again with another model: into the month's partition.
    _publish(
        postgres,
        "2026-10",
        "card-2",
        snapshot("P1", model_version="card-2", published_at=LATER, score=610),
    )
    assert _partitions(postgres) == {
        "score_snapshots_2026_09": "FOR VALUES IN ('2026-09')",
        "score_snapshots_2026_10": "FOR VALUES IN ('2026-10')",
    }
    with postgres.connect() as store:
        counted = store.execute(
            text("SELECT count(*) FROM score_snapshots_2026_10 WHERE month = '2026-10'")
        ).scalar_one()
        assert [s.score for s in scores.history(store, "P1")] == [610, 560]
    assert counted == 3


def test_a_failed_publication_leaves_no_partition_behind(postgres: Engine) -> None:
    twice = [snapshot("P1"), snapshot("P1")]
    with pytest.raises(IntegrityError), postgres.begin() as store:
        score_publishing.publish(store, "2026-10", "card-1", twice, T0)
    assert _partitions(postgres) == {}
    with postgres.connect() as store:
        assert not scores.is_published(store, "2026-10", "card-1")
    _publish(postgres, "2026-10", "card-1", snapshot("P1"))
    assert list(_partitions(postgres)) == ["score_snapshots_2026_10"]


def test_a_month_is_refused_unless_written_yyyy_mm(postgres: Engine) -> None:
    with pytest.raises(ValueError, match="not a month"), postgres.begin() as store:
        score_publishing.publish(store, "2026-10; DROP TABLE people", "card-1", [], T0)
    assert _partitions(postgres) == {}
