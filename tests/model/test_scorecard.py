"""The scorecard on a synthetic population whose risk we control."""

from __future__ import annotations

import functools
import itertools
import math

import ibis
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaimen.domain.scores import FACTOR, MAX_REASONS, OFFSET, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.evaluation import auc
from kaimen.model.scorecard import (
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

SPECS = [
    CharacteristicSpec("late_payments", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("defaults", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("income", Dimension.CAPACITY, "descending"),
    CharacteristicSpec("utilisation", Dimension.BEHAVIOUR, "auto"),
    CharacteristicSpec("months_at_address", Dimension.IDENTITY, "descending"),
    CharacteristicSpec("shoe_size", Dimension.BEHAVIOUR, "auto"),
    CharacteristicSpec("friends_defaulted", Dimension.CONNECTIONS, "ascending"),
]
Features = dict[str, np.ndarray]


def synthetic(n: int, seed: int) -> tuple[Features, np.ndarray]:
    """A latent risk z drives a Bernoulli bad flag and several monotone features."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    bad = (rng.random(n) < 1 / (1 + np.exp(-(-2.8 + 1.3 * z)))).astype(np.int64)
    utilisation = np.clip(0.5 + 0.2 * z + 0.2 * rng.normal(size=n), 0, None)
    # Riskier people leave utilisation blank more often, so the missing bin carries evidence.
    utilisation[rng.random(n) < np.where(z > 1, 0.3, 0.05)] = np.nan
    features: Features = {
        "late_payments": rng.poisson(np.exp(0.8 * z - 1.5)).astype(np.float64),
        "defaults": rng.poisson(np.exp(1.0 * z - 3.0)).astype(np.float64),  # mostly 0
        "income": np.round(np.exp(8.5 - 0.4 * z + 0.8 * rng.normal(size=n)), 2),
        "utilisation": utilisation,
        "months_at_address": rng.poisson(np.exp(3.0 - 0.3 * z)).astype(np.float64),
        "shoe_size": rng.integers(35, 47, size=n).astype(np.float64),  # pure noise
        # The strongest signal of all, and still never allowed on the card.
        "friends_defaulted": z + 0.2 * rng.normal(size=n),
    }
    return features, bad


@functools.cache
def trained() -> Scorecard:
    features, bad = synthetic(20_000, seed=1)
    return fit_scorecard(
        features, bad, SPECS, version="test-1", training={"seed": 1, "rows": 20_000}
    )


@functools.cache
def _holdout() -> tuple[Features, np.ndarray]:
    return synthetic(10_000, seed=2)


def holdout() -> tuple[Features, np.ndarray]:
    """The cached holdout, in a fresh dict so a test can change it freely."""
    features, bad = _holdout()
    return dict(features), bad


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


def test_points_agree_in_direction_with_bin_bad_rates() -> None:
    for c in trained().characteristics:
        rates = [b / n for b, n in zip(c.bads, c.counts, strict=True)]
        for i, j in itertools.permutations(range(len(rates)), 2):
            if rates[i] > rates[j]:
                assert c.points[i] <= c.points[j], (c.name, rates, c.points)
        # WoE (and so points) orders the missing bin with the others too.
        for w, p in zip(c.woe, c.points, strict=True):
            if c.missing_woe < w:
                assert c.missing_points <= p
        assert c.coefficient < 0
        assert len(c.points) > 1


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
