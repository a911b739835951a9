"""`kaimen show` reads through the database driver alone: the same view, the same access-log
row and the same output as the SQLAlchemy path, on SQLite and PostgreSQL; a store whose
schema is not at the newest revision (or that is missing) is refused, never migrated."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.domain.callers import Caller
from kaimen.domain.reasons import Reason
from kaimen.domain.snapshots import Snapshot
from kaimen.scoring.direct_reading import read_score_at
from kaimen.scoring.reading import NoScore, read_score
from kaimen.store import score_publishing
from kaimen.store.database import downgrade
from kaimen.store.revisions import newest_revision
from kaimen.store.score_read_path import StoreNotReady
from kaimen.store.tables import access_log, people
from tests.store.score_rows import T0, enrol, register_models, snapshot

ADMIN = Caller.admin("cli")
READ_AT = dt.datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
# As the SQLAlchemy path printed it (checked against the code before this path), wrapped
# at the console's 80 columns.
SHOWN = (
    "P1, 2026-10: 610 (good)  card-2\n"
    "  credit history 61, behaviour 48, capacity 70, identity 100, connections 50\n"
    "  - 92% of bills and instalments paid on time in the last 12 months (-31 points)\n"
    "  - nothing on record for: 1 if the latest verified vehicle record shows one \n"
    "owned, financed or leased. (-7 points)\n"
    "  - spending of 79 a month over the last 6 months (-3 points)\n"
    "  2026-10: 610 good (+23) - the model changed from card-1 to card-2\n"
    "  2026-09: 587 fair\n"
)


@pytest.fixture
def scored(engine: Engine) -> Engine:
    enrol(engine, "P1", "P2")
    register_models(engine, "card-1", "card-2")
    september = _scored(snapshot("P1", month="2026-09"), 40)
    october = _scored(snapshot("P1", model_version="card-2", score=610), 48)
    with engine.begin() as store:
        score_publishing.publish(store, "2026-09", "card-1", [september], T0)
        score_publishing.publish(store, "2026-10", "card-1", [snapshot("P1", score=590)], T0)
        score_publishing.publish(store, "2026-10", "card-2", [october], T0 + dt.timedelta(1))
    return engine


def _scored(made: Snapshot, on_time_points: int) -> Snapshot:
    """`made` with reasons and points of characteristics the catalogue words."""
    return dataclasses.replace(
        made,
        reasons=(
            Reason("on_time_share_12m", 31, 0.92),
            Reason("has_vehicle", 7, None),
            Reason("monthly_spend_6m", 3, 79.0),
        ),
        points={"on_time_share_12m": on_time_points, "has_vehicle": -4, "monthly_spend_6m": 40},
    )


def _log(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as store:
        rows = store.execute(
            select(
                access_log.c.person_id,
                access_log.c.accessed_at,
                access_log.c.actor,
                access_log.c.purpose,
                access_log.c.what,
                access_log.c.disclosed,
            ).order_by(access_log.c.access_id)
        )
        return [tuple(r) for r in rows]


def test_the_view_and_the_log_row_are_those_of_the_sqlalchemy_path(
    scored: Engine, database_url: str
) -> None:
    through_sqlalchemy = read_score(scored, "P1", ADMIN)
    direct = read_score_at(database_url, "P1", ADMIN, now=READ_AT)
    assert direct == through_sqlalchemy
    assert [m.month for m in direct.history] == ["2026-10", "2026-09"]
    first, second = _log(scored)
    assert first[:1] + first[2:] == second[:1] + second[2:]  # all but the time of reading
    assert second[1] == READ_AT


def test_the_person_reading_is_not_logged_and_nobody_scored_is_no_score(
    scored: Engine, database_url: str
) -> None:
    read_score_at(database_url, "P1", Caller.person("P1"), now=READ_AT)
    with pytest.raises(NoScore):
        read_score_at(database_url, "P2", ADMIN, now=READ_AT)
    with pytest.raises(NoScore):
        read_score_at(database_url, "nobody", ADMIN, now=READ_AT)
    assert _log(scored) == []


def test_a_read_of_someone_who_opted_out_since_is_not_logged(
    scored: Engine, database_url: str
) -> None:
    with scored.begin() as store:
        store.execute(
            update(people)
            .where(people.c.person_id == "P1")
            .values(status="opted_out", birth_date=None)
        )
    read_score_at(database_url, "P1", ADMIN, now=READ_AT)
    assert _log(scored) == []


def test_show_prints_what_it_printed_through_sqlalchemy(
    scored: Engine, database_url: str, tmp_path: Path
) -> None:
    env = {"KAIMEN_HOME": str(tmp_path / "home"), "KAIMEN_DATABASE_URL": database_url}
    shown = CliRunner().invoke(app, ["show", "P1"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.output == SHOWN
    assert len(_log(scored)) == 1


def test_a_store_at_another_revision_is_refused_and_left_as_it_is(
    scored: Engine, database_url: str
) -> None:
    previous = f"{int(newest_revision()) - 1:04d}"
    downgrade(scored, previous)
    with pytest.raises(StoreNotReady, match=f"revision {previous}, this kaimen reads"):
        read_score_at(database_url, "P1", ADMIN, now=READ_AT)
    with scored.connect() as store:
        assert store.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
            previous
        )


def test_a_missing_sqlite_store_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "none" / "kaimen.sqlite"
    with pytest.raises(StoreNotReady, match="no kaimen store at"):
        read_score_at(f"sqlite:///{path}", "P1", ADMIN)
    assert not path.exists()
