"""Monotone binning, WoE, IV, labels and selection."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaimen.model.binning import (
    MISSING_MIN_ROWS,
    UNSEEN_SUFFIX,
    Bins,
    CharacteristicSpec,
    bin_index,
    bin_labels,
    fit_bins,
    fit_categorical_bins,
    select,
    woe_transform,
)


def risky_population(n: int = 5_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A latent risk z and a bad flag it drives."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    bad = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * z)))).astype(np.int64)
    return z, bad


def assert_valid(
    bins: Bins, values: np.ndarray, bad: np.ndarray, max_bins: int, min_share: float
) -> None:
    present = ~np.isnan(values)
    k = len(bins.edges)
    assert 1 <= k <= max_bins
    assert bins.edges[-1] == math.inf
    assert all(a < b for a, b in zip(bins.edges, bins.edges[1:], strict=False))
    assert sum(bins.counts) == present.sum()
    assert sum(bins.bads) == bad[present].sum()
    assert bins.missing_count == (~present).sum()
    assert bins.missing_bads == bad[~present].sum()
    assert np.isfinite(bins.woe).all() and math.isfinite(bins.missing_woe)
    assert bins.iv >= 0
    # The stored counts are exactly what bin_index assigns.
    index = bin_index(bins, values)
    assert (index[~present] == -1).all()
    np.testing.assert_array_equal(np.bincount(index[present], minlength=k), bins.counts)
    if k > 1:
        assert min(bins.counts) >= min_share * present.sum()
        rates = bins.bad_rates
        steps = np.diff(rates)
        woe_steps = np.diff(bins.woe)
        if bins.direction == "ascending":
            assert (steps > 0).all() and (woe_steps < 0).all()
        else:
            assert (steps < 0).all() and (woe_steps > 0).all()


def test_a_rising_risk_gives_ascending_bins() -> None:
    z, bad = risky_population()
    bins = fit_bins(z, bad, "ascending")
    assert_valid(bins, z, bad, 8, 0.05)
    assert bins.direction == "ascending"
    assert len(bins.edges) >= 4
    assert bins.iv > 0.3


def test_auto_finds_the_direction_with_the_larger_iv() -> None:
    z, bad = risky_population()
    assert fit_bins(z, bad, "auto").direction == "ascending"
    assert fit_bins(-z, bad, "auto").direction == "descending"
    forced = fit_bins(z, bad, "descending")
    assert forced.iv < fit_bins(z, bad, "auto").iv


def test_a_count_that_is_mostly_zero_bins_cleanly() -> None:
    z, bad = risky_population(10_000)
    rng = np.random.default_rng(1)
    # The safest ~80% have none; the rest have one or more, more of them the riskier they are.
    risk = z + 0.5 * rng.normal(size=z.size)
    count = np.where(risk < np.quantile(risk, 0.8), 0, 1 + rng.poisson(np.exp(0.8 * z))).astype(
        float
    )
    assert 0.79 < (count == 0).mean() < 0.81
    bins = fit_bins(count, bad, "ascending")
    assert_valid(bins, count, bad, 8, 0.05)
    assert bins.edges[0] == 0
    assert bins.integer_valued
    assert len(bins.edges) >= 3
    labels = bin_labels(bins)
    assert labels[0] == "0"
    assert labels[-1].endswith(" or more")


def test_a_distinct_tail_survives_min_share() -> None:
    # 0 and 1 share a bad rate; 2, 3 and 4 are each under 5% of rows but riskier together.
    # Greedy folding (smallest bin into its closest neighbour) ends with a single bin here:
    # 4 joins 3 (37 rows), 2 joins 0-1 (closer rate), then 3-4 is still too small.
    rows = [830, 100, 33, 30, 7]
    bads = [83, 10, 5, 8, 4]
    values = np.repeat([0.0, 1.0, 2.0, 3.0, 4.0], rows)
    bad = np.concatenate([np.repeat([1, 0], [k, n - k]) for n, k in zip(rows, bads, strict=True)])
    bins = fit_bins(values, bad, "ascending")
    assert_valid(bins, values, bad, 8, 0.05)
    assert bins.edges == (1.0, math.inf)
    assert bins.counts == (930, 70)
    assert bin_labels(bins) == ("0-1", "2 or more")


def test_woe_never_contradicts_the_bad_rate() -> None:
    # 0 has 2 rows, no bads (rate 0); 1 has 100 rows, 1 bad (rate 0.01): ascending by raw rate,
    # but the smoothed WoE of the tiny clean bin (ln 5 + c) is below the big one's (ln 66 + c),
    # so as two bins the safer-looking bin would get fewer points. They must be merged.
    values = np.repeat([0.0, 1.0], [2, 100])
    bad = np.zeros(102, dtype=int)
    bad[-1] = 1
    bins = fit_bins(values, bad, "ascending", min_share=0)
    assert_valid(bins, values, bad, 8, 0)
    assert len(bins.edges) == 1


def test_woe_and_iv_follow_the_formula() -> None:
    values = np.array([0.0] * 10 + [1.0] * 10)
    bad = np.array([1] * 2 + [0] * 8 + [1] * 6 + [0] * 4)
    bins = fit_bins(values, bad, "ascending", min_share=0)
    assert bins.edges == (0.0, math.inf)
    assert bins.counts == (10, 10)
    assert bins.bads == (2, 6)
    # 12 goods, 8 bads, two bins, 0.5 counts of smoothing per bin.
    good = np.array([8.5, 4.5]) / 13
    bad_share = np.array([2.5, 6.5]) / 9
    woe = np.log(good / bad_share)
    np.testing.assert_allclose(bins.woe, woe)
    assert bins.iv == pytest.approx(float(np.sum((good - bad_share) * woe)))
    assert bins.missing_count == 0
    # No blanks in training: a blank is worth no more than the riskiest bin.
    assert not bins.missing_own_group
    assert bins.missing_woe == min(bins.woe)


def test_bins_without_goods_or_bads_have_finite_woe() -> None:
    values = np.arange(40, dtype=float)
    bad = (values >= 20).astype(int)
    bins = fit_bins(values, bad, "ascending", min_share=0)
    assert bins.bads[0] == 0 and bins.bads[-1] == bins.counts[-1]
    assert np.isfinite(bins.woe).all()


def test_missing_values_get_their_own_bin() -> None:
    z, bad = risky_population()
    values = z.copy()
    # Mostly the riskiest leave it blank: the missing bin's WoE must say so.
    blank = (z > 1.5) & (np.arange(z.size) % 2 == 0)
    values[blank] = np.nan
    bins = fit_bins(values, bad, "ascending")
    assert_valid(bins, values, bad, 8, 0.05)
    assert bins.missing_count == blank.sum()
    assert bins.missing_woe < min(bins.woe[:2])
    transformed = woe_transform(bins, values)
    assert (transformed[blank] == bins.missing_woe).all()


def test_everything_missing() -> None:
    values = np.full(6, np.nan)
    bins = fit_bins(values, np.array([0, 1, 0, 0, 1, 0]), "auto")
    assert bins.counts == (0,)
    assert bins.missing_count == 6
    assert bins.missing_woe == 0
    assert bins.iv == 0
    assert bin_labels(bins) == ("any value",)


def test_bin_index_is_right_closed_and_minus_one_for_missing() -> None:
    bins = Bins(
        edges=(0.0, 2.0, math.inf),
        counts=(1, 1, 1),
        bads=(0, 0, 1),
        woe=(1.0, 0.0, -1.0),
        missing_count=0,
        missing_bads=0,
        missing_woe=0.0,
        iv=0.5,
        direction="ascending",
        minimum=0.0,
        integer_valued=True,
    )
    got = bin_index(bins, np.array([-5, 0, 0.5, 2, 2.0001, 1e300, math.inf, math.nan]))
    assert got.tolist() == [0, 0, 1, 1, 2, 2, 2, -1]
    assert bin_labels(bins) == ("0", "1-2", "3 or more")


def test_labels_of_fractional_values() -> None:
    z, bad = risky_population()
    labels = bin_labels(fit_bins(z, bad, "ascending"))
    assert labels[0].endswith(" or less")
    assert labels[-1].startswith("more than ")
    assert all(" up to " in label for label in labels[1:-1])
    assert len(set(labels)) == len(labels)


@settings(deadline=None, max_examples=150)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=300),
    integer=st.booleans(),
    monotone=st.sampled_from(["ascending", "descending", "auto"]),
    max_bins=st.integers(min_value=1, max_value=8),
    min_share=st.sampled_from([0.0, 0.05, 0.1, 0.3]),
)
def test_bins_are_always_valid(
    data: st.DataObject, n: int, integer: bool, monotone: str, max_bins: int, min_share: float
) -> None:
    value = (
        st.integers(min_value=0, max_value=6).map(float)
        if integer
        else st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
    )
    values = np.array(
        data.draw(st.lists(st.one_of(value, st.just(math.nan)), min_size=n, max_size=n))
    )
    bad = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    bins = fit_bins(values, bad, monotone, max_bins=max_bins, min_share=min_share)  # type: ignore[arg-type]
    assert_valid(bins, values, bad, max_bins, min_share)
    assert_missing_agrees_with_bad_rate(bins)
    if monotone != "auto":
        assert bins.direction == monotone


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="0 and 1"):
        fit_bins(np.array([1.0, 2.0]), np.array([0, 2]), "auto")
    with pytest.raises(ValueError, match="shape"):
        fit_bins(np.array([1.0, 2.0]), np.array([0]), "auto")
    with pytest.raises(ValueError, match="monotone"):
        fit_bins(np.array([1.0, 2.0]), np.array([0, 1]), "upwards")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bins"):
        fit_bins(np.array([1.0, 2.0]), np.array([0, 1]), "auto", max_bins=0)


def test_select_drops_weak_and_redundant_characteristics() -> None:
    z, bad = risky_population(10_000)
    rng = np.random.default_rng(2)
    strong = z + 0.3 * rng.normal(size=z.size)
    echo = strong + 0.1 * rng.normal(size=z.size)  # nearly the same, a little weaker
    other = z + 1.5 * rng.normal(size=z.size)  # weaker, but a different view
    noise = rng.normal(size=z.size)
    candidates = {
        name: (fit_bins(values, bad, "auto"), values)
        for name, values in {
            "echo": echo,
            "noise": noise,
            "other": other,
            "strong": strong,
        }.items()
    }
    ivs = {name: bins.iv for name, (bins, _) in candidates.items()}
    assert ivs["strong"] > ivs["echo"] > ivs["other"] > 0.02 > ivs["noise"]
    assert select(candidates) == ["strong", "other"]
    assert select(candidates, max_correlation=1.0) == ["strong", "echo", "other"]
    assert select(candidates, min_iv=0.0, max_correlation=1.0)[-1] == "noise"
    assert select(candidates, min_iv=10.0) == []


# -- categorical characteristics ------------------------------------------------------------


def categorical_population(
    n: int = 6_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Categories with known bad rates, two of them rare, and some blanks (None and NaN)."""
    # Alphabetical order is not risk order, so sorting by name would not pass for sorting by rate.
    rates = {
        "baker": 0.35,
        "clerk": 0.03,
        "driver": 0.20,
        "engineer": 0.05,
        "farmer": 0.12,
        "gardener": 0.08,
    }
    rng = np.random.default_rng(seed)
    values = rng.choice(list(rates), size=n, p=[0.35, 0.15, 0.2, 0.1, 0.1, 0.1]).astype(object)
    rate = np.array([rates[v] for v in values])
    values[:7] = "astronaut"  # rare: fewer than RARE_ROWS rows
    values[7:12] = "lion tamer"
    values[12:200:2] = None
    values[13:200:2] = math.nan
    rate[12:200] = 0.25  # blanks are riskier than most
    bad = (rng.random(n) < rate).astype(np.int64)
    return values, bad, rates


def assert_valid_categorical(
    bins: Bins, values: np.ndarray, bad: np.ndarray, max_bins: int, min_share: float
) -> None:
    missing = np.array([v is None or v != v for v in values])
    present = [str(v) for v in values[~missing]]
    k = len(bins.edges)
    assert bins.kind == "categorical"
    assert 1 <= k <= max_bins
    assert bins.edges == (*(float(j) for j in range(k - 1)), math.inf)
    assert len(bins.categories) == k
    assert bins.unseen_bin is not None and 0 <= bins.unseen_bin < k
    every = [c for group in bins.categories for c in group]
    assert sorted(every) == sorted(set(present))
    assert bins.direction == "ascending"
    assert sum(bins.counts) == len(present)
    assert bins.missing_count == missing.sum()
    assert bins.missing_bads == bad[missing].sum()
    index = bin_index(bins, values)
    assert (index[missing] == -1).all()
    np.testing.assert_array_equal(np.bincount(index[~missing], minlength=k), bins.counts)
    np.testing.assert_array_equal(
        np.bincount(index[~missing], weights=bad[~missing], minlength=k), bins.bads
    )
    assert np.isfinite(bins.woe).all() and math.isfinite(bins.missing_woe)
    if k > 1:
        assert min(bins.counts) >= min_share * len(present)
        # Bins run from the safest to the riskiest, in bad rate and in WoE alike.
        assert (np.diff(bins.bad_rates) > 0).all()
        assert (np.diff(bins.woe) < 0).all()


def test_categories_are_ordered_by_bad_rate_and_merged() -> None:
    values, bad, rates = categorical_population()
    bins = fit_categorical_bins(values, bad)
    assert_valid_categorical(bins, values, bad, 8, 0.05)
    bin_of = {c: j for j, group in enumerate(bins.categories) for c in group}
    # Every clearly riskier category lands in a later (or the same) bin.
    for a, b in itertools.permutations(rates, 2):
        if rates[a] + 0.05 < rates[b]:
            assert bin_of[a] <= bin_of[b], (a, b, bins.categories)
    assert bin_of["clerk"] < bin_of["farmer"] < bin_of["baker"]
    assert bins.iv > 0.3
    assert bins.missing_count == 188
    assert bins.missing_woe < bins.woe[0]


def test_rare_categories_are_pooled_and_unseen_ones_take_the_riskiest_bin() -> None:
    values, bad, _ = categorical_population()
    bins = fit_categorical_bins(values, bad)
    bin_of = {c: j for j, group in enumerate(bins.categories) for c in group}
    # Pooled before merging, so the two rare categories always share a bin ...
    assert bin_of["astronaut"] == bin_of["lion tamer"]
    # ... but a category never seen in training scores with the riskiest bin, not the blanks'.
    assert bins.unseen_bin == len(bins.categories) - 1
    assert bins.woe[bins.unseen_bin] == min(bins.woe)
    got = bin_index(bins, np.array(["pilot", None, "astronaut", math.nan], dtype=object))
    assert got.tolist() == [bins.unseen_bin, -1, bin_of["astronaut"], -1]
    labels = bin_labels(bins)
    assert labels[bins.unseen_bin].endswith(UNSEEN_SUFFIX)
    assert sum(label.endswith(UNSEEN_SUFFIX) for label in labels) == 1


def test_an_unseen_category_never_buys_a_better_bin() -> None:
    rng = np.random.default_rng(5)
    values = np.repeat(["a", "b", "c"], [3_000, 1_000, 1_000]).astype(object)
    rate = np.repeat([0.02, 0.10, 0.30], [3_000, 1_000, 1_000])
    bad = (rng.random(values.size) < rate).astype(np.int64)
    bins = fit_categorical_bins(values, bad)
    assert bins.categories == (("a",), ("b",), ("c",))
    # "a" holds the most rows but is the safest bin: an unknown value must not buy it, nor
    # the average bin: it scores as the riskiest.
    assert bins.unseen_bin == 2
    assert bin_index(bins, np.array(["zzz", " b ", "b"], dtype=object)).tolist() == [2, 1, 1]
    assert bin_labels(bins) == ("a", "b", "c" + UNSEEN_SUFFIX)


def test_categories_are_compared_as_strings() -> None:
    values = np.array([1, 2, 2, 1, 3, 3] * 50, dtype=object)
    bad = np.array([0, 1, 1, 0, 1, 0] * 50)
    bins = fit_categorical_bins(values, bad, min_share=0)
    assert sorted(c for group in bins.categories for c in group) == ["1", "2", "3"]
    np.testing.assert_array_equal(
        bin_index(bins, np.array(["1", "2", "3"])), bin_index(bins, np.array([1, 2, 3]))
    )


def test_categorical_everything_missing() -> None:
    bins = fit_categorical_bins(np.array([None, math.nan, None], dtype=object), np.array([0, 1, 0]))
    assert bins.categories == ((),)
    assert bins.counts == (0,)
    assert bins.missing_count == 3
    assert bins.unseen_bin == 0
    assert bin_labels(bins) == ("any value",)
    assert bin_index(bins, np.array(["x", None], dtype=object)).tolist() == [0, -1]


@settings(deadline=None, max_examples=150)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=400),
    categories=st.integers(min_value=1, max_value=30),
    max_bins=st.integers(min_value=1, max_value=8),
    min_share=st.sampled_from([0.0, 0.05, 0.1, 0.3]),
)
def test_categorical_bins_are_always_valid(
    data: st.DataObject, n: int, categories: int, max_bins: int, min_share: float
) -> None:
    value = st.one_of(
        st.integers(min_value=0, max_value=categories - 1).map(lambda i: f"c{i}"),
        st.just(None),
        st.just(math.nan),
    )
    values = np.array(data.draw(st.lists(value, min_size=n, max_size=n)), dtype=object)
    bad = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    bins = fit_categorical_bins(values, bad, max_bins=max_bins, min_share=min_share)
    assert_valid_categorical(bins, values, bad, max_bins, min_share)
    assert_missing_agrees_with_bad_rate(bins)


def assert_missing_agrees_with_bad_rate(bins: Bins) -> None:
    """A missing bin with rows has no more WoE than safer bins and no less than riskier ones,
    unless it is too small to be a group of its own: then no more than the riskiest bin."""
    used = [w for n, w in zip(bins.counts, bins.woe, strict=True) if n]
    if not bins.missing_own_group:
        assert bins.missing_woe <= min(used)
        return
    assert bins.missing_count >= MISSING_MIN_ROWS or not used
    if bins.missing_count == 0:
        return
    rate = bins.missing_bads / bins.missing_count
    for n, b, w in zip(bins.counts, bins.bads, bins.woe, strict=True):
        if n and b / n < rate:
            assert bins.missing_woe <= w
        if n and b / n > rate:
            assert bins.missing_woe >= w


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_small_missing_bin_never_outranks_its_bad_rate(kind: str) -> None:
    # Two blanks, both good (rate 0), beside 100 rows with 1 bad (rate 0.01). Smoothed, the
    # blanks' WoE (ln 5 + c) would be below the big bin's (ln 66 + c): fewer points for the
    # safer group. The clamp gives them the big bin's WoE instead.
    present = np.zeros(100) if kind == "numeric" else np.full(100, "x", dtype=object)
    blank = math.nan if kind == "numeric" else None
    values = np.concatenate([present, np.array([blank, blank], dtype=present.dtype)])
    bad = np.zeros(102, dtype=int)
    bad[0] = 1
    bins = fit_bins(values, bad, "auto") if kind == "numeric" else fit_categorical_bins(values, bad)
    assert bins.missing_count == 2 and bins.missing_bads == 0
    # Two blanks are too few to be a group of their own: no better than the riskiest bin.
    assert not bins.missing_own_group
    assert bins.missing_woe == bins.woe[0]
    assert_missing_agrees_with_bad_rate(bins)
    # Enough safe blanks: their own group, clamped to the big bin they are no riskier than.
    many = np.concatenate([present, np.array([blank] * MISSING_MIN_ROWS, dtype=present.dtype)])
    many_bad = np.zeros(many.size, dtype=int)
    many_bad[0] = 1
    own = (
        fit_bins(many, many_bad, "auto")
        if kind == "numeric"
        else fit_categorical_bins(many, many_bad)
    )
    assert own.missing_own_group
    assert own.missing_woe >= own.woe[0]
    assert_missing_agrees_with_bad_rate(own)
    # A missing bin that is plainly riskier keeps its own, lower WoE.
    bad[-2:] = 1
    riskier = (
        fit_bins(values, bad, "auto") if kind == "numeric" else fit_categorical_bins(values, bad)
    )
    assert riskier.missing_woe < riskier.woe[0]


def test_specs_know_their_kind() -> None:
    assert CharacteristicSpec("x", "behaviour").kind == "numeric"
    assert CharacteristicSpec("x", "behaviour", kind="categorical").monotone == "auto"
    with pytest.raises(ValueError, match="kind"):
        CharacteristicSpec("x", "behaviour", kind="ordinal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ordered by its bad rate"):
        CharacteristicSpec("x", "behaviour", "ascending", "categorical")


def test_bad_categorical_arguments_are_refused() -> None:
    values = np.array(["a", "b"], dtype=object)
    with pytest.raises(ValueError, match="1-D"):
        fit_categorical_bins(np.array([["a"], ["b"]], dtype=object), np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        fit_categorical_bins(values, np.array([0]))
    with pytest.raises(ValueError, match="0 and 1"):
        fit_categorical_bins(values, np.array([0, 2]))
    with pytest.raises(ValueError, match="max_bins"):
        fit_categorical_bins(values, np.array([0, 1]), max_bins=0)
    with pytest.raises(ValueError, match="min_share"):
        fit_categorical_bins(values, np.array([0, 1]), min_share=1.5)
