"""The LightGBM challenger on a synthetic population whose risk we control."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable

import lightgbm as lgb
import numpy as np
import pytest

from kaimen.domain.scores import FACTOR, MAX_REASONS, OFFSET, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.model import challenger as ch
from kaimen.model.artifact import ArtifactRejected, content_hash
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.evaluation import auc
from kaimen.model.scorecard import TrainingFailed, published_score

SPECS = [
    CharacteristicSpec("late_payments", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("defaults", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("income", Dimension.CAPACITY, "descending"),
    # Its true effect is U-shaped; the catalogue says "ascending", so the model must be too.
    CharacteristicSpec("utilisation", Dimension.BEHAVIOUR, "ascending"),
    CharacteristicSpec("months_at_address", Dimension.IDENTITY, "descending"),
    CharacteristicSpec("shoe_size", Dimension.BEHAVIOUR, "auto"),
    CharacteristicSpec("friends_defaulted", Dimension.CONNECTIONS, "ascending"),
]
Features = dict[str, np.ndarray]


def synthetic(n: int, seed: int) -> tuple[Features, np.ndarray]:
    """A latent risk z and a U-shaped utilisation drive the bad flag and the features."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    utilisation = rng.random(n)
    logit = -2.8 + 1.3 * z + 6.0 * (utilisation - 0.5) ** 2
    bad = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    income = np.round(np.exp(8.5 - 0.4 * z + 0.8 * rng.normal(size=n)), 2)
    income[rng.random(n) < 0.1] = np.nan
    features: Features = {
        "late_payments": rng.poisson(np.exp(0.8 * z - 1.5)).astype(np.float64),
        "defaults": rng.poisson(np.exp(1.0 * z - 3.0)).astype(np.float64),
        "income": income,
        "utilisation": utilisation,
        "months_at_address": rng.poisson(np.exp(3.0 - 0.3 * z)).astype(np.float64),
        "shoe_size": rng.integers(35, 47, size=n).astype(np.float64),
        "friends_defaulted": z + 0.2 * rng.normal(size=n),
    }
    return features, bad


def fit(specs: list[CharacteristicSpec] = SPECS, seed: int = 1) -> ch.Challenger:
    features, bad = synthetic(20_000, seed)
    return ch.fit_challenger(
        features, bad, specs, version=f"lgb-{seed}", training={"seed": seed, "rows": 20_000}
    )


@functools.cache
def trained() -> ch.Challenger:
    return fit()


@functools.cache
def _holdout() -> tuple[Features, np.ndarray]:
    return synthetic(5_000, seed=2)


def holdout() -> tuple[Features, np.ndarray]:
    features, bad = _holdout()
    return dict(features), bad


def against_direction(model: ch.Challenger, name: str, rows: int = 300) -> int:
    """How many steps of every person's curve of margin over a grid of `name`'s values go
    against the feature's constraint (the others held at the person's own values)."""
    features, _ = holdout()
    features = {k: v[:rows] for k, v in features.items()}
    values = features[name][~np.isnan(features[name])]
    grid = np.unique(np.concatenate([np.quantile(values, np.linspace(0, 1, 41)), [-1e9, 1e9]]))
    curves = np.column_stack([ch.margin(model, {**features, name: np.full(rows, g)}) for g in grid])
    steps = np.diff(curves, axis=1)
    constraint = ch.CONSTRAINT[next(s.monotone for s in SPECS if s.name == name)]
    return int((steps * constraint < 0).sum())


@pytest.mark.parametrize("name", ["late_payments", "defaults", "income", "utilisation"])
def test_every_persons_curve_follows_the_catalogue_direction(name: str) -> None:
    assert against_direction(trained(), name) == 0


def test_without_the_constraint_the_u_shape_shows_so_the_check_can_fail() -> None:
    loose = [
        dataclasses.replace(s, monotone="auto") if s.name == "utilisation" else s for s in SPECS
    ]
    assert against_direction(fit(loose), "utilisation") > 0


def test_constraints_come_from_the_catalogue_and_connections_stay_out() -> None:
    model = trained()
    assert "friends_defaulted" not in model.names
    assert "connections" in model.excluded["friends_defaulted"]
    wanted = {"ascending": 1, "descending": -1, "auto": 0}
    by_name = {s.name: s for s in SPECS}
    for f in model.features:
        assert f.constraint == wanted[by_name[f.name].monotone]
    assert ch._constraints_in(model.model_text) == [f.constraint for f in model.features]
    params = json.loads(ch.to_json(model))["model"]["params"]
    assert params["deterministic"] is True and params["num_threads"] == ch.THREADS
    assert params["force_row_wise"] is True and params["max_depth"] == 3


def test_it_learns_the_risk_out_of_sample() -> None:
    features, bad = holdout()
    assert auc(bad, ch.raw_score(trained(), features)) > 0.72
    noise = next(f for f in trained().features if f.name == "shoe_size")
    assert noise.gain < min(f.gain for f in trained().features if f.name == "late_payments")


def test_contributions_add_up_to_the_margin_and_the_score_follows_from_it() -> None:
    model = trained()
    features, _ = holdout()
    e = ch.explain(model, features)
    assert e.contributions.shape == (5_000, len(model.features))
    np.testing.assert_allclose(
        e.expected + e.contributions.sum(axis=1), e.margin, rtol=0, atol=1e-9
    )
    assert np.array_equal(e.margin, ch.margin(model, features))
    # The margin is the log-odds of the model's own probability.
    probability = np.asarray(model.booster.predict(ch._matrix(model.names, features)))
    np.testing.assert_allclose(1 / (1 + np.exp(-e.margin)), probability, rtol=1e-12)
    np.testing.assert_allclose(
        e.raw_score, OFFSET + FACTOR * np.log((1 - probability) / probability)
    )
    assert np.array_equal(e.raw_score, ch.raw_score(model, features))
    np.testing.assert_allclose(ch.points(model, e).sum(axis=1), e.raw_score, atol=1e-8)
    published = published_score(e.raw_score)
    assert published.min() >= SCORE_MIN and published.max() <= SCORE_MAX
    assert np.array_equal(published, np.clip(np.rint(e.raw_score), SCORE_MIN, SCORE_MAX))


def test_the_base_score_is_the_same_for_everyone() -> None:
    e = ch.explain(trained(), holdout()[0])
    assert np.ptp(e.expected) == 0


def test_points_lost_are_measured_against_the_best_training_contribution() -> None:
    model = trained()
    features, _ = synthetic(20_000, seed=1)  # the training data itself
    lost = ch.losses(model, ch.explain(model, features))
    # On the training data the best is reached by someone and never beaten.
    assert lost.min() >= 0
    np.testing.assert_allclose(lost.min(axis=0), 0, atol=1e-9)


def test_a_characteristic_already_at_its_best_value_is_never_a_reason() -> None:
    model = trained()
    features, _ = holdout()
    e = ch.explain(model, features)
    late = model.names.index("late_payments")
    assert model.features[late].best_value == 0
    at_best = features["late_payments"] == 0
    # TreeSHAP still gives some of these people less than the best contribution (interactions)...
    gap = model.features[late].best_points - e.contribution_points[at_best, late]
    assert (gap >= ch.MIN_REASON_POINTS).sum() > 100
    # ...which they cannot close, so it is not a loss and never a reason.
    assert (ch.losses(model, e)[at_best, late] == 0).all()
    why = ch.reasons(model, e)
    assert not any(name == "late_payments" for i in np.flatnonzero(at_best) for name, _ in why[i])
    assert any(name == "late_payments" for i in np.flatnonzero(~at_best) for name, _ in why[i])
    shoe = model.features[model.names.index("shoe_size")]
    assert shoe.constraint == 0 and shoe.best_value is None


def test_reasons_cost_the_most_points_largest_first_at_most_four() -> None:
    model = trained()
    e = ch.explain(model, holdout()[0])
    lost = ch.losses(model, e)
    why = ch.reasons(model, e)
    names = list(model.names)
    assert any(len(r) == MAX_REASONS for r in why)
    for person, given in enumerate(why):
        assert len(given) <= MAX_REASONS
        amounts = [p for _, p in given]
        assert all(p >= 1 for p in amounts)
        assert amounts == sorted(amounts, reverse=True)
        for name, p in given:
            assert p == round(lost[person, names.index(name)])
        # Nothing left out costs more than the smallest loss given.
        if len(given) == MAX_REASONS:
            left_out = [lost[person, i] for i, n in enumerate(names) if n not in dict(given)]
            assert max(left_out) <= lost[person, names.index(given[-1][0])]


def test_reasons_against_a_threshold_cover_the_shortfall_and_no_more() -> None:
    model = trained()
    e = ch.explain(model, holdout()[0])
    lost = ch.losses(model, e)
    names = list(model.names)
    threshold = float(np.median(e.raw_score))
    why = ch.reasons(model, e, threshold=threshold)
    short = 0
    for person, given in enumerate(why):
        shortfall = threshold - e.raw_score[person]
        if shortfall <= 0:
            assert given == []
            continue
        short += 1
        exact = [lost[person, names.index(name)] for name, _ in given]
        everything = sorted((v for v in lost[person] if v >= ch.MIN_REASON_POINTS), reverse=True)
        if sum(exact) >= shortfall:
            # Covered, and one fewer would not have been.
            assert sum(exact[:-1]) < shortfall
        else:
            assert len(given) == min(MAX_REASONS, len(everything))
    assert short > 1_000
    assert all(r == [] for r in ch.reasons(model, e, threshold=SCORE_MIN - 1_000))
    assert ch.reasons(model, e, threshold=10_000) == ch.reasons(model, e)
    assert all(len(r) <= 2 for r in ch.reasons(model, e, limit=2))
    with pytest.raises(ValueError, match="limit"):
        ch.reasons(model, e, limit=-1)


def test_dimension_scores_run_from_0_to_100_and_connections_stay_neutral() -> None:
    model = trained()
    e = ch.explain(model, holdout()[0])
    dims = ch.dimension_scores(model, e)
    assert set(dims) == set(Dimension)
    for dimension, values in dims.items():
        assert values.shape == (5_000,)
        assert values.min() >= 0 and values.max() <= 100
        if dimension == Dimension.CONNECTIONS:
            assert (values == 50).all()
        else:
            assert values.max() - values.min() > 20, dimension
    # Credit history: the more points its characteristics give, the higher its sub-score.
    columns = [i for i, f in enumerate(model.features) if f.dimension == "credit_history"]
    own = e.contribution_points[:, columns].sum(axis=1)
    order = np.argsort(own, kind="stable")
    assert (np.diff(dims[Dimension.CREDIT_HISTORY][order]) >= 0).all()


def test_training_is_deterministic() -> None:
    assert fit().model_text == trained().model_text


def test_the_artifact_is_readable_json_that_reloads_and_predicts_identically() -> None:
    model = dataclasses.replace(trained(), metrics={"out_of_time": {"auc": 0.8}})
    text = ch.to_json(model)
    document = json.loads(text)
    assert document["format"] == "kaimen.lightgbm" and document["schema_version"] == 2
    assert document["content_sha256"] == content_hash(document["model"])
    assert [f["name"] for f in document["model"]["features"]] == list(model.names)
    assert any(line.startswith("Tree=") for line in document["model"]["booster"]["lines"])
    assert "pickle" not in text
    loaded = ch.from_json(text)
    assert loaded == model
    features, _ = holdout()
    a, b = ch.explain(model, features), ch.explain(loaded, features)
    assert np.array_equal(a.margin, b.margin)
    assert np.array_equal(a.contributions, b.contributions)
    assert ch.reasons(model, a) == ch.reasons(loaded, b)


def test_the_text_model_round_trips_the_trained_booster_exactly() -> None:
    features, bad = synthetic(3_000, seed=3)
    x = ch._matrix([s.name for s in SPECS[:3]], features)
    booster = lgb.train({**ch.PARAMS, "monotone_constraints": [1, 1, -1]}, lgb.Dataset(x, bad), 50)
    again = lgb.Booster(model_str=booster.model_to_string())
    assert np.array_equal(booster.predict(x, raw_score=True), again.predict(x, raw_score=True))


def _edited(text: str, edit: Callable[[dict], None]) -> str:
    document = json.loads(text)
    edit(document)
    return json.dumps(document, indent=2)


def test_an_edited_artifact_is_refused() -> None:
    text = ch.to_json(trained())

    def leaf(d: dict) -> None:
        lines = d["model"]["booster"]["lines"]
        i = next(i for i, line in enumerate(lines) if line.startswith("leaf_value="))
        values = [float(v) for v in lines[i].split("=", 1)[1].split()]
        values[0] += 0.001
        lines[i] = "leaf_value=" + " ".join(repr(v) for v in values)

    def best(d: dict) -> None:
        d["model"]["features"][0]["best_points"] += 1

    for edit in (leaf, best):
        with pytest.raises(ArtifactRejected, match="edited"):
            ch.from_json(_edited(text, edit))
    with pytest.raises(ArtifactRejected, match="not JSON"):
        ch.from_json(text[:-10])
    with pytest.raises(ArtifactRejected, match=r"not a kaimen\.lightgbm"):
        ch.from_json(_edited(text, lambda d: d.update(format="kaimen.scorecard")))
    with pytest.raises(ArtifactRejected, match="schema_version"):
        ch.from_json(_edited(text, lambda d: d.update(schema_version=3)))
    with pytest.raises(ArtifactRejected, match="not JSON"):
        ch.from_json(text.replace('"gain": ', '"gain": NaN, "x": ', 1))


def test_a_consistently_rehashed_but_inconsistent_artifact_is_refused() -> None:
    text = ch.to_json(trained())

    def swap_constraint(d: dict) -> None:
        d["model"]["features"][0]["constraint"] = -1
        d["model"]["features"][0]["monotone"] = "descending"
        d["content_sha256"] = content_hash(d["model"])

    with pytest.raises(ArtifactRejected, match="monotone constraints"):
        ch.from_json(_edited(text, swap_constraint))


def test_bad_inputs_are_refused_clearly() -> None:
    features, bad = synthetic(1_000, seed=4)
    with pytest.raises(TrainingFailed, match="both good and bad"):
        ch.fit_challenger(features, np.zeros(1_000), SPECS, version="x", training={})
    with pytest.raises(KeyError, match="income"):
        ch.fit_challenger(
            {k: v for k, v in features.items() if k != "income"},
            bad,
            SPECS,
            version="x",
            training={},
        )
    with pytest.raises(ValueError, match="infinite"):
        ch.fit_challenger(
            {**features, "income": np.full(1_000, np.inf)}, bad, SPECS, version="x", training={}
        )
    with pytest.raises(ValueError, match="groups"):
        ch.fit_challenger(features, bad, SPECS, version="x", training={}, groups=np.arange(3))
    with pytest.raises(TrainingFailed, match="connections"):
        ch.fit_challenger(features, bad, SPECS[-1:], version="x", training={})


def test_folds_keep_each_person_on_one_side() -> None:
    people = np.repeat(np.arange(200), 3)
    folds = ch._folds(people, 5)
    assert len(folds) == 5
    seen = np.zeros(people.size, dtype=int)
    for train, valid in folds:
        assert not set(people[train]) & set(people[valid])
        seen[valid] += 1
    assert (seen == 1).all()


def test_withholding_a_value_never_pays_where_the_constraint_allows() -> None:
    model = trained()
    features, _ = synthetic(4_000, seed=21)
    before = ch.raw_score(model, features)
    protected = [f for f in model.features if f.blank_value is not None]
    assert protected
    for f in model.features:
        if f.constraint == 0:
            # No riskiest value independent of the others: the model cannot promise it.
            assert f.blank_value is None
            continue
        blanked = features | {f.name: np.full(before.size, np.nan)}
        gain = ch.raw_score(model, blanked) - before
        if f.blank_value is not None:
            assert gain.max() <= 1e-9, f.name
            explanation = ch.explain(model, blanked)
            np.testing.assert_allclose(explanation.raw_score, ch.raw_score(model, blanked))
            # The person's own value (blank) is still what an explanation shows.
            assert np.isnan(explanation.values[:, model.names.index(f.name)]).all()


def test_a_version_1_artifact_keeps_lightgbms_own_blanks() -> None:
    model = trained()
    document = json.loads(ch.to_json(model))
    for f in document["model"]["features"]:
        del f["blank_value"]
    document["schema_version"] = 1
    document["content_sha256"] = content_hash(document["model"])
    loaded = ch.from_json(json.dumps(document))
    assert all(f.blank_value is None for f in loaded.features)
