"""Score snapshots in the store: published a month at a time, read back as the records they
were, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from kaimen.domain.reasons import COURT_LISTING, Reason
from kaimen.domain.snapshots import (
    Snapshot,
    points_from_stored,
    reasons_from_stored,
    stored_points,
)
from kaimen.store import score_publishing, scores
from kaimen.store.tables import score_runs, score_snapshots
from tests.store.score_rows import T0, enrol, register_models, snapshot, thin_snapshot

LATER = T0 + dt.timedelta(hours=1)


def _publish(engine: Engine, month: str, version: str, *snapshots: Snapshot) -> int:
    with engine.begin() as store:
        return score_publishing.publish(store, month, version, snapshots, snapshots[0].published_at)


@pytest.fixture
def scored(engine: Engine) -> Engine:
    enrol(engine, "P1", "P2")
    register_models(engine, "card-1", "card-2")
    return engine


def test_a_published_snapshot_reads_back_as_it_was_written(scored: Engine) -> None:
    mine, thin = snapshot("P1"), thin_snapshot("P2")
    assert _publish(scored, "2026-10", "card-1", mine, thin) == 2
    with scored.connect() as store:
        assert scores.latest(store, "P1") == mine
        assert scores.latest(store, "P2") == thin
        assert scores.history(store, "P1") == [mine]
        assert scores.is_published(store, "2026-10", "card-1")
        assert not scores.is_published(store, "2026-10", "card-2")
        people = store.execute(select(score_runs.c.people)).scalar_one()
        read = scores.latest(store, "P1")
    assert people == 2
    assert read is not None and read.raw_score == 48
    assert [r.value for r in read.reasons] == [2.0, None, 0.875]


def test_nothing_is_visible_before_its_run_is_published(scored: Engine) -> None:
    with scored.begin() as store:
        # The month's rows written, its run not (yet): as inside the publication.
        score_publishing.publish(store, "2026-10", "card-1", [snapshot("P1")], T0)
        store.execute(score_runs.delete())
        assert store.execute(select(func.count()).select_from(score_snapshots)).scalar_one() == 1
        assert scores.latest(store, "P1") is None
        assert scores.history(store, "P1") == []


def test_history_keeps_the_latest_model_of_each_month_newest_month_first(
    scored: Engine,
) -> None:
    september = snapshot("P1", month="2026-09", score=560)
    first = snapshot("P1", model_version="card-1", score=587)
    second = snapshot("P1", model_version="card-2", published_at=LATER, score=610)
    _publish(scored, "2026-09", "card-1", september)
    _publish(scored, "2026-10", "card-1", first)
    _publish(scored, "2026-10", "card-2", second)
    with scored.connect() as store:
        assert scores.history(store, "P1") == [second, september]
        assert scores.latest(store, "P1") == second
        assert scores.published_models(store, "2026-10") == ["card-1", "card-2"]


def test_a_generator_is_published_whole(scored: Engine) -> None:
    taken: list[str] = []

    def made() -> Iterator[Snapshot]:
        for person in ("P1", "P2"):
            taken.append(person)
            yield snapshot(person)

    with scored.begin() as store:
        assert score_publishing.publish(store, "2026-10", "card-1", made(), T0) == 2
        stored = store.execute(select(func.count()).select_from(score_snapshots)).scalar_one()
    assert (taken, stored) == (["P1", "P2"], 2)


def test_scored_and_thin_rows_all_read_back(engine: Engine) -> None:
    people = [f"P{i:02d}" for i in range(23)]
    enrol(engine, *people)
    register_models(engine, "card-1")
    made = [snapshot(p) if i % 4 else thin_snapshot(p) for i, p in enumerate(people)]
    assert _publish(engine, "2026-10", "card-1", *made) == 23
    with engine.connect() as store:
        assert [scores.latest(store, p) for p in people] == made


def test_a_publication_failing_part_way_leaves_no_row(scored: Engine) -> None:
    with pytest.raises(IntegrityError), scored.begin() as store:
        # The second row repeats the first's key: refused after the first was written.
        score_publishing.publish(store, "2026-10", "card-1", [snapshot("P1")] * 2, T0)
    with scored.connect() as store:
        assert store.execute(select(func.count()).select_from(score_snapshots)).scalar_one() == 0
        assert not scores.is_published(store, "2026-10", "card-1")


def test_an_empty_month_is_still_published(scored: Engine) -> None:
    with scored.begin() as store:
        assert score_publishing.publish(store, "2026-10", "card-1", [], T0) == 0
        assert scores.is_published(store, "2026-10", "card-1")


def test_month_columns_give_the_engine_flags_as_numbers_and_points_as_json(
    scored: Engine,
) -> None:
    _publish(scored, "2026-10", "card-1", snapshot("P1"), thin_snapshot("P2"))
    with scored.connect() as store:
        columns = scores.month_columns(store, "2026-10", "card-1")
        empty = scores.month_columns(store, "2026-09", "card-1")
    order = sorted(range(2), key=lambda i: columns["person_id"][i])
    assert [columns["thin_file"][i] for i in order] == [0, 1]
    assert [columns["score"][i] for i in order] == [587, None]
    # Points as stored: a list in the order of the run's characteristics (its first
    # snapshot's, here), empty for a thin file.
    assert [json.loads(columns["points"][i]) for i in order] == [[12, -4, 40], []]
    assert dict(zip(snapshot("P1").points, [12, -4, 40], strict=True)) == snapshot("P1").points
    assert empty == {name: [] for name in scores.MONTH_COLUMNS}


def test_one_snapshot_per_person_month_and_model(scored: Engine) -> None:
    _publish(scored, "2026-10", "card-1", snapshot("P1"))
    with pytest.raises(IntegrityError), scored.begin() as store:
        score_publishing.publish(store, "2026-10", "card-1", [snapshot("P1")], T0)


def test_reasons_and_points_are_stored_without_their_keys_and_read_back_whole(
    scored: Engine,
) -> None:
    court = Reason(COURT_LISTING, 60, None, "court judgment C-1 at Nairobi, 900.00 KES unpaid")
    listed = dataclasses.replace(snapshot("P1"), reasons=(court, *snapshot("P1").reasons))
    # Another person with points for only some characteristics, and one the first has none
    # for: the run lists every name once, and each reads back exactly its own.
    partial = dataclasses.replace(snapshot("P2"), points={"months_of_history": 3, "new_one": 5})
    _publish(scored, "2026-10", "card-1", listed, partial, thin_snapshot("P3"))
    with scored.connect() as store:
        names = store.execute(select(score_runs.c.characteristics)).scalar_one()
        stored = {
            row.person_id: (row.reasons, row.points)
            for row in store.execute(select(score_snapshots))
        }
        read = {p: scores.latest(store, p) for p in ("P1", "P2", "P3")}
    assert json.loads(names) == [
        "late_payments_12m",
        "months_of_history",
        "on_time_rate_12m",
        "new_one",
    ]
    assert stored["P1"][0][0] == [COURT_LISTING, 60, None, court.detail]
    # A characteristic of the run by its place among the run's names, anything else by name.
    assert stored["P1"][0][1] == [0, 31, 2.0]
    assert stored["P1"][1] == [12, -4, 40, None]
    assert stored["P2"][1] == [None, 3, None, 5]
    assert stored["P3"] == ([], [])
    assert read["P1"] is not None and read["P1"].reasons == listed.reasons
    assert read["P1"].points == listed.points
    assert read["P2"] is not None and read["P2"].points == partial.points
    assert read["P3"] is not None and (read["P3"].reasons, read["P3"].points) == ((), {})


def test_a_reason_naming_a_place_the_run_does_not_have_is_refused() -> None:
    assert reasons_from_stored(("a", "b"), [[1, 5, 2.0], ["court", 60, None, "d"]]) == (
        Reason("b", 5, 2.0),
        Reason("court", 60, None, "d"),
    )
    for stored in (2, -1, True, 1.0, None):
        with pytest.raises(ValueError, match="a reason names characteristic"):
            reasons_from_stored(("a", "b"), [[stored, 5, 2.0]])


def test_points_for_a_characteristic_the_run_does_not_list_are_refused() -> None:
    with pytest.raises(ValueError, match="not in the run"):
        stored_points(("a", "b"), {"a": 1, "c": 2})
    with pytest.raises(ValueError, match="3 points stored for 2"):
        points_from_stored(("a", "b"), [1, 2, 3])
