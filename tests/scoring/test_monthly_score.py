"""The monthly score end to end: train on outcomes, score everyone, publish atomically."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain.scores import band_of
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file, enrol_one
from kaimen.ingest.file_ingest import ingest_file
from kaimen.model import artifact
from kaimen.scoring import batch
from kaimen.scoring.batch import load_model, score_month
from kaimen.scoring.reading import score_view
from kaimen.scoring.training import NotEnoughHistory, NotEnoughOutcomes, train
from kaimen.simulate.run import simulate
from kaimen.store import audit
from kaimen.store.database import open_store
from kaimen.store.tables import score_runs, score_snapshots
from tests.conftest import NOW, make_national_id
from tests.population import LAST, VAULT, Population, World


def _world(home: Path, url: str, people: int, sim: Path | None = None) -> World:
    engine = open_store(url)
    if sim is None:
        sim = home / "sim"
        simulate(people, 24, 11, sim, LAST)
    lake = home / "lake"
    enrol_file(engine, VAULT, sim / "people.csv", "test", now=NOW)
    ingest_file(engine, lake, sim / "events.parquet", "test", now=NOW)
    report = train(engine, ibis_connection(), lake, home / "models", LAST, "test", now=NOW)
    return World(engine, lake, home, sim, report)


@pytest.fixture(scope="module")
def world(scored_population: Population) -> Iterator[World]:
    """The shared scored population (1,500 people, PREVIOUS and LAST scored), read only."""
    with scored_population.opened() as w:
        yield w


def _scores(engine: Engine, month: str) -> dict[str, int | None]:
    with engine.connect() as store:
        rows = store.execute(
            select(score_snapshots.c.person_id, score_snapshots.c.score).where(
                score_snapshots.c.month == month
            )
        ).all()
    return dict(rows)


def test_the_model_learns_real_outcomes(world: World) -> None:
    oot = world.report.of_kind("scorecard").metrics.out_of_time
    assert oot is not None
    assert oot.auc > 0.75, oot
    assert oot.ks > 0.3, oot
    assert 0.01 < oot.bad_rate < 0.2
    rates = [r.bad_rate for r in oot.bad_rate_by_band if r.count >= 50]
    assert rates[0] > rates[-1]  # poor defaults more than the best populated band


def test_the_artifact_is_readable_json_that_reloads_identically(world: World) -> None:
    card_report = world.report.of_kind("scorecard")
    document = json.loads(card_report.path.read_text())
    text = json.dumps(document)
    for key in ("points", "as_of", "data_fingerprint", "auc"):
        assert key in text, key
    version, card = load_model(world.engine, lake_root=world.lake)
    assert version == card_report.version
    assert artifact.from_json(card_report.path.read_text()) == card


def test_every_enrolled_person_is_scored_in_range_with_the_right_band(world: World) -> None:
    with world.engine.connect() as store:
        rows = store.execute(select(score_snapshots).where(score_snapshots.c.month == LAST)).all()
    assert len(rows) == 1500
    for row in rows:
        if row.thin_file:
            assert row.score is None and row.band is None
            continue
        assert 350 <= row.score <= 950
        assert row.band == band_of(row.score).name
        dims = [row.credit_history, row.behaviour, row.capacity, row.identity, row.connections]
        assert all(0 <= d <= 100 for d in dims)
        assert row.connections == 50  # neutral until influence is bounded
        reasons = row.reasons
        assert len(reasons) <= 4
        # Stored as [feature, points_lost, value] (domain.snapshots).
        assert [r[1] for r in reasons] == sorted((r[1] for r in reasons), reverse=True)


def test_re_running_a_month_changes_nothing(world: World) -> None:
    before = _scores(world.engine, LAST)
    report = score_month(world.engine, ibis_connection(), world.lake, LAST, "test", now=NOW)
    assert report.already_published
    assert _scores(world.engine, LAST) == before


@pytest.mark.parametrize(
    ("month", "refusal"),
    [
        ("2026-11", r"2026-11 has not ended yet: .* \(the latest that is: 2026-10\)"),
        ("9999-12", "9999-12 has not ended yet"),
        ("1999-01", r"the lake begins at 20\d\d-\d\d: there are no events to score 1999-01 on"),
    ],
)
def test_a_month_not_over_or_before_the_lake_is_refused(
    world: World, month: str, refusal: str
) -> None:
    """Its scores would replace everyone's served score: from part of a month's events (and
    a published month is never run again), or as thin files for everyone."""
    with world.engine.connect() as store:
        runs = store.execute(select(func.count()).select_from(score_runs)).scalar_one()
    with pytest.raises(batch.MonthNotScorable, match=refusal):
        score_month(world.engine, ibis_connection(), world.lake, month, "test", now=NOW)
    with world.engine.connect() as store:
        assert store.execute(select(func.count()).select_from(score_runs)).scalar_one() == runs


def test_a_person_reads_score_reasons_and_history(world: World) -> None:
    scored = [p for p, s in _scores(world.engine, LAST).items() if s is not None and s < 700]
    view = score_view(world.engine, scored[0])
    assert view is not None
    assert view.month == LAST and view.score is not None and view.colour
    assert view.reasons and all(r.text and r.points_lost > 0 for r in view.reasons)
    assert [m.month for m in view.history] == [LAST, "2026-09"]
    newest = view.history[0]
    assert newest.change == view.score - view.history[1].score
    assert bool(newest.why) == bool(newest.change)
    assert score_view(world.engine, "nobody") is None


def test_training_needs_enough_history(world: World) -> None:
    with pytest.raises(NotEnoughHistory, match="needs history"):
        train(world.engine, ibis_connection(), world.lake, world.home / "m2", "2025-12", "t")


def test_training_needs_every_outcome_known(world: World) -> None:
    """As of a month not over, or past the lake's end, outcomes not yet known counted as good
    (a bad rate of 4% where it is 6%), and such a model could become champion."""
    later = dt.datetime(2026, 12, 15, tzinfo=dt.UTC)
    for as_of, now, says in (
        ("2026-11", NOW, r"2026-11, which has not ended yet: train as of 2026-10 at the latest"),
        ("2027-05", later, "which has not ended yet"),
        ("2026-11", later, "needs outcomes up to 2026-11; the lake reaches 2026-10"),
    ):
        with pytest.raises(NotEnoughHistory, match=says):
            train(world.engine, ibis_connection(), world.lake, world.home / "m3", as_of, "t", now)


def test_training_needs_enough_examples_of_each_outcome(database_url: str, tmp_path: Path) -> None:
    """Thirty people were fitted and crowned champion with a perfect AUC on 8 held out."""
    with pytest.raises(NotEnoughOutcomes, match=r"a model needs at least 200 examples"):
        _world(tmp_path, database_url, 30)


def test_shuffled_and_repeated_events_give_the_same_scores(world: World, tmp_path: Path) -> None:
    events = pq.read_table(world.sim / "events.parquet")
    order = list(range(events.num_rows))
    random.Random(5).shuffle(order)
    shuffled = tmp_path / "sim"
    shuffled.mkdir()
    (shuffled / "people.csv").write_bytes((world.sim / "people.csv").read_bytes())
    pq.write_table(events.take(order[: events.num_rows // 2]), shuffled / "part1.parquet")
    pq.write_table(events.take(order), shuffled / "events.parquet")
    other = _world(tmp_path, f"sqlite:///{tmp_path / 'k.sqlite'}", 0, sim=shuffled)
    ingest_file(other.engine, other.lake, shuffled / "part1.parquet", "test", now=NOW)
    assert [m.version for m in other.report.models] == [m.version for m in world.report.models]
    score_month(other.engine, ibis_connection(), other.lake, LAST, "test", now=NOW)
    assert _scores(other.engine, LAST) == _scores(world.engine, LAST)


def test_two_runs_of_a_month_at_once_publish_it_once(trained_copy: Population) -> None:
    """The second to publish was an unexpected error (a unique key on SQLite, a partition's
    name on PostgreSQL): now it answers that the month is published."""
    with trained_copy.opened() as w, ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(
                lambda _: score_month(w.engine, ibis_connection(), w.lake, LAST, "test", now=NOW),
                range(2),
            )
        )
        assert sorted(r.already_published for r in runs) == [False, True]
        with w.engine.connect() as store:
            assert store.execute(select(func.count()).select_from(score_runs)).scalar_one() == 1


def test_publication_is_atomic_and_a_thin_file_is_flagged(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = _world(tmp_path, database_url, 400)
    newcomer = enrol_one(w.engine, VAULT, "13912345678", make_national_id(sequence="999"), "t")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(batch.audit, "append", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        score_month(w.engine, ibis_connection(), w.lake, LAST, "test", now=NOW)
    with w.engine.connect() as store:
        assert store.execute(select(func.count()).select_from(score_snapshots)).scalar() == 0
        assert store.execute(select(func.count()).select_from(score_runs)).scalar() == 0
    monkeypatch.undo()
    report = score_month(w.engine, ibis_connection(), w.lake, LAST, "test", now=NOW)
    assert (report.people, report.already_published) == (401, False)
    assert report.thin_files >= 1
    view = score_view(w.engine, newcomer)
    assert view is not None and view.thin_file and view.score is None
    assert audit.verify(w.engine) >= 4
    w.engine.dispose()
