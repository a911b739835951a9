"""A month published with its score-change alerts (`store.month_publication`), on SQLite and
PostgreSQL: on PostgreSQL the run before is read on a connection of its own meanwhile."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from kaimen.store import alerts, month_publication, score_publishing
from kaimen.store.tables import alerts as alert_rows
from kaimen.store.tables import people, score_snapshots
from tests.store.score_rows import T0, enrol, register_models, snapshot, thin_snapshot

PEOPLE = ("P1", "P2", "P3", "P4")


def _month(month: str, scores: dict[str, int | None]) -> pa.Table:
    made = [
        snapshot(p, month, score=s) if s is not None else thin_snapshot(p, month)
        for p, s in scores.items()
    ]
    names = score_publishing.run_characteristics(made)
    return score_publishing.snapshot_table(made, names)


def _changes(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as store:
        rows = store.execute(
            select(alert_rows.c.person_id, alert_rows.c.details).where(
                alert_rows.c.kind == "score_change"
            )
        ).all()
    return {p: (d["from_score"], d["to_score"]) for p, d in rows}


def test_a_month_is_published_with_its_score_changes(engine: Engine) -> None:
    enrol(engine, *PEOPLE)
    register_models(engine, "card-1")
    first = _month("2026-09", {"P1": 600, "P2": 600, "P3": 600, "P4": 600})
    second = _month("2026-10", {"P1": 640, "P2": 610, "P3": 570, "P4": None})
    with engine.begin() as store:
        done = month_publication.publish(store, "2026-09", "card-1", first, T0, ("a", "b", "c"))
    assert done == month_publication.Published(4, 0)
    with engine.begin() as store:
        done = month_publication.publish(store, "2026-10", "card-1", second, T0, ("a", "b", "c"))
    assert done == month_publication.Published(4, 2)
    assert _changes(engine) == {"P1": (600, 640), "P3": (600, 570)}
    with engine.connect() as store:
        rows = store.execute(select(func.count()).select_from(score_snapshots)).scalar_one()
    assert rows == 8


def test_scores_read_for_another_run_than_the_one_before_are_not_used(engine: Engine) -> None:
    enrol(engine, *PEOPLE)
    register_models(engine, "card-1")
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as store:
        score_publishing.publish_table(
            store, "2026-09", "card-1", _month("2026-09", dict.fromkeys(PEOPLE, 600)), now, "abc"
        )
        new = _month("2026-10", {"P1": 700, "P2": 600, "P3": 600, "P4": 600})
        score_publishing.publish_table(store, "2026-10", "card-1", new, now, "abc")
        # Scores said to be of a run that is not the one before, and matched against the new
        # run as if everyone had moved: read again and matched again, not trusted.
        said = new.select(["person_id", "score"])
        everyone_moved = pa.table(
            {
                "person_id": list(PEOPLE),
                "ref": ["2026-10/card-1"] * 4,
                "details": ['{"month":"2026-10","from_score":100,"to_score":600}'] * 4,
            },
            schema=alerts.ALERT_ROWS_SCHEMA,
        )
        stale = alerts.PreviousRun("2026-08", "card-1", said, everyone_moved)
        assert alerts.raise_score_changes(store, "2026-10", "card-1", now, new, stale) == 1
    assert _changes(engine) == {"P1": (600, 700)}


def test_what_is_read_alongside_a_failed_publication_changes_nothing(engine: Engine) -> None:
    enrol(engine, *PEOPLE)
    register_models(engine, "card-1")
    table = _month("2026-09", dict.fromkeys(PEOPLE, 600))
    with engine.begin() as store:
        month_publication.publish(store, "2026-09", "card-1", table, T0, ("a", "b", "c"))
    with pytest.raises(IntegrityError), engine.begin() as store:
        # The same month again: the key refuses it, whatever was read meanwhile.
        month_publication.publish(store, "2026-09", "card-1", table, T0, ("a", "b", "c"))
    with engine.connect() as store:
        rows = store.execute(select(func.count()).select_from(score_snapshots)).scalar_one()
    assert rows == 4 and _changes(engine) == {}


def test_alerts_made_beside_the_rows_leave_out_who_is_no_longer_active(engine: Engine) -> None:
    enrol(engine, *PEOPLE)
    register_models(engine, "card-1")
    first = _month("2026-09", dict.fromkeys(PEOPLE, 600))
    second = _month("2026-10", {"P1": 640, "P2": 640, "P3": 600, "P4": 560})
    with engine.begin() as store:
        month_publication.publish(store, "2026-09", "card-1", first, T0, ("a", "b", "c"))
    with engine.begin() as store:
        # P2 opts out before the month is published (the opt-out itself is the service's).
        store.execute(
            people.update()
            .where(people.c.person_id == "P2")
            .values(status="opted_out", birth_date=None)
        )
    with engine.begin() as store:
        done = month_publication.publish(store, "2026-10", "card-1", second, T0, ("a", "b", "c"))
    assert done == month_publication.Published(4, 2)
    assert _changes(engine) == {"P1": (600, 640), "P4": (600, 560)}
