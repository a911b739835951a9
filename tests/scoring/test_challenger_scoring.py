"""Champion and challenger on a simulated population: trained side by side, one champion,
explicit promotion, and `kaimen score` publishing whichever model is champion."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.domain.model_metrics import ModelMetrics
from kaimen.domain.scores import BANDS, band_of
from kaimen.engines.embedded import ibis_connection
from kaimen.features.build import build_features
from kaimen.model import challenger as ch
from kaimen.model.artifact import ArtifactRejected
from kaimen.model.challenger import Challenger
from kaimen.model.scorecard import Scorecard, published_score
from kaimen.scoring.batch import load_model, score_month
from kaimen.scoring.datasets import feature_arrays
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import NoModel, list_models, promote
from kaimen.scoring.reading import score_view
from kaimen.scoring.training import train
from kaimen.store import audit, model_registry
from kaimen.store.database import open_store
from kaimen.store.run_characteristics import characteristics_of
from kaimen.store.tables import audit_log, models, score_runs, score_snapshots
from tests.conftest import NOW
from tests.population import LAST, PREVIOUS, Population, Populations, World

runner = CliRunner()


@pytest.fixture(scope="module")
def world(populations: Populations) -> Iterator[World]:
    """A KAIMEN_HOME the CLI can use: trained once, PREVIOUS scored by the first champion."""
    with populations.copy("trained", "sqlite") as population, population.opened() as w:
        score_month(w.engine, ibis_connection(), w.lake, PREVIOUS, "test", now=NOW)
        yield w


def kaimen(w: World, *args: str) -> Result:
    env = {
        "KAIMEN_HOME": str(w.home),
        "KAIMEN_DATABASE_URL": None,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    return runner.invoke(app, list(args), env=env)


def _champions(engine: Engine) -> list[str]:
    with engine.connect() as store:
        return list(store.execute(select(models.c.version).where(models.c.champion == 1)).scalars())


def test_training_reports_both_models_side_by_side(world: World) -> None:
    report = world.report
    assert [m.kind for m in report.models] == ["scorecard", "lightgbm"]
    versions = [m.version for m in report.models]
    assert {r.version for r in list_models(world.engine)} >= set(versions)
    for trained in report.models:
        oot = trained.metrics.out_of_time
        assert oot is not None
        assert oot.auc > 0.75 and oot.ks > 0.3, (trained.kind, oot)
        assert oot.rows == report.models[0].metrics.out_of_time.rows
        # Each model's stored metrics carry the comparison with both models.
        compared = {m.version: m for m in trained.metrics.comparison.models}
        assert list(compared) == versions
        for other in report.models:
            assert compared[other.version].auc == other.metrics.out_of_time.auc
        # Calibration: observed beside expected, expected from the model's own probability.
        rows = [r for r in oot.bad_rate_by_band if r.count]
        expected = [r.expected_bad_rate for r in rows]
        assert all(0 < e < 1 for e in expected)
        assert expected == sorted(expected, reverse=True)  # safer bands expect fewer bads
        assert sum(r.count for r in rows) == oot.rows
        assert abs(oot.expected_bad_rate - oot.bad_rate) < 0.1
        with world.engine.connect() as store:
            record = model_registry.get(store, trained.version)
        assert record is not None and record.metrics == trained.metrics
        assert record.kind == trained.kind
    loaded = [load_model(world.engine, v, lake_root=world.lake)[1] for v in versions]
    assert isinstance(loaded[0], Scorecard) and isinstance(loaded[1], Challenger)
    # The artifact holds the metrics as JSON, the same as the registry's record.
    assert ModelMetrics.model_validate(loaded[1].metrics) == report.models[1].metrics
    assert "friends_on_platform" in loaded[1].excluded


def test_the_cli_prints_both_models_and_the_champion(world: World) -> None:
    result = kaimen(world, "models")
    assert result.exit_code == 0, result.output
    card, lgbm = world.report.models
    [champion] = _champions(world.engine)
    for version in (card.version, lgbm.version):
        [line] = [line for line in result.output.splitlines() if version in line]
        assert ("*" in line) == (version == champion), line
    assert f"{lgbm.metrics.out_of_time.auc:.3f}" in result.output


def test_the_first_model_is_champion_and_training_again_never_replaces_it(
    world: World, tmp_path: Path
) -> None:
    card, lgbm = world.report.models
    assert card.champion and not lgbm.champion
    assert world.report.champion == card.version
    again = train(world.engine, ibis_connection(), world.lake, tmp_path, PREVIOUS, "test", now=NOW)
    assert [m.champion for m in again.models] == [False, False]
    assert again.champion == card.version
    assert _champions(world.engine) == [card.version]
    # The same data again: the same versions, registered once.
    same = train(world.engine, ibis_connection(), world.lake, tmp_path, LAST, "test", now=NOW)
    assert [m.version for m in same.models] == [card.version, lgbm.version]
    assert [m.path for m in same.models] == [card.path, lgbm.path]


def test_promote_switches_the_model_kaimen_score_uses(world: World) -> None:
    card, lgbm = world.report.models
    promoted = kaimen(world, "promote", lgbm.version)
    try:
        assert promoted.exit_code == 0, promoted.output
        assert f"replacing {card.version}" in promoted.output
        assert _champions(world.engine) == [lgbm.version]
        assert "already the champion" in kaimen(world, "promote", lgbm.version).output
        scored = kaimen(world, "score", "--month", LAST)
        assert scored.exit_code == 0, scored.output
        assert lgbm.version in scored.output

        _, model = load_model(world.engine, lake_root=world.lake)
        assert isinstance(model, Challenger)
        table = build_features(
            ibis_connection(), summary_paths(world.engine, world.lake), LAST
        ).sort_by("person_id")
        values = feature_arrays(table)
        e = ch.explain(model, values)
        expected_score = published_score(e.raw_score)
        why = ch.reasons(model, e)
        dims = ch.dimension_scores(model, e)
        pts = np.rint(ch.points(model, e)).astype(np.int64)
        row_of = {p: i for i, p in enumerate(table.column("person_id").to_pylist())}
        with world.engine.connect() as store:
            rows = store.execute(
                select(score_snapshots).where(score_snapshots.c.month == LAST)
            ).all()
        assert {r.model_version for r in rows} == {lgbm.version}
        names = store_names(world.engine, LAST, lgbm.version)
        assert names == model.names
        checked = 0
        for r in rows:
            if r.thin_file:
                continue
            i = row_of[r.person_id]
            assert r.score == expected_score[i] and r.band == band_of(r.score).name
            # Stored as [place, points_lost, value] (the feature's place among the run's
            # names), points in the run's names' order.
            given = [(names[x[0]], x[1]) for x in r.reasons]
            assert given == why[i]
            assert r.points == pts[i].tolist()
            assert abs(sum(r.points) - e.raw_score[i]) <= len(model.names)
            for d, v in dims.items():
                assert getattr(r, d.value) == round(v[i])
            assert r.connections == 50
            checked += 1
        assert checked > 1000

        # A person reads the challenger's score, reasons and the change since PREVIOUS.
        person = next(r.person_id for r in rows if r.score is not None and r.score < 650)
        view = score_view(world.engine, person)
        assert view is not None and view.model_version == lgbm.version
        assert view.reasons and all(r.text and r.points_lost > 0 for r in view.reasons)
        assert [m.month for m in view.history] == [LAST, PREVIOUS]
        # Points of two different models do not compare: the change is put down to the switch.
        if view.history[0].change:
            assert view.history[0].why == [
                f"the model changed from {card.version} to {lgbm.version}"
            ]

        with world.engine.connect() as store:
            entry = store.execute(
                select(audit_log).where(audit_log.c.action == "model.promoted")
            ).first()
        assert entry is not None and entry.subject == lgbm.version
        assert json.loads(entry.details) == {"kind": "lightgbm", "previous": card.version}
        assert audit.verify(world.engine) > 0
    finally:
        promote(world.engine, card.version, "test", now=NOW, lake_root=world.lake)
    assert _champions(world.engine) == [card.version]


def test_promote_refuses_an_unknown_version_cleanly(world: World) -> None:
    before = _champions(world.engine)
    result = kaimen(world, "promote", "lightgbm-1999-01-nothing")
    assert result.exit_code == 1
    assert "no model 'lightgbm-1999-01-nothing' is registered" in result.output
    assert "Traceback" not in result.output
    assert _champions(world.engine) == before


def _register_copy(engine: Engine, source: Path, folder: Path, version: str) -> Path:
    """Save `source`'s model under another version and register it, as training would."""
    text = ch.to_json(dataclasses.replace(ch.from_json(source.read_text()), version=version))
    path = folder / f"{version}.json"
    path.write_text(text)
    with engine.begin() as store:
        model_registry.register(
            store,
            model_registry.ModelRecord(
                version,
                "lightgbm",
                str(path),
                hashlib.sha256(text.encode()).hexdigest(),
                NOW,
                LAST,
                ModelMetrics(),
                False,
            ),
        )
    return path


def test_promote_refuses_a_missing_or_edited_artifact(world: World, tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'k.sqlite'}")
    lgbm = world.report.models[1]
    first = _register_copy(engine, lgbm.path, tmp_path, "lightgbm-first")
    assert _champions(engine) == ["lightgbm-first"]

    missing = _register_copy(engine, lgbm.path, tmp_path, "lightgbm-missing")
    missing.unlink()
    with pytest.raises(ArtifactRejected, match="missing"):
        promote(engine, "lightgbm-missing", "test", lake_root=tmp_path / "lake")

    edited = _register_copy(engine, lgbm.path, tmp_path, "lightgbm-edited")
    document = json.loads(edited.read_text())
    document["model"]["features"][0]["best_points"] += 5
    edited.write_text(json.dumps(document, indent=2))
    with pytest.raises(ArtifactRejected, match="edited"):
        promote(engine, "lightgbm-edited", "test", lake_root=tmp_path / "lake")
    # Edited and re-registered under the edited file's hash: the content hash still refuses.
    with engine.begin() as store:
        store.execute(
            update(models)
            .where(models.c.version == "lightgbm-edited")
            .values(sha256=hashlib.sha256(edited.read_text().encode()).hexdigest())
        )
    with pytest.raises(ArtifactRejected, match="content hash"):
        promote(engine, "lightgbm-edited", "test", lake_root=tmp_path / "lake")
    with pytest.raises(NoModel, match="no model 'nope'"):
        promote(engine, "nope", "test", lake_root=tmp_path / "lake")
    assert _champions(engine) == ["lightgbm-first"]
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(audit_log)).scalar() == 0
    assert first.exists()
    engine.dispose()


def test_a_promoted_challenger_scores_on_each_database(trained_copy: Population) -> None:
    w = trained_copy.open()
    card, lgbm = w.report.models
    first = score_month(w.engine, ibis_connection(), w.lake, PREVIOUS, "test", now=NOW)
    assert first.model_version == card.version and not first.already_published
    assert promote(w.engine, lgbm.version, "test", now=NOW, lake_root=w.lake).changed
    report = score_month(w.engine, ibis_connection(), w.lake, LAST, "test", now=NOW)
    assert report.model_version == lgbm.version and report.scored > 300
    assert set(report.bands) <= {b.name for b in BANDS}
    with w.engine.connect() as store:
        versions = set(
            store.execute(
                select(score_snapshots.c.model_version).where(score_snapshots.c.month == LAST)
            ).scalars()
        )
    assert versions == {lgbm.version}
    assert _champions(w.engine) == [lgbm.version]
    # The database itself refuses a second champion.
    with pytest.raises(IntegrityError), w.engine.begin() as store:
        store.execute(update(models).where(models.c.version == card.version).values(champion=1))
    assert _champions(w.engine) == [lgbm.version]
    # PREVIOUS published again by the challenger, then the scorecard promoted back: its run of
    # PREVIOUS stands, and the report says whose run is served (the one published last),
    # where the command said the scorecard's month was in place.
    later = NOW + dt.timedelta(minutes=1)
    score_month(w.engine, ibis_connection(), w.lake, PREVIOUS, "test", now=later)
    assert promote(w.engine, card.version, "test", now=later, lake_root=w.lake).changed
    again = score_month(w.engine, ibis_connection(), w.lake, PREVIOUS, "test", now=later)
    assert again.already_published and again.model_version == card.version
    assert again.served_version == lgbm.version
    w.engine.dispose()


def store_names(engine: Engine, month: str, version: str) -> tuple[str, ...]:
    """The names a published run lists its snapshots' points by."""
    with engine.connect() as store:
        text = store.execute(
            select(score_runs.c.characteristics).where(
                score_runs.c.month == month, score_runs.c.model_version == version
            )
        ).scalar_one()
    return characteristics_of(text)
