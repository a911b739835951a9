"""Score-change alerts are keyed by their run (migration 0031): a month's go in at the end of
their key, a person's are found through the runs, and every other kind stays keyed by the
person. Each alert is still one per person, kind and cause. Shown by the rows and by the
plans the databases choose."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.exc import IntegrityError

from kaimen.store import alerts, person_data, score_publishing
from kaimen.store.alerts import AlertKind, NewAlert
from kaimen.store.tables import alerts as alert_table
from tests.store.score_rows import T0, enrol, register_models, snapshot
from tests.store.test_snapshot_key import _plan

PEOPLE = tuple(f"P{i:03d}" for i in range(30))


@pytest.fixture
def alerted(engine: Engine) -> Engine:
    """Thirty people scored over three months (all moving 40 points a month, so each month
    after the first raises a score-change alert for everyone), with one alert of every
    other kind for P007 and P008."""
    enrol(engine, *PEOPLE)
    register_models(engine, "card-1")
    for hours, (month, score) in enumerate((("2026-08", 560), ("2026-09", 600), ("2026-10", 640))):
        at = T0 + dt.timedelta(hours=hours)
        with engine.begin() as store:
            rows = [snapshot(p, month, "card-1", at, score) for p in PEOPLE]
            score_publishing.publish(store, month, "card-1", rows, at)
            alerts.raise_score_changes(store, month, "card-1", at)
    with engine.begin() as store:
        alerts.raise_many(
            store,
            [
                NewAlert(person, kind, f"{kind.value}-{person}", {"n": 1})
                for person in ("P007", "P008")
                for kind in AlertKind
                if kind is not AlertKind.SCORE_CHANGE
            ],
            T0,
        )
    return engine


def _reads_alerts_by_key(store: Connection, plan: str) -> bool:
    """Whether the plan reaches `alerts` only through its keys. On SQLite each probe names
    the whole of the key's leading part: the person, or the run and the person. PostgreSQL
    is only held to its indexes here: with these few rows its costs choose to walk the
    run-led key for the person; with 600,000 score changes over twelve runs (analysed) it
    probes (ref, person_id) once a run, 0.24 ms in all (measured for migration 0031)."""
    lines = plan.splitlines()
    if store.dialect.name == "sqlite":
        found = [line for line in lines if "alerts" in line]
        return bool(found) and all(
            line.startswith("SEARCH")
            and ("rowid=?" in line or "(person_id=?)" in line or "(ref=? AND person_id=?)" in line)
            for line in found
        )
    return "Seq Scan on alerts" not in plan and "Index Scan using uq_alerts_" in plan


def test_a_person_s_alerts_are_each_of_their_causes_found_by_key(alerted: Engine) -> None:
    with alerted.begin() as store:
        mine = alert_table.c.alert_id.in_(alerts.person_alert_ids("P007"))
        plan = _plan(store, select(alert_table).where(mine))
        assert _reads_alerts_by_key(store, plan), plan
        found = alerts.of_person(store, "P007")
        other = alerts.of_person(store, "P011")
    assert sorted((a.kind.value, a.ref) for a in found) == sorted(
        [
            ("score_change", "2026-09/card-1"),
            ("score_change", "2026-10/card-1"),
            *((k.value, f"{k.value}-P007") for k in AlertKind if k is not AlertKind.SCORE_CHANGE),
        ]
    )
    # Newest first, as before.
    assert [a.alert_id for a in found] == sorted((a.alert_id for a in found), reverse=True)
    assert [(a.kind, a.ref) for a in other] == [
        (AlertKind.SCORE_CHANGE, "2026-10/card-1"),
        (AlertKind.SCORE_CHANGE, "2026-09/card-1"),
    ]
    assert found[0].details  # the rows themselves, not only their ids


def test_unread_only_and_marking_read_see_score_changes_too(alerted: Engine) -> None:
    with alerted.begin() as store:
        change = next(a for a in alerts.of_person(store, "P011") if a.ref == "2026-09/card-1")
        marked, first = alerts.mark_read(store, "P011", change.alert_id, T0)
        unread = alerts.of_person(store, "P011", unread_only=True)
    assert first and marked.read_at is not None
    assert [a.ref for a in unread] == ["2026-10/card-1"]


def test_each_cause_is_still_raised_once(alerted: Engine) -> None:
    again = [
        NewAlert("P007", AlertKind.SCORE_CHANGE, "2026-10/card-1", {"again": True}),
        NewAlert("P007", AlertKind.NEGATIVE_ITEM, "negative_item-P007", {"again": True}),
    ]
    with alerted.begin() as store:
        before = store.execute(select(alert_table.c.alert_id)).all()
        alerts.raise_many(store, again, T0)
        assert alerts.raise_score_changes(store, "2026-10", "card-1", T0) == 0
        assert store.execute(select(alert_table.c.alert_id)).all() == before
    # A new run's alerts written without looking for repeats still cannot repeat one.
    with pytest.raises(IntegrityError), alerted.begin() as store:
        store.execute(
            alert_table.insert().values(
                person_id="P007",
                kind="score_change",
                ref="2026-10/card-1",
                raised_at=T0,
                details={},
            )
        )
    # The same person and cause under another kind is another alert.
    with alerted.begin() as store:
        alerts.raise_many(store, [NewAlert("P007", AlertKind.INQUIRY, "2026-10/card-1", {})], T0)
        kinds = {a.kind for a in alerts.of_person(store, "P007") if a.ref == "2026-10/card-1"}
    assert kinds == {AlertKind.SCORE_CHANGE, AlertKind.INQUIRY}


def test_erasing_a_person_removes_every_alert_of_theirs_by_key(alerted: Engine) -> None:
    with alerted.begin() as store:
        condition = person_data._rows_of(alert_table.c.person_id, "P007")
        plan = _plan(store, delete(alert_table).where(condition))
        assert _reads_alerts_by_key(store, plan), plan
        everyone = store.execute(select(alert_table.c.alert_id)).all()
        removed = person_data.erase(store, "P007")
        left = store.execute(
            select(alert_table.c.alert_id).where(alert_table.c.person_id == "P007")
        ).all()
        others = store.execute(select(alert_table.c.alert_id)).all()
    assert removed["alerts"] == 2 + 4
    assert left == []
    assert len(others) == len(everyone) - 6


def test_people_no_longer_active_are_not_told_of_a_new_run(alerted: Engine) -> None:
    at = T0 + dt.timedelta(days=1)
    with alerted.begin() as store:
        assert person_data.begin_opt_out(store, "P011")
        rows = [snapshot(p, "2026-11", "card-1", at, 690) for p in PEOPLE]
        score_publishing.publish(store, "2026-11", "card-1", rows, at)
        raised = alerts.raise_score_changes(store, "2026-11", "card-1", at)
        told = store.execute(
            select(alert_table.c.person_id).where(alert_table.c.ref == "2026-11/card-1")
        ).scalars()
        assert sorted(told) == [p for p in PEOPLE if p != "P011"]
    assert raised == len(PEOPLE) - 1


def test_the_kind_is_part_of_the_statement_not_a_parameter(engine: Engine) -> None:
    # A plan made before the parameters are known (PostgreSQL's generic plan of a prepared
    # statement) can use a partial index only if the statement itself implies its predicate.
    statement = select(alert_table).where(
        alert_table.c.alert_id.in_(alerts.person_alert_ids("P007"))
    )
    with engine.connect() as store:
        compiled = statement.compile(store)
    assert "score_change" not in compiled.params.values()
    assert str(compiled).count("alerts.kind != 'score_change'") == 1
    assert str(compiled).count("alerts.kind = 'score_change'") == 1
    assert "P007" in compiled.params.values()
