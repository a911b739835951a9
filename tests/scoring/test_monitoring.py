"""Monitoring: PSI, a month drifted on purpose against an undrifted one, observed against
expected only once outcomes exist, the model card in JSON and Markdown, and `kaimen monitor`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.domain.model_metrics import Evaluation
from kaimen.domain.scores import BANDS
from kaimen.domain.snapshots import points_from_stored
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.model import artifact
from kaimen.model.challenger import Challenger
from kaimen.model.model_card import ModelCard
from kaimen.model.model_card_markdown import render_markdown
from kaimen.model.scorecard import Scorecard
from kaimen.model.stability import PSI_EPSILON, StabilityItem, population_stability_index
from kaimen.scoring.batch import load_model, score_month
from kaimen.scoring.datasets import labelled_examples
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import NoModel, wrap
from kaimen.scoring.monitoring import MonitoringFailed, MonitoringReport, monitor
from kaimen.scoring.training import evaluate, train
from kaimen.store import audit, model_registry
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.run_characteristics import characteristics_of
from kaimen.store.tables import audit_log, models, score_runs, score_snapshots
from tests.conftest import NOW
from tests.population import Population, Populations

LAST = "2026-10"
# Training's out-of-time month: its 12-month outcome window ends at LAST, so it is known.
OUT_OF_TIME = "2025-10"
OUTCOMES_OF_LAST_KNOWN_AFTER = "2027-10"
VAULT = IdentityVault(bytes(range(32)))
# The stressed population pays late: 60% of people turn every on-time repayment of
# 2026-04..2026-09 into one paid a day late. And 10% stop buying anything through the platform
# from 2026-05 (their purchases are withheld), so their share of risky spending is missing.
# No default or 90-day lateness is added and nothing before 2026-04 changes, so training
# (features to 2025-10, labels from serious delinquency only) sees exactly the same data and
# fits exactly the same model.
STRESS_FROM, STRESS_TO, STRESSED_SHARE = "2026-04", "2026-09", 0.6
WITHHELD_FROM, WITHHELD_SHARE = "2026-05", 0.1
TOUCHED_BY_STRESS = {
    "late_repayments_12m",
    "on_time_share_12m",
    "rent_utility_on_time_share_12m",
    "risky_spend_share_6m",
    "monthly_spend_6m",
    "active_months_6m",
}


@dataclasses.dataclass
class World:
    engine: Engine
    home: Path
    lake: Path
    version: str
    reports: dict[str, MonitoringReport]
    withheld: int = 0


def _world(home: Path, url: str, sim: Path, months: list[str]) -> World:
    engine = open_store(url)
    lake = home / "lake"
    enrol_file(engine, VAULT, sim / "people.csv", "test", now=NOW)
    ingest_file(engine, lake, sim / "events.parquet", "test", now=NOW)
    train(engine, ibis_connection(), lake, home / "models", LAST, "test", now=NOW)
    return _monitored(engine, home, lake, months)


def _monitored(engine: Engine, home: Path, lake: Path, months: list[str]) -> World:
    """Trained: score and monitor each month."""
    with engine.connect() as store:
        champion = model_registry.champion(store)
    assert champion is not None
    reports = {}
    for month in months:
        score_month(engine, ibis_connection(), lake, month, "test", now=NOW)
        reports[month] = monitor(
            engine, ibis_connection(), lake, month, home / "cards", "test", now=NOW
        )
    return World(engine, home, lake, champion.version, reports)


def _stressed_copy(sim: Path, out: Path) -> tuple[Path, int]:
    """The simulation under stress, and how many people's purchases were withheld."""
    out.mkdir(parents=True)
    shutil.copy(sim / "people.csv", out / "people.csv")
    events = pq.read_table(sim / "events.parquet")
    people = np.unique(events.column("person_id").to_numpy(zero_copy_only=False))
    draw = np.random.default_rng(3).random(people.size)
    late_payers, withheld = people[draw < STRESSED_SHARE], people[draw > 1 - WITHHELD_SHARE]
    month = pc.strftime(events.column("occurred_at"), "%Y-%m")
    hit = pc.and_(
        pc.and_(
            pc.is_in(events.column("person_id"), pa.array(late_payers)),
            pc.equal(events.column("status"), "on_time"),
        ),
        pc.and_(pc.greater_equal(month, STRESS_FROM), pc.less_equal(month, STRESS_TO)),
    )
    assert pc.sum(hit).as_py() > 1000
    day_after_due = pc.add(
        pc.cast(events.column("due_date"), pa.int32()), pa.scalar(1, pa.int32())
    ).cast(pa.date32())
    for name, changed in (("status", "late"), ("paid_date", day_after_due)):
        column = events.column(name)
        events = events.set_column(
            events.schema.get_field_index(name), name, pc.if_else(hit, changed, column)
        )
    dropped = pc.and_(
        pc.and_(
            pc.is_in(events.column("person_id"), pa.array(withheld)),
            pc.equal(events.column("kind"), "payment"),
        ),
        pc.greater_equal(month, WITHHELD_FROM),
    )
    pq.write_table(events.filter(pc.invert(dropped)), out / "events.parquet")
    return out, int(withheld.size)


def _artifact_of(w: World, stored: str) -> Scorecard:
    """The artifact a card names, as the registry stores it: relative to the home."""
    return artifact.from_json(model_registry.artifact_path(stored, w.home).read_text())


def _assert_bins_match_published_points(w: World, month: str) -> None:
    """Each characteristic's month counts, times its bins' points, give the points the
    month's snapshots hold: people are counted in the bins they were scored in."""
    report = w.reports[month]
    card = _artifact_of(w, report.card.model.artifact)
    with w.engine.connect() as store:
        stored = store.execute(
            select(score_snapshots.c.points, score_runs.c.characteristics)
            .join(
                score_runs,
                (score_runs.c.month == score_snapshots.c.month)
                & (score_runs.c.model_version == score_snapshots.c.model_version),
            )
            .where(score_snapshots.c.month == month, score_snapshots.c.score.is_not(None))
        ).all()
        published = [points_from_stored(characteristics_of(n), p) for p, n in stored]
    items = _items(report)
    for c in card.characteristics:
        month_counts = [b.month_count for b in items[c.name].bins]
        assert sum(month_counts) == len(published) == report.card.stability.population.scored
        points = [*c.points, c.missing_points]
        assert np.dot(month_counts, points) == sum(p[c.name] for p in published), c.name
        assert [b.training_count for b in items[c.name].bins] == [*c.counts, c.missing_count]


@pytest.fixture(scope="module")
def steady(populations: Populations) -> Iterator[World]:
    """The trained population (from `simulation`, as `stressed` is), the module's own copy."""
    with populations.copy("trained", "sqlite") as population, population.opened() as w:
        yield _monitored(w.engine, w.home, w.lake, [OUT_OF_TIME, LAST])


@pytest.fixture(scope="module")
def stressed(tmp_path_factory: pytest.TempPathFactory, simulation: Path) -> Iterator[World]:
    home = tmp_path_factory.mktemp("stressed")
    sim, withheld = _stressed_copy(simulation, home / "sim")
    w = _world(home, f"sqlite:///{home / 'kaimen.sqlite'}", sim, [LAST])
    w.withheld = withheld
    yield w
    w.engine.dispose()


def _items(report: MonitoringReport) -> dict[str, StabilityItem]:
    return {i.item: i for i in report.card.stability.measured}


# -- drift ----------------------------------------------------------------------------------


def test_an_undrifted_month_stays_stable(steady: World) -> None:
    report = steady.reports[LAST]
    items = _items(report)
    assert report.card.stability.worst_level == "stable"
    assert all(i.level == "stable" and i.psi < 0.1 for i in items.values()), items
    # The month's band counts are the published scores' bands, not a copy of training.
    with steady.engine.connect() as store:
        bands = list(
            store.execute(
                select(score_snapshots.c.band).where(
                    score_snapshots.c.month == LAST, score_snapshots.c.score.is_not(None)
                )
            ).scalars()
        )
    counted = [bands.count(b.name) for b in BANDS]
    score = items["score"]
    assert [b.month_count for b in score.bins] == counted
    training = _artifact_of(steady, report.card.model.artifact)
    trained = {r["band"]: r["count"] for r in training.metrics["training"]["bad_rate_by_band"]}
    assert [b.training_count for b in score.bins] == [trained[b.name] for b in BANDS]
    assert score.psi == pytest.approx(population_stability_index(list(trained.values()), counted))
    _assert_bins_match_published_points(steady, LAST)
    assert not any("no longer give their published score" in x for x in report.card.limits)


def test_a_month_drifted_on_purpose_crosses_the_alert_level(steady: World, stressed: World) -> None:
    # Training is untouched by the stress, so both worlds hold the very same model.
    assert stressed.version == steady.version
    calm, drifted = _items(steady.reports[LAST]), _items(stressed.reports[LAST])
    assert drifted["score"].level == "act" and drifted["score"].psi > 0.25
    assert calm["score"].level == "stable"
    # Paying late moves people out of the top bands into the bottom one.
    shares = [
        (c.month_share, d.month_share)
        for c, d in zip(calm["score"].bins, drifted["score"].bins, strict=True)
    ]
    assert shares[0][1] > shares[0][0] and shares[-1][1] < shares[-1][0]
    assert drifted["late_repayments_12m"].level == "act"
    assert stressed.reports[LAST].card.stability.worst_level == "act"
    # Withheld purchases leave the risky-spending share missing, a bin empty in training:
    # the epsilon guard keeps its term finite, and large.
    missing = drifted["risky_spend_share_6m"].bins[-1]
    assert missing.label == "missing" and missing.training_count == 0
    assert 0.5 * stressed.withheld < missing.month_count <= stressed.withheld
    share = missing.month_share
    assert missing.psi_term == pytest.approx((share - PSI_EPSILON) * math.log(share / PSI_EPSILON))
    assert drifted["risky_spend_share_6m"].level == "act"
    _assert_bins_match_published_points(stressed, LAST)
    # What the stress did not touch did not move.
    untouched = set(calm) - TOUCHED_BY_STRESS - {"score"}
    assert untouched
    for name in untouched:
        assert drifted[name].psi == pytest.approx(calm[name].psi), name
    limits = " ".join(stressed.reports[LAST].card.limits)
    assert "late_repayments_12m has shifted since training" in limits
    assert "score has shifted since training" in limits


# -- outcomes -------------------------------------------------------------------------------


def _everyone_at_out_of_time(w: World, model: Scorecard | Challenger) -> Evaluation:
    paths = summary_paths(w.engine, w.lake)
    return evaluate(wrap(model), labelled_examples(ibis_connection(), paths, OUT_OF_TIME, LAST))


def test_observed_against_expected_appears_only_once_outcomes_exist(steady: World) -> None:
    pending = steady.reports[LAST].card.outcomes
    assert pending.status == "pending"
    assert pending.known_after == OUTCOMES_OF_LAST_KNOWN_AFTER
    assert pending.lake_reaches == LAST
    assert OUTCOMES_OF_LAST_KNOWN_AFTER in pending.message
    assert not {"bands", "overall", "auc", "ks"} & set(pending.model_dump())
    markdown = steady.reports[LAST].markdown_path.read_text()
    assert "Not known yet" in markdown and "| observed |" not in markdown

    known = steady.reports[OUT_OF_TIME].card.outcomes
    assert known.status == "known" and known.as_of == LAST
    # The out-of-time month, everyone published in it (training judged only the people it
    # held out): observed rates, AUC and KS must equal training's evaluation on those people.
    card = _artifact_of(steady, steady.reports[OUT_OF_TIME].card.model.artifact)
    oot = _everyone_at_out_of_time(steady, card).model_dump(mode="json")
    assert [(r.band, r.people) for r in known.bands] == [
        (r["band"], r["count"]) for r in oot["bad_rate_by_band"]
    ]
    for mine, theirs in zip(known.bands, oot["bad_rate_by_band"], strict=True):
        assert mine.observed_bad_rate == pytest.approx(theirs["bad_rate"])
    assert round(known.auc, 4) == oot["auc"] and round(known.ks, 4) == oot["ks"]
    # Expected: the mean probability implied by each person's points sum, recomputed here.
    with steady.engine.connect() as store:
        rows = store.execute(
            select(score_snapshots.c.score, score_snapshots.c.points).where(
                score_snapshots.c.month == OUT_OF_TIME, score_snapshots.c.score.is_not(None)
            )
        ).all()
    # Points are stored as a list (domain.snapshots): their sum is the raw score.
    raw = np.array([sum(r.points) for r in rows], dtype=np.float64)
    published = np.array([r.score for r in rows])
    p = 1 / (1 + np.exp((raw - 600 + 50 * math.log2(30)) / (50 / math.log(2))))
    for band, row in zip(BANDS, known.bands, strict=True):
        inside = (published >= band.low) & (published <= band.high)
        assert row.expected_bad_rate == pytest.approx(p[inside].mean(), rel=1e-9)
    expected = [r.expected_bad_rate for r in known.bands]
    assert expected == sorted(expected, reverse=True)  # safer bands, fewer expected bads
    overall = known.overall
    assert overall.people == len(rows) and overall.bads == sum(r.bads for r in known.bands)
    assert 0.5 < overall.expected_bad_rate / overall.observed_bad_rate < 2


def test_outcomes_wait_for_the_last_month_of_the_window_to_end(
    steady: World, tmp_path: Path
) -> None:
    # On 15 October 2026 the lake already holds October events, but the month is not over.
    early = dt.datetime(2026, 10, 15, tzinfo=dt.UTC)
    report = monitor(
        steady.engine, ibis_connection(), steady.lake, OUT_OF_TIME, tmp_path, "test", now=early
    )
    outcomes = report.card.outcomes
    assert outcomes.status == "pending" and outcomes.lake_reaches == "2026-09"
    assert "2026-10" in outcomes.message


def test_a_lightgbm_model_is_monitored_through_its_published_scores(steady: World) -> None:
    with steady.engine.connect() as store:
        challenger = store.execute(
            select(models.c.version).where(models.c.kind == "lightgbm")
        ).scalar_one()
    score_month(steady.engine, ibis_connection(), steady.lake, OUT_OF_TIME, "test", NOW, challenger)
    report = monitor(
        steady.engine,
        ibis_connection(),
        steady.lake,
        OUT_OF_TIME,
        steady.home / "cards",
        "test",
        challenger,
        NOW,
    )
    card = report.card
    assert (card.model.version, card.model.kind) == (challenger, "lightgbm")
    stability = card.stability
    assert stability.score.level == "stable"
    assert "no binned characteristics" in stability.characteristics.unavailable
    # Its out-of-time month again: observed rates, AUC and KS are training's evaluation on
    # everyone published that month.
    oot = _everyone_at_out_of_time(
        steady, load_model(steady.engine, challenger, lake_root=steady.lake)[1]
    )
    outcomes = card.outcomes
    assert [r.people for r in outcomes.bands] == [r.count for r in oot.bad_rate_by_band]
    assert round(outcomes.auc, 4) == oot.auc and round(outcomes.ks, 4) == oot.ks
    # Expected rates come from the exact raw score, as training computed them.
    for mine, theirs in zip(outcomes.bands, oot.bad_rate_by_band, strict=True):
        if theirs.count:
            assert mine.expected_bad_rate == pytest.approx(theirs.expected_bad_rate)
    described = card.characteristics.on_card
    assert described and all(c.gain is not None and c.information_value is None for c in described)
    assert card.training.out_of_time == OUT_OF_TIME
    markdown = report.markdown_path.read_text()
    assert markdown == render_markdown(card)
    assert "| characteristic | dimension | risk | gain |" in markdown
    assert "A LightGBM model has no bins" in " ".join(card.limits)


# -- the model card -------------------------------------------------------------------------


def test_the_model_card_json_and_markdown_agree(steady: World) -> None:
    report = steady.reports[OUT_OF_TIME]
    text = report.json_path.read_text()
    card = json.loads(text)
    assert ModelCard.from_json(text) == report.card
    markdown = report.markdown_path.read_text()
    assert markdown == render_markdown(ModelCard.from_json(text))
    for section in (
        "model",
        "intended_use",
        "training",
        "characteristics",
        "out_of_time",
        "stability",
        "outcomes",
        "limits",
    ):
        assert card[section], section
    for heading in (
        "## Model",
        "## Intended use",
        "## Training data",
        "## Characteristics",
        "### Excluded characteristics",
        "## Out-of-time performance",
        f"## Stability in {OUT_OF_TIME}",
        "## Observed against expected",
        "## Limits",
    ):
        assert f"\n{heading}\n" in markdown, heading

    model = card["model"]
    assert (model["version"], model["kind"]) == (steady.version, "scorecard")
    training = card["training"]
    assert training["snapshots"] == ["2025-07", "2025-08", "2025-09"]
    assert training["out_of_time"] == OUT_OF_TIME and training["rows"] > 0
    assert len(training["data_fingerprint"]) == 64 and training["data_fingerprint"] in markdown
    assert f"{training['bad_rate']:.2%}" in markdown
    for c in card["characteristics"]["on_card"]:
        assert c["direction"] in ("ascending", "descending") and c["information_value"] > 0
        assert (
            f"| {c['name']} | {c['dimension']} | {c['risk']} | {c['information_value']:.4f} |"
            in markdown
        )
    excluded = {e["name"]: e["reason"] for e in card["characteristics"]["excluded"]}
    assert "connections" in excluded["friends_on_platform"]
    for name, reason in excluded.items():
        assert f"| {name} | {reason} |" in markdown
    assert f"AUC {card['out_of_time']['auc']:.4f}" in markdown
    for item in _items(report).values():
        assert f"| {item.item} | {item.psi:.4f} | {item.level} |" in markdown
    for row in card["outcomes"]["bands"]:
        assert (
            f"| {row['band']} | {row['people']} | {row['bads']} | {row['observed_bad_rate']:.2%} | {row['expected_bad_rate']:.2%} |"
            in markdown
        )
    for limit in card["limits"]:
        assert f"- {limit}\n" in markdown
    limits = " ".join(card["limits"])
    assert "Thin files are flagged and not scored" in limits
    assert "Connections are neutral" in limits
    assert "out-of-time month" in limits


# -- the command line ----------------------------------------------------------------------


def test_kaimen_monitor_prints_the_tables_and_writes_the_card(
    steady: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(steady.home))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["monitor", "--month", LAST, "--out", str(tmp_path / "cards")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"monitored {steady.version} (scorecard) for {LAST}" in out
    for name, item in _items(steady.reports[LAST]).items():
        assert name in out and f"{item.psi:.4f}" in out
    assert "stable" in out and "excellent" in out
    assert "outcomes not known yet" in out and OUTCOMES_OF_LAST_KNOWN_AFTER in out
    written = tmp_path / "cards" / f"{steady.version}_{LAST}.json"
    assert str(written) in out and str(written.with_suffix(".md")) in out
    assert json.loads(written.read_text())["stability"]["worst_level"] == "stable"

    known = runner.invoke(app, ["monitor", "--month", OUT_OF_TIME])
    assert known.exit_code == 0, known.output
    assert "outcomes known: AUC" in known.stdout
    assert (steady.home / "model_cards" / f"{steady.version}_{OUT_OF_TIME}.md").exists()


def test_kaimen_monitor_errors_are_clear(steady: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(steady.home))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["monitor", *args])
        return result.exit_code, " ".join(result.stderr.split())  # undo Rich's line wrapping

    assert run("--month", "2026-13") == (2, "error: --month must look like 2026-10, not '2026-13'")
    code, message = run("--month", "2026-08")
    assert code == 1
    assert (
        f"2026-08 is not published with {steady.version}: run kaimen score --month 2026-08"
        in message
    )
    code, message = run("--month", LAST, "--model", "scorecard-nope")
    assert code == 1 and "no model 'scorecard-nope' is registered" in message


# -- on each database, audited ------------------------------------------------------------


def test_monitoring_on_each_database_is_audited_and_names_the_published_model(
    trained_copy: Population, tmp_path: Path
) -> None:
    trained = trained_copy.open()
    w = _monitored(trained.engine, trained.home, trained.lake, [OUT_OF_TIME])
    report = w.reports[OUT_OF_TIME]
    assert report.card.outcomes.status == "known"
    assert report.json_path.exists() and report.markdown_path.exists()
    with w.engine.connect() as store:
        row = store.execute(select(audit_log).where(audit_log.c.action == "model.monitored")).one()
    details = json.loads(row.details)
    assert row.subject == w.version and row.actor == "test"
    assert details["month"] == OUT_OF_TIME and details["outcomes"] == "known"
    assert details["score_psi"] == pytest.approx(report.card.stability.score.psi)
    assert details["card_sha256"] == hashlib.sha256(report.json_path.read_bytes()).hexdigest()
    assert audit.verify(w.engine) >= 5

    with pytest.raises(MonitoringFailed, match=f"{LAST} is not published with {w.version}"):
        monitor(w.engine, ibis_connection(), w.lake, LAST, tmp_path / "c", "test", now=NOW)
    # A second model, never published for the month: the message names the one that is.
    train(w.engine, ibis_connection(), w.lake, tmp_path / "models", "2026-09", "test", now=NOW)
    with w.engine.connect() as store:
        other = store.execute(
            select(models.c.version).where(models.c.version != w.version)
        ).scalar()
    assert other is not None
    with pytest.raises(MonitoringFailed, match=f"it is published with {w.version}"):
        monitor(
            w.engine, ibis_connection(), w.lake, OUT_OF_TIME, tmp_path / "c", "test", other, NOW
        )
    with pytest.raises(NoModel, match="no model 'nope' is registered"):
        monitor(w.engine, ibis_connection(), w.lake, OUT_OF_TIME, tmp_path / "c", "test", "nope")
    w.engine.dispose()
