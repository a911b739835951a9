"""The scorecard on a synthetic population whose risk we control."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyarrow import csv

from kaimen.domain.scores import FACTOR, MAX_REASONS, OFFSET, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.evaluation import auc
from kaimen.model.scorecard import (
    CV_FOLDS,
    DEFAULT_L2,
    L2_GRID,
    SELECTION_FALLBACK_IV,
    SELECTION_MIN_AUC_GAIN,
    Characteristic,
    Scorecard,
    TrainingFailed,
    dimension_scores,
    fit_scorecard,
    points,
    published_score,
    raw_score,
    reasons,
    score_expression,
)
from tests.model.synthetic_population import (
    EMPLOYMENT_RISK,
    MIXED_SPECS,
    SPECS,
    Features,
    holdout,
    mixed,
    synthetic,
    trained,
    trained_mixed,
)


def one_person(values: dict[str, float]) -> Features:
    return {name: np.array([value]) for name, value in values.items()}


value_strategy = st.one_of(
    st.just(math.nan),
    st.floats(min_value=-1e6, max_value=1e9, allow_nan=False),
    st.integers(min_value=0, max_value=30).map(float),
)
person_strategy = st.fixed_dictionaries({s.name: value_strategy for s in SPECS})


def test_the_card_keeps_the_informative_characteristics() -> None:
    card = trained()
    assert set(card.names) >= {"late_payments", "income", "utilisation", "months_at_address"}
    assert "shoe_size" in card.excluded
    assert "information value" in card.excluded["shoe_size"]
    assert card.version == "test-1"
    assert card.training == {"seed": 1, "rows": 20_000}
    assert card.metrics == {}
    ivs = [c.iv for c in card.characteristics]
    assert ivs == sorted(ivs, reverse=True)


def test_a_connections_characteristic_is_never_on_the_card() -> None:
    card = trained()
    assert "friends_defaulted" not in card.names
    assert all(c.dimension != Dimension.CONNECTIONS for c in card.characteristics)
    assert "connections" in card.excluded["friends_defaulted"]
    with pytest.raises(ValueError, match="connections"):
        Scorecard(
            version="x",
            characteristics=(_hand_characteristic("f", (0, 10), Dimension.CONNECTIONS),),
            intercept=0.0,
            training={},
        )


def assert_points_follow_bad_rates(card: Scorecard) -> None:
    """Within each characteristic, a bin with a higher training bad rate never has more points.

    Every bin with rows counts, the missing bin included. The integers are compared
    non-strictly: two bins with different bad rates may share points, but only when their
    exact (unrounded) points are less than one apart, so rounding made them equal, or equal,
    which only a small missing bin clamped to its neighbour's WoE gives. Between value bins
    the exact points always differ the right way.
    """
    for c in card.characteristics:
        assert c.coefficient < 0, c.name
        bins = [
            (b / n, p, w, False)
            for n, b, p, w in zip(c.counts, c.bads, c.points, c.woe, strict=True)
            if n > 0
        ]
        if c.missing_count and c.missing_own_group:
            bins.append((c.missing_bads / c.missing_count, c.missing_points, c.missing_woe, True))
        elif not c.missing_own_group:
            # Too few blanks to be a group of their own: withholding never pays, whatever the
            # few blanks' bad rate (tests/model/test_withholding.py).
            assert c.missing_points <= min(b[1] for b in bins), c.name
        for (rate, p, w, missing), (
            other_rate,
            other_p,
            other_w,
            other_missing,
        ) in itertools.permutations(bins, 2):
            if rate <= other_rate:
                continue
            # The shared part of the points cancels: only -FACTOR * coefficient * WoE differs.
            exact_gap = -FACTOR * c.coefficient * (other_w - w)
            assert p <= other_p, (c.name, rate, p, other_rate, other_p)
            if missing or other_missing:
                assert exact_gap >= 0, (c.name, rate, w, other_rate, other_w)
            else:
                assert exact_gap > 0, (c.name, rate, w, other_rate, other_w)
            if p == other_p:
                assert exact_gap < 1, (c.name, "a tie that rounding does not explain")


def test_points_agree_in_direction_with_bin_bad_rates() -> None:
    assert_points_follow_bad_rates(trained())
    assert all(len(c.points) > 1 for c in trained().characteristics)


def test_monotone_specs_run_the_declared_way() -> None:
    by_name = {c.name: c for c in trained().characteristics}
    late = by_name["late_payments"]
    assert late.direction == "ascending"
    assert list(late.points) == sorted(late.points, reverse=True)
    assert late.labels[0] == "0"
    income = by_name["income"]
    assert income.direction == "descending"
    assert list(income.points) == sorted(income.points)


def test_points_follow_the_scaling_formula() -> None:
    card = trained()
    features, _ = holdout()
    woe = np.column_stack(
        [
            np.append(np.array(c.woe), c.missing_woe)[_index(c, features[c.name])]
            for c in card.characteristics
        ]
    )
    coefficients = np.array([c.coefficient for c in card.characteristics])
    exact = OFFSET - FACTOR * (card.intercept + woe @ coefficients)
    raw = raw_score(card, features)
    assert raw.dtype == np.int64
    # Each characteristic's points are rounded once, so the sum is off by at most k/2.
    assert np.abs(raw - exact).max() <= len(card.characteristics) / 2
    # The anchor: a card whose people average 30:1 odds averages about 600 points.
    assert abs(raw.mean() - exact.mean()) < 1


def _index(c: Characteristic, values: np.ndarray) -> np.ndarray:
    index = np.searchsorted(np.array(c.edges), values, side="left")
    return np.where(np.isnan(values), -1, index)


def test_the_score_separates_bad_from_good_on_a_holdout() -> None:
    features, bad = holdout()
    assert auc(bad, raw_score(trained(), features)) > 0.7


def test_missing_values_score_with_the_missing_bin() -> None:
    card = trained()
    utilisation = next(c for c in card.characteristics if c.name == "utilisation")
    assert utilisation.missing_count > 0
    features, _ = holdout()
    column = card.names.index("utilisation")
    table = points(card, features)
    blank = np.isnan(features["utilisation"])
    assert blank.any()
    assert (table[blank, column] == utilisation.missing_points).all()
    # Riskier people leave it blank, so a blank is worth less than the neutral share.
    assert utilisation.missing_points < max(utilisation.points)


def test_a_missing_feature_is_refused() -> None:
    features, _ = holdout()
    del features["income"]
    with pytest.raises(KeyError, match="income"):
        raw_score(trained(), features)


def test_published_scores_are_clipped() -> None:
    got = published_score(np.array([-100, 349, 350, 600, 950, 951, 5000]))
    assert got.tolist() == [350, 350, 350, 600, 950, 950, 950]


@settings(deadline=None, max_examples=200)
@given(person=person_strategy)
def test_published_scores_always_lie_in_range(person: dict[str, float]) -> None:
    card = trained()
    raw = raw_score(card, one_person(person))
    assert card.min_raw_score <= raw[0] <= card.max_raw_score
    assert SCORE_MIN <= published_score(raw)[0] <= SCORE_MAX


@settings(deadline=None, max_examples=200)
@given(
    person=person_strategy,
    which=st.integers(min_value=0, max_value=100),
    values=st.lists(
        st.floats(min_value=-10, max_value=1e6, allow_nan=False), min_size=2, max_size=2
    ),
)
def test_a_better_value_never_lowers_the_score(
    person: dict[str, float], which: int, values: list[float]
) -> None:
    card = trained()
    c = card.characteristics[which % len(card.characteristics)]
    low, high = sorted(values)
    # "ascending": the bad rate rises with the value, so the lower value is the better one.
    better, worse = (low, high) if c.direction == "ascending" else (high, low)
    score_better = raw_score(card, one_person(person | {c.name: better}))[0]
    score_worse = raw_score(card, one_person(person | {c.name: worse}))[0]
    assert score_better >= score_worse


@settings(deadline=None, max_examples=200)
@given(person=person_strategy, threshold=st.integers(min_value=300, max_value=1000))
def test_reasons_are_exact(person: dict[str, float], threshold: int) -> None:
    card = trained()
    features = one_person(person)
    raw = int(raw_score(card, features)[0])
    k = len(card.characteristics)

    everything = reasons(card, features, limit=k)[0]
    assert raw + sum(lost for _, lost in everything) == card.max_raw_score
    assert all(lost > 0 for _, lost in everything)
    assert [lost for _, lost in everything] == sorted(
        (lost for _, lost in everything), reverse=True
    )

    default = reasons(card, features)[0]
    assert default == everything[:MAX_REASONS]

    needed = reasons(card, features, threshold=threshold)[0]
    shortfall = threshold - raw
    lost = [amount for _, amount in needed]
    if shortfall <= 0:
        assert needed == []
    else:
        assert needed == everything[: len(needed)]
        # Enough to explain the shortfall (or all there is), and not one more than needed.
        assert sum(lost) >= shortfall or len(needed) == min(MAX_REASONS, len(everything))
        assert sum(lost[:-1]) < shortfall


def test_reasons_for_many_people_at_once() -> None:
    card = trained()
    features, _ = holdout()
    raw = raw_score(card, features)
    explained = reasons(card, features, limit=len(card.characteristics))
    assert len(explained) == raw.size
    total = np.array([sum(lost for _, lost in r) for r in explained])
    assert (raw + total == card.max_raw_score).all()
    assert max(len(r) for r in reasons(card, features)) <= MAX_REASONS
    assert reasons(card, features, limit=0) == [[] for _ in range(raw.size)]


def _hand_characteristic(
    name: str, points_: tuple[int, int], dimension: str = Dimension.BEHAVIOUR
) -> Characteristic:
    return Characteristic(
        name=name,
        dimension=dimension,
        direction="ascending",
        edges=(0.0, math.inf),
        labels=("0", "1 or more"),
        points=points_,
        missing_points=points_[1],
        coefficient=-1.0,
        woe=(0.5, -0.5),
        missing_woe=-0.5,
        counts=(10, 10),
        bads=(1, 5),
        missing_count=0,
        missing_bads=0,
        iv=0.5,
    )


def test_equal_losses_are_listed_in_card_order() -> None:
    card = Scorecard(
        version="hand",
        characteristics=(
            _hand_characteristic("first", (100, 80)),
            _hand_characteristic("second", (100, 70)),
            _hand_characteristic("third", (100, 80)),
        ),
        intercept=0.0,
        training={},
    )
    features = {"first": np.array([1.0]), "second": np.array([1.0]), "third": np.array([1.0])}
    assert reasons(card, features) == [[("second", 30), ("first", 20), ("third", 20)]]
    # The raw score is 230: 30 short of 260, which "second" alone explains.
    assert reasons(card, features, threshold=260) == [[("second", 30)]]
    assert reasons(card, features, threshold=261) == [[("second", 30), ("first", 20)]]
    assert reasons(card, features, threshold=230) == [[]]
    assert reasons(card, features, threshold=1000, limit=2) == [[("second", 30), ("first", 20)]]


def test_dimension_scores() -> None:
    card = trained()
    features, _ = holdout()
    scores = dimension_scores(card, features)
    assert set(scores) == set(Dimension)
    assert (scores[Dimension.CONNECTIONS] == 50).all()
    for values in scores.values():
        assert values.shape == (10_000,)
        assert ((values >= 0) & (values <= 100)).all()
    best = {c.name: np.array([_best_value(c)]) for c in card.characteristics}
    for dimension, values in dimension_scores(card, best).items():
        assert values[0] == (50 if dimension == Dimension.CONNECTIONS else 100)


def _best_value(c: Characteristic) -> float:
    j = max(range(len(c.points)), key=lambda i: c.points[i])
    if c.missing_points > c.points[j]:
        return math.nan
    return c.edges[j] if math.isfinite(c.edges[j]) else c.edges[j - 1] + 1


def test_the_engine_expression_equals_raw_score() -> None:
    card = trained()
    features, _ = holdout()
    null = np.zeros(10_000, dtype=bool)
    null[::7] = True
    columns = {name: pa.array(values) for name, values in features.items()}
    # Nulls in the engine and NaN in NumPy both mean missing; the column also keeps NaNs.
    columns["utilisation"] = pa.array(features["utilisation"], mask=null)
    columns["months_at_address"] = pa.array(features["months_at_address"].astype(np.int64))
    numpy_features = features | {"utilisation": np.where(null, np.nan, features["utilisation"])}

    con = ibis.duckdb.connect()
    table = ibis.memtable(pa.table(columns | {"row": pa.array(range(10_000))}))
    result = con.to_pyarrow(
        table.select(table.row, raw=score_expression(card, table)).order_by("row")
    )
    engine = result.column("raw").to_numpy()
    assert result.schema.field("raw").type == pa.int64()
    np.testing.assert_array_equal(engine, raw_score(card, numpy_features))


def test_a_characteristic_with_the_wrong_sign_is_refitted_away() -> None:
    # "weak" is correlated with the risk driver and weakly ascending on its own, but once
    # "strong" is in the model its coefficient turns against its bad rate (suppression).
    rng = np.random.default_rng(3)
    weak = rng.normal(size=10_000)
    strong = weak + rng.normal(size=10_000)
    bad = (rng.random(10_000) < 1 / (1 + np.exp(-(-2 + 1.5 * strong - 1.2 * weak)))).astype(int)
    specs = [
        CharacteristicSpec("weak", Dimension.BEHAVIOUR, "ascending"),
        CharacteristicSpec("strong", Dimension.BEHAVIOUR, "ascending"),
    ]
    card = fit_scorecard({"weak": weak, "strong": strong}, bad, specs, version="t", training={})
    assert card.names == ("strong",)
    assert "wrong sign" in card.excluded["weak"]


def test_training_needs_usable_data() -> None:
    features, bad = synthetic(2_000, seed=4)
    with pytest.raises(TrainingFailed, match="both good and bad"):
        fit_scorecard(features, np.zeros_like(bad), SPECS, version="t", training={})
    with pytest.raises(TrainingFailed, match="no characteristic"):
        fit_scorecard(features, bad, SPECS[-1:], version="t", training={})
    constant = {"flat": np.ones_like(features["income"])}
    flat = [CharacteristicSpec("flat", Dimension.BEHAVIOUR, "auto")]
    with pytest.raises(TrainingFailed, match="no characteristic"):
        fit_scorecard(constant, bad, flat, version="t", training={})
    with pytest.raises(ValueError, match="0 and 1"):
        fit_scorecard(features, bad * 2, SPECS, version="t", training={})
    with pytest.raises(ValueError, match="unique"):
        fit_scorecard(features, bad, [SPECS[0], SPECS[0]], version="t", training={})
    with pytest.raises(ValueError, match="wellbeing"):
        fit_scorecard(
            features,
            bad,
            [CharacteristicSpec("income", "wellbeing", "auto")],
            version="t",
            training={},
        )
    with pytest.raises(ValueError, match="different lengths"):
        fit_scorecard(
            features | {"income": features["income"][:-1]}, bad, SPECS, version="t", training={}
        )


def test_a_numeric_spec_with_text_values_is_refused() -> None:
    features, bad = synthetic(500, seed=6)
    features = dict(features) | {"income": np.array(["high"] * 500, dtype=object)}
    with pytest.raises(ValueError, match="kind='categorical'"):
        fit_scorecard(features, bad, SPECS, version="t", training={})


# -- L2 --------------------------------------------------------------------------------------


def test_the_card_records_how_it_was_fitted() -> None:
    settings_ = trained().settings
    assert settings_["l2"] == DEFAULT_L2
    assert settings_["l2_chosen_by"] == "caller"
    assert settings_["min_share"] == 0.05 and settings_["max_bins"] == 8


def test_a_larger_l2_shrinks_the_coefficients() -> None:
    features, bad = synthetic(1_500, seed=7)
    plain = fit_scorecard(features, bad, SPECS, version="t", training={}, l2=0)
    shrunk = fit_scorecard(features, bad, SPECS, version="t", training={}, l2=300)
    assert plain.settings["l2"] == 0
    common = set(plain.names) & set(shrunk.names)
    assert common
    for name in common:
        a = next(c for c in plain.characteristics if c.name == name)
        b = next(c for c in shrunk.characteristics if c.name == name)
        assert abs(b.coefficient) < abs(a.coefficient)


def test_l2_can_be_chosen_by_cross_validation() -> None:
    features, bad = synthetic(3_000, seed=8)
    card = fit_scorecard(features, bad, SPECS, version="t", training={}, l2="cv")
    settings_ = card.settings
    assert settings_["l2_chosen_by"] == "cv"
    assert settings_["l2"] in L2_GRID
    scores = settings_["cv_auc_by_l2"]
    assert set(scores) == {f"{v:g}" for v in L2_GRID}
    assert scores[f"{settings_['l2']:g}"] == max(scores.values())
    assert all(0.5 < v < 1 for v in scores.values())
    # Seeded: the same data give the same choice and the same card.
    again = fit_scorecard(features, bad, SPECS, version="t", training={}, l2="cv")
    assert again == card
    # Too few bads to hold some out in each of the folds: the default, and it says so.
    few = np.zeros_like(bad)
    few[np.argsort(-features["late_payments"], kind="stable")[:5]] = 1
    small = fit_scorecard(features, few, SPECS[:1], version="t", training={}, l2="cv", min_iv=0)
    assert small.settings["l2"] == DEFAULT_L2
    assert small.settings["l2_chosen_by"] == "too few rows for cv"


# -- selection --------------------------------------------------------------------------------


def weak_population(seed: int) -> tuple[Features, np.ndarray, list[CharacteristicSpec]]:
    """A strong characteristic, a weak one that truly adds (IV under the floor on these
    seeds) and pure noise."""
    n = 8_000
    rng = np.random.default_rng(seed)
    z, w = rng.normal(size=n), rng.normal(size=n)
    bad = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.2 * z + 0.15 * w)))).astype(np.int64)
    features = {"strong": z + 0.3 * rng.normal(size=n), "weak": w, "noise": rng.normal(size=n)}
    specs = [CharacteristicSpec(name, Dimension.BEHAVIOUR, "auto") for name in features]
    return features, bad, specs


@pytest.mark.parametrize("seed", [0, 2])
def test_a_weak_characteristic_joins_when_it_adds_out_of_sample(seed: int) -> None:
    features, bad, specs = weak_population(seed)
    card = fit_scorecard(features, bad, specs, version="t", training={})
    assert card.names == ("strong", "weak")
    assert by_name(card, "weak").iv < SELECTION_FALLBACK_IV
    # The former fixed floor drops it.
    floor = fit_scorecard(features, bad, specs, version="t", training={}, min_iv=0.02)
    assert floor.names == ("strong",)
    # Noise stays out, and the card says which test it failed.
    rule = f"{CV_FOLDS}-fold cross-validation"
    assert "adds too little out of sample" in card.excluded["noise"]
    assert rule in card.excluded["noise"]
    # The card's settings describe the rule that chose it (they once said "log loss").
    assert card.settings["selection"] == (
        f"information value at least {SELECTION_FALLBACK_IV}, or held-out AUC gain above "
        f"{SELECTION_MIN_AUC_GAIN} ({rule})"
    )
    # Seeded: the same data and cv_seed choose the same card.
    again = fit_scorecard(features, bad, specs, version="t", training={})
    assert again.names == card.names and again.excluded == card.excluded


@pytest.mark.parametrize("l2", [-1.0, math.inf, math.nan, "auto", True])
def test_a_bad_l2_is_refused(l2: object) -> None:
    features, bad = synthetic(300, seed=9)
    with pytest.raises(ValueError, match="l2"):
        fit_scorecard(features, bad, SPECS, version="t", training={}, l2=l2)  # type: ignore[arg-type]


# -- categorical characteristics --------------------------------------------------------------


def by_name(card: Scorecard, name: str) -> Characteristic:
    return next(c for c in card.characteristics if c.name == name)


def test_a_categorical_characteristic_carries_its_categories() -> None:
    card = trained_mixed()
    assert {"employment", "housing", "grade", "late_payments"} <= set(card.names)
    assert "information value" in card.excluded["star_sign"]
    employment = by_name(card, "employment")
    assert employment.kind == "categorical"
    assert employment.edges == (*(float(j) for j in range(len(employment.points) - 1)), math.inf)
    every = sorted(c for group in employment.categories for c in group)
    assert every == sorted([*EMPLOYMENT_RISK, "astronaut", "lion tamer"])
    assert all(";" not in c for c in every)
    bin_of = {c: j for j, group in enumerate(employment.categories) for c in group}
    assert bin_of["astronaut"] == bin_of["lion tamer"]
    # An unseen employment scores with the riskiest bin.
    assert employment.unseen_bin == len(employment.points) - 1
    # The safest employment gets the most points, the riskiest the fewest.
    assert employment.points[bin_of["civil servant"]] == max(employment.points)
    assert employment.points[bin_of["unemployed"]] == min(employment.points)
    assert employment.labels[bin_of["civil servant"]].startswith("civil servant")
    assert by_name(card, "late_payments").kind == "numeric"
    assert by_name(card, "late_payments").categories == ()


def test_categories_score_with_their_bin_and_blanks_with_the_missing_bin() -> None:
    card = trained_mixed()
    employment = by_name(card, "employment")
    housing = by_name(card, "housing")
    bin_of = {c: j for j, group in enumerate(employment.categories) for c in group}
    values = np.array([*EMPLOYMENT_RISK, "pilot", None, math.nan], dtype=object)
    expected = [employment.points[bin_of[e]] for e in EMPLOYMENT_RISK]
    unseen = employment.points[employment.unseen_bin]
    expected += [unseen, employment.missing_points, employment.missing_points]
    assert employment.points_of(values).tolist() == expected
    # Blanks were riskier, so the missing bin of housing carries evidence and costs points.
    assert housing.missing_count > 0
    assert housing.missing_points < min(housing.points)
    grade = by_name(card, "grade")
    # Integer codes are categories, compared as text, whatever type they arrive in.
    np.testing.assert_array_equal(
        grade.points_of(np.array([0, 2, 4], dtype=object)),
        grade.points_of(np.array(["0", "2", "4"], dtype=object)),
    )
    assert grade.points_of(np.array([0, 4]))[0] > grade.points_of(np.array([0, 4]))[1]


def test_scoring_functions_accept_categorical_features() -> None:
    card = trained_mixed()
    features, bad = mixed(5_000, seed=2)
    raw = raw_score(card, features)
    assert raw.dtype == np.int64
    assert auc(bad, raw) > 0.7
    explained = reasons(card, features, limit=len(card.characteristics))
    total = np.array([sum(lost for _, lost in r) for r in explained])
    assert (raw + total == card.max_raw_score).all()
    for values in dimension_scores(card, features).values():
        assert ((values >= 0) & (values <= 100)).all()


def test_the_engine_expression_equals_raw_score_with_categories() -> None:
    card = trained_mixed()
    features, _ = mixed(5_000, seed=3)
    features = dict(features)
    employment = features["employment"].copy()
    employment[::50] = "pilot"  # never seen in training
    features["employment"] = employment
    columns = {
        "late_payments": pa.array(features["late_payments"]),
        # Strings with nulls, where NumPy has None (and NaN, which the engine cannot hold).
        "employment": pa.array(employment.tolist()),
        "housing": pa.array([None if v is None or v != v else v for v in features["housing"]]),
        # Integer codes in the engine; the card holds them as text.
        "grade": pa.array(features["grade"].astype(np.int64)),
        "star_sign": pa.array(features["star_sign"].tolist()),
    }
    con = ibis.duckdb.connect()
    table = ibis.memtable(pa.table(columns | {"row": pa.array(range(5_000))}))
    result = con.to_pyarrow(
        table.select(table.row, raw=score_expression(card, table)).order_by("row")
    )
    np.testing.assert_array_equal(result.column("raw").to_numpy(), raw_score(card, features))


def test_categorical_bins_can_have_their_own_min_share() -> None:
    features, bad = mixed(2_000, seed=4)
    # A numeric floor too high for the two-bin housing split and any categorical split.
    strict = fit_scorecard(features, bad, MIXED_SPECS, version="t", training={}, min_share=0.45)
    loose = fit_scorecard(
        features,
        bad,
        MIXED_SPECS,
        version="t",
        training={},
        min_share=0.45,
        categorical_min_share=0.02,
    )
    assert strict.settings["categorical_min_share"] is None
    assert loose.settings["categorical_min_share"] == 0.02
    # Numeric bins keep the card's floor; categorical ones use theirs.
    for c in loose.characteristics:
        floor = 0.45 if c.kind == "numeric" else 0.02
        assert min(c.counts) >= floor * (2_000 - c.missing_count)
    assert len(by_name(strict, "employment").edges) <= 2
    assert len(by_name(loose, "employment").edges) > 2
    with pytest.raises(ValueError, match="categorical_min_share"):
        fit_scorecard(
            features, bad, MIXED_SPECS, version="t", training={}, categorical_min_share=1.5
        )


def test_a_categorical_characteristic_is_checked() -> None:
    good = {
        "name": "c",
        "dimension": Dimension.BEHAVIOUR,
        "direction": "ascending",
        "edges": (0.0, math.inf),
        "labels": ("a", "b"),
        "points": (60, 40),
        "missing_points": 50,
        "coefficient": -1.0,
        "woe": (0.5, -0.5),
        "missing_woe": 0.0,
        "counts": (10, 10),
        "bads": (1, 5),
        "missing_count": 0,
        "missing_bads": 0,
        "iv": 0.5,
        "kind": "categorical",
        "categories": (("a",), ("b",)),
        "unseen_bin": 1,
    }
    c = Characteristic(**good)  # type: ignore[arg-type]
    assert c.points_of(np.array(["a", "b", "z", None], dtype=object)).tolist() == [60, 40, 40, 50]
    for change, message in [
        ({"edges": (1.0, math.inf)}, "edges"),
        ({"categories": (("a",),)}, "one entry per bin"),
        ({"categories": (("a",), ("a",))}, "one bin only"),
        ({"categories": (("a",), (1,))}, "strings"),
        ({"unseen_bin": 2}, "unseen_bin"),
        ({"unseen_bin": None}, "unseen_bin"),
        ({"kind": "ordinal"}, "kind"),
        ({"kind": "numeric"}, "no categories"),
    ]:
        with pytest.raises(ValueError, match=message):
            Characteristic(**(good | change))  # type: ignore[arg-type]


# -- points never run against the bad rate ----------------------------------------------------


def random_population(
    seed: int, n: int, numeric: int, categorical: int
) -> tuple[Features, np.ndarray, list[CharacteristicSpec]]:
    """Numbers and categories of random strength and sign, some with informative blanks."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    bad = (rng.random(n) < 1 / (1 + np.exp(-(rng.uniform(-2.5, 0) + z)))).astype(np.int64)
    dimensions = [d for d in Dimension if d != Dimension.CONNECTIONS]
    features: Features = {}
    specs: list[CharacteristicSpec] = []
    for i in range(numeric):
        signal = rng.uniform(-1.5, 1.5) * z + rng.normal(size=n)
        x = rng.poisson(np.exp(0.5 * signal)).astype(float) if i % 2 else np.round(signal, 2)
        x[rng.random(n) < rng.uniform(0, 0.2) * (1 + np.tanh(rng.uniform(-2, 2) * z))] = np.nan
        features[f"n{i}"] = x
        specs.append(CharacteristicSpec(f"n{i}", dimensions[i % 4], "auto"))
    for i in range(categorical):
        k = int(rng.integers(2, 16))
        signal = rng.uniform(-1.5, 1.5) * z + rng.normal(size=n)
        # Uneven category sizes (some rare), labels unrelated to their risk.
        cuts = np.quantile(signal, np.cumsum(rng.dirichlet(np.ones(k)))[:-1])
        labels = np.array([f"k{j}" for j in rng.permutation(k)], dtype=object)
        x = labels[np.searchsorted(cuts, signal)]
        x[rng.random(n) < rng.uniform(0, 0.1)] = None
        features[f"c{i}"] = x
        specs.append(CharacteristicSpec(f"c{i}", dimensions[i % 4], kind="categorical"))
    return features, bad, specs


@settings(deadline=None, max_examples=40)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    n=st.integers(min_value=200, max_value=4_000),
    numeric=st.integers(min_value=0, max_value=3),
    categorical=st.integers(min_value=1, max_value=3),
    max_bins=st.integers(min_value=2, max_value=10),
    min_share=st.sampled_from([0.0, 0.01, 0.05, 0.1]),
    l2=st.sampled_from([0.0, DEFAULT_L2, 30.0]),
)
def test_points_follow_bad_rates_on_random_populations(
    seed: int, n: int, numeric: int, categorical: int, max_bins: int, min_share: float, l2: float
) -> None:
    features, bad, specs = random_population(seed, n, numeric, categorical)
    try:
        card = fit_scorecard(
            features,
            bad,
            specs,
            version="r",
            training={},
            max_bins=max_bins,
            min_share=min_share,
            min_iv=0.0,
            l2=l2,
        )
    except TrainingFailed:
        # Every characteristic ran against its bad rate in the regression: nothing to check.
        return
    assert_points_follow_bad_rates(card)


def german_credit() -> tuple[dict[str, np.ndarray], np.ndarray, list[CharacteristicSpec]]:
    """The Statlog German credit data shipped in data/ (see data/README.md)."""
    table = csv.read_csv(Path(__file__).parents[2] / "data" / "german_credit.csv")
    bad = (table.column("creditability").to_numpy(zero_copy_only=False) == "bad").astype(int)
    features: dict[str, np.ndarray] = {}
    specs: list[CharacteristicSpec] = []
    for name in table.column_names[:-1]:
        column = table.column(name)
        if pa.types.is_string(column.type):
            features[name] = column.to_numpy(zero_copy_only=False).astype(object)
            specs.append(CharacteristicSpec(name, Dimension.BEHAVIOUR, kind="categorical"))
        else:
            features[name] = column.to_numpy().astype(np.float64)
            specs.append(CharacteristicSpec(name, Dimension.BEHAVIOUR, "auto"))
    return features, bad, specs


@pytest.mark.parametrize(("min_share", "min_iv"), [(0.05, 0.02), (0.02, 0.0), (0.0, 0.0)])
def test_points_follow_bad_rates_on_german_credit(min_share: float, min_iv: float) -> None:
    features, bad, specs = german_credit()
    assert bad.sum() == 300 and bad.size == 1_000
    card = fit_scorecard(
        features, bad, specs, version="g", training={}, min_share=min_share, min_iv=min_iv
    )
    assert_points_follow_bad_rates(card)
    kinds = {c.kind for c in card.characteristics}
    assert kinds == {"numeric", "categorical"}
    # The strongest characteristic of this data set: the checking account.
    status = by_name(card, "status_of_existing_checking_account")
    assert "no checking account" in status.categories[int(np.argmax(status.points))]
    assert auc(bad, raw_score(card, features)) > 0.75
