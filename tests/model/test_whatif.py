"""One-person scoring and the what-if: exact against the batch path and a brute force."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaimen.domain.scores import SCORE_MAX, SCORE_MIN, Dimension
from kaimen.domain.value_domains import ValueDomain
from kaimen.features.catalogue import CATALOGUE, DOMAINS
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.card_scorer import CardScorer, Value
from kaimen.model.scorecard import Characteristic, Scorecard, fit_scorecard, points, raw_score
from kaimen.model.whatif import WhatIfRejected, apply, plan_to_target, what_if

SPECS = [
    CharacteristicSpec("late_payments", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("defaults", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("income", Dimension.CAPACITY, "descending"),
    CharacteristicSpec("utilisation", Dimension.BEHAVIOUR, "ascending"),
    CharacteristicSpec("age", Dimension.IDENTITY, "descending"),
]
# Age is a fact about the person, never something a plan may ask them to change.
ACTIONABLE = frozenset({"late_payments", "defaults", "income", "utilisation"})


def synthetic(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    bad = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.3 * z)))).astype(np.int64)
    utilisation = np.clip(0.5 + 0.2 * z + 0.2 * rng.normal(size=n), 0, None)
    utilisation[rng.random(n) < np.where(z > 1, 0.3, 0.05)] = np.nan
    features = {
        "late_payments": rng.poisson(np.exp(0.8 * z - 1.0)).astype(np.float64),
        "defaults": rng.poisson(np.exp(1.0 * z - 2.5)).astype(np.float64),
        "income": np.round(np.exp(8.5 - 0.4 * z + 0.8 * rng.normal(size=n)), 2),
        "utilisation": utilisation,
        "age": np.round(40 - 5 * z + 10 * rng.normal(size=n)).clip(18, 90),
    }
    return features, bad


@functools.cache
def card() -> Scorecard:
    features, bad = synthetic(20_000, seed=11)
    return fit_scorecard(features, bad, SPECS, version="whatif-test", training={})


def person(features: dict[str, np.ndarray], row: int) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for name, column in features.items():
        if column.dtype == object:  # a categorical column: text or None
            out[name] = column[row]
            continue
        value = float(column[row])
        out[name] = None if math.isnan(value) else value
    return out


def test_the_card_is_what_the_tests_assume() -> None:
    assert "age" in card().names and len(card().names) >= 4


def test_one_person_scoring_equals_the_batch_path() -> None:
    features, _ = synthetic(3_000, seed=12)
    # Values exactly on every edge, just above it, and missing, for every characteristic.
    for c in card().characteristics:
        finite = [e for e in c.edges if math.isfinite(e)]
        extra = np.array([*finite, *(np.nextafter(e, math.inf) for e in finite), math.nan])
        features[c.name] = np.concatenate([features[c.name][: -extra.size], extra])
    scorer = CardScorer(card())
    batch_points = points(card(), features)
    batch_raw = raw_score(card(), features)
    for row in range(3_000):
        values = person(features, row)
        assert scorer.raw(values) == batch_raw[row]
        assert list(scorer.points(values).values()) == batch_points[row].tolist()
        # NaN and None are the same missing value.
        as_nan = {k: math.nan if v is None else v for k, v in values.items()}
        assert scorer.raw(as_nan) == batch_raw[row]


def test_one_person_scoring_names_a_missing_value() -> None:
    values = {name: 0.0 for name in card().names if name != "income"}
    with pytest.raises(KeyError, match="no value for characteristic 'income'"):
        CardScorer(card()).points(values)


def _brute_force(
    c: Scorecard, values: dict[str, float | None], target: int
) -> tuple[int, int, int] | None:
    """(changes, bins moved, -points) of the best plan by trying every combination of moves."""
    scorer = CardScorer(c)
    raw = scorer.raw(values)
    per_characteristic: list[list[tuple[int, int]]] = []  # (gain, steps), (0, 0) = no change
    for ch in c.characteristics:
        options = [(0, 0)]
        if ch.name in ACTIONABLE:
            current = scorer.bin_of(ch.name, values[ch.name])
            now = ch.missing_points if current < 0 else ch.points[current]
            for j, p in enumerate(ch.points):
                if p > now:
                    options.append((p - now, 1 if current < 0 else abs(j - current)))
        per_characteristic.append(options)
    best: tuple[int, int, int] | None = None
    for combination in itertools.product(*per_characteristic):
        gain = sum(g for g, _ in combination)
        if raw + gain < target:
            continue
        key = (sum(1 for g, _ in combination if g), sum(s for _, s in combination), -gain)
        best = key if best is None or key < best else best
    return best


@settings(max_examples=150, deadline=None)
@given(row=st.integers(min_value=0, max_value=1_999), target=st.integers(SCORE_MIN, SCORE_MAX))
def test_the_plan_is_the_smallest_that_reaches_the_target(row: int, target: int) -> None:
    features, _ = synthetic(2_000, seed=13)
    values = person(features, row)
    plan = plan_to_target(card(), values, target, ACTIONABLE)
    scorer = CardScorer(card())
    assert plan.raw_score == scorer.raw(values)
    assert all(change.feature in ACTIONABLE for change in plan.changes)
    assert len({change.feature for change in plan.changes}) == len(plan.changes)
    changed = apply(values, plan.changes)
    # Applying the plan to the person's own features gives exactly the promised score.
    assert scorer.raw(changed) == plan.new_raw_score
    for change in plan.changes:
        before = scorer.points(values)[change.feature]
        assert scorer.points(changed)[change.feature] - before == change.points_added > 0
    best = _brute_force(card(), values, target)
    if best is None:
        assert not plan.reachable
        assert plan.new_raw_score < target
        # Unreachable: the plan shows the best score actionable changes can give.
        best_possible = scorer.raw(values) + sum(
            max(0, max(ch.points) - scorer.points(values)[ch.name])
            for ch in card().characteristics
            if ch.name in ACTIONABLE
        )
        assert plan.new_raw_score == best_possible
    else:
        assert plan.reachable
        assert plan.new_raw_score >= target or plan.raw_score >= target
        moved = sum(
            1
            if scorer.bin_of(ch.feature, values[ch.feature]) < 0
            else abs(
                scorer.bin_of(ch.feature, ch.new_value)
                - scorer.bin_of(ch.feature, values[ch.feature])
            )
            for ch in plan.changes
        )
        gained = sum(ch.points_added for ch in plan.changes)
        assert (len(plan.changes), moved, -gained) == best


def test_a_reached_target_needs_no_change() -> None:
    features, _ = synthetic(50, seed=14)
    values = person(features, 0)
    raw = CardScorer(card()).raw(values)
    plan = plan_to_target(card(), values, max(SCORE_MIN, min(raw, SCORE_MAX)), ACTIONABLE)
    assert plan.reachable and plan.changes == ()


def _hand_card() -> Scorecard:
    def characteristic(name: str, pts: tuple[int, ...], missing: int) -> Characteristic:
        k = len(pts)
        return Characteristic(
            name=name,
            dimension=Dimension.CREDIT_HISTORY,
            direction="ascending",
            edges=(*(float(e) for e in range(k - 1)), math.inf),
            labels=(*(str(e) for e in range(k - 1)), f"{k - 1} or more"),
            points=pts,
            missing_points=missing,
            coefficient=-1.0,
            woe=tuple(0.0 for _ in pts),
            missing_woe=0.0,
            counts=tuple(10 for _ in pts),
            bads=tuple(1 for _ in pts),
            missing_count=0,
            missing_bads=0,
            iv=0.1,
        )

    return Scorecard(
        version="hand",
        characteristics=(
            characteristic("late", (200, 170, 150, 100), 100),
            characteristic("fines", (200, 160, 120), 120),
            characteristic("age", (300, 100), 100),
        ),
        intercept=0.0,
        training={},
    )


def test_a_hand_checked_plan() -> None:
    values: dict[str, float | None] = {
        "late": 5.0,
        "fines": 2.0,
        "age": 1.0,
    }  # 100 + 120 + 100 = 320
    plan = plan_to_target(_hand_card(), values, 360, {"late", "fines"})
    # 40 short: "late" to "2" (+50) and "fines" to "1" (+40) each move one bin, "late" to "1"
    # (+70) two. Fewest bins moved comes first, then more points.
    assert [(c.feature, c.new_label, c.new_value, c.points_added) for c in plan.changes] == [
        ("late", "2", 2.0, 50)
    ]
    assert (plan.raw_score, plan.new_raw_score, plan.reachable) == (320, 370, True)
    # 70 short: "late" to "1" (+70) and "fines" to "0" (+80) tie on two bins; more points win.
    plan = plan_to_target(_hand_card(), values, 390, {"late", "fines"})
    assert [(c.feature, c.new_label, c.points_added) for c in plan.changes] == [("fines", "0", 80)]
    # 120 short: no single change is enough (at most +100); of the pairs, "late" to "2" and
    # "fines" to "0" move the fewest bins (three).
    plan = plan_to_target(_hand_card(), values, 440, {"late", "fines"})
    assert [(c.feature, c.new_label, c.points_added) for c in plan.changes] == [
        ("late", "2", 50),
        ("fines", "0", 80),
    ]
    # Age would give 200 points, but is not actionable: 550 is out of reach.
    plan = plan_to_target(_hand_card(), values, 550, {"late", "fines"})
    assert not plan.reachable and plan.new_raw_score == 500


def test_free_what_if() -> None:
    values: dict[str, float | None] = {"late": 5.0, "fines": 2.0, "age": 1.0}
    result = what_if(_hand_card(), values, {"late": 0.0, "fines": None}, {})
    assert (result.raw_score, result.new_raw_score) == (320, 420)
    assert (result.score, result.new_score) == (350, 420)
    assert result.points_change == {"late": 100}
    with pytest.raises(WhatIfRejected, match="not on the card: shoe_size"):
        what_if(_hand_card(), values, {"shoe_size": 1.0}, {})
    with pytest.raises(WhatIfRejected, match="late: expected a finite number"):
        what_if(_hand_card(), values, {"late": math.inf}, {})
    with pytest.raises(WhatIfRejected, match="late: expected a finite number"):
        what_if(_hand_card(), values, {"late": "3"}, {})  # type: ignore[dict-item]


def test_a_target_outside_the_range_is_refused() -> None:
    values: dict[str, float | None] = {"late": 5.0, "fines": 2.0, "age": 1.0}
    with pytest.raises(WhatIfRejected, match="between 350 and 950"):
        plan_to_target(_hand_card(), values, 951, {"late"})
    with pytest.raises(WhatIfRejected, match="whole number"):
        plan_to_target(_hand_card(), values, 650.5, {"late"})  # type: ignore[arg-type]


@functools.cache
def mixed_card() -> tuple[Scorecard, dict[str, np.ndarray]]:
    """A card with a categorical characteristic beside the numeric ones."""
    features, bad = synthetic(20_000, seed=21)
    rng = np.random.default_rng(21)
    risky = bad == 1
    housing = np.where(
        rng.random(bad.size) < np.where(risky, 0.5, 0.2),
        "rent",
        np.where(rng.random(bad.size) < 0.7, "own", "free"),
    ).astype(object)
    housing[rng.random(bad.size) < 0.03] = None
    features["housing"] = housing
    specs = [*SPECS, CharacteristicSpec("housing", Dimension.CAPACITY, kind="categorical")]
    return fit_scorecard(features, bad, specs, version="mixed", training={}), features


def test_categorical_characteristics_score_and_plan_exactly() -> None:
    card_, features = mixed_card()
    assert "housing" in card_.names
    scorer = CardScorer(card_)
    batch = raw_score(card_, features)
    rows = range(0, 20_000, 37)
    for row in rows:
        values = person(features, row)
        assert scorer.raw(values) == batch[row]
    # A category never seen in training scores with the card's unseen bin, not the missing one.
    housing = next(c for c in card_.characteristics if c.name == "housing")
    assert housing.unseen_bin is not None
    values = {name: (0.0 if name != "housing" else "houseboat") for name in card_.names}
    assert scorer.points(values)["housing"] == housing.points[housing.unseen_bin]
    actionable = ACTIONABLE | {"housing"}
    for row in rows:
        values = person(features, row)
        target = min(SCORE_MAX, max(SCORE_MIN, scorer.raw(values) + 40))
        plan = plan_to_target(card_, values, target, actionable)
        assert scorer.raw(apply(values, plan.changes)) == plan.new_raw_score
        for change in plan.changes:
            if change.feature == "housing":
                assert isinstance(change.new_value, str)
    with pytest.raises(WhatIfRejected, match="housing: expected a category"):
        what_if(card_, values, {"housing": 3.0}, {})
    assert what_if(card_, values, {"housing": "own"}, {}).new_raw_score == scorer.raw(
        {**values, "housing": "own"}
    )


def test_a_value_outside_its_characteristics_domain_is_refused() -> None:
    values: dict[str, float | None] = {"late": 2.0, "fines": 1.0, "age": 1.0}
    domains = {"late": ValueDomain(0, 10_000, whole=True)}
    for bad, why in ((1e308, "between 0 and 10000"), (-1.0, "between 0 and 10000")):
        with pytest.raises(WhatIfRejected, match=f"late: {why} expected"):
            what_if(_hand_card(), values, {"late": bad}, domains)
    with pytest.raises(WhatIfRejected, match="late: a whole number expected"):
        what_if(_hand_card(), values, {"late": 2.5}, domains)
    # Within the domain, and a characteristic without one, are tried as before.
    assert what_if(_hand_card(), values, {"late": 0.0, "fines": 1e308}, domains).points_change


def test_every_catalogue_feature_has_a_domain() -> None:
    assert set(DOMAINS) == set(CATALOGUE)
    assert DOMAINS["on_time_share_12m"] == ValueDomain(0.0, 1.0)
