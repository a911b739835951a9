"""AUC, Gini, KS, bad rate by band and calibration, checked against scikit-learn, brute force,
hand-computed values and the values the previous hand-written AUC and KS gave."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from kaimen.domain.scores import BANDS
from kaimen.model.evaluation import (
    CALIBRATION_Z,
    auc,
    bad_rate_by_band,
    calibration_by_band,
    evaluate,
    gini,
    ks,
)

outcomes = st.integers(min_value=2, max_value=200).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda b: 0 < sum(b) < n),
        # Few distinct scores, so ties are common.
        st.lists(st.integers(300, 320), min_size=n, max_size=n),
    )
)


@settings(deadline=None, max_examples=200)
@given(data=outcomes)
def test_auc_matches_scikit_learn_with_ties(data: tuple[list[int], list[int]]) -> None:
    bad, score = np.array(data[0]), np.array(data[1])
    # Higher score = safer, so a low score predicts bad.
    expected = roc_auc_score(bad, -score)
    assert auc(bad, score) == pytest.approx(expected, abs=1e-12)
    assert gini(bad, score) == pytest.approx(2 * expected - 1, abs=1e-12)


@settings(deadline=None, max_examples=200)
@given(data=outcomes)
def test_ks_matches_brute_force(data: tuple[list[int], list[int]]) -> None:
    bad, score = np.array(data[0]), np.array(data[1])
    gaps = [
        abs(np.mean(score[bad == 1] <= cut) - np.mean(score[bad == 0] <= cut))
        for cut in np.unique(score)
    ]
    assert ks(bad, score) == pytest.approx(max(gaps), abs=1e-12)


def test_perfect_and_reversed_scores() -> None:
    bad = np.array([1, 1, 0, 0, 0])
    score = np.array([400, 410, 700, 720, 900])
    assert auc(bad, score) == 1.0
    assert gini(bad, score) == 1.0
    assert ks(bad, score) == 1.0
    assert auc(bad, -score) == 0.0
    assert auc(bad, np.full(5, 600)) == 0.5
    assert ks(bad, np.full(5, 600)) == 0.0


def test_one_class_or_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        auc(np.zeros(4, dtype=int), np.arange(4))
    with pytest.raises(ValueError, match="0 and 1"):
        ks(np.array([0, 2]), np.array([1, 2]))
    with pytest.raises(ValueError, match="equal length"):
        auc(np.array([0, 1]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="NaN"):
        auc(np.array([0, 1]), np.array([1.0, np.nan]))


def test_bad_rate_by_band() -> None:
    scores = np.array([350, 549, 550, 599, 600, 700, 950, 950])
    bad = np.array([1, 1, 0, 1, 0, 0, 0, 1])
    rows = bad_rate_by_band(bad, scores)
    assert [r.band for r in rows] == [b.name for b in BANDS]
    assert [r.count for r in rows] == [2, 2, 1, 0, 3]
    assert [r.bad_rate for r in rows] == [1.0, 0.5, 0.0, None, pytest.approx(1 / 3)]


def test_bad_rate_by_band_wants_published_scores() -> None:
    with pytest.raises(ValueError, match="350-950"):
        bad_rate_by_band(np.array([0, 1]), np.array([349, 600]))
    with pytest.raises(ValueError, match="whole"):
        bad_rate_by_band(np.array([0, 1]), np.array([600.5, 600]))


# Fixed data with ties, and the values the hand-written AUC (Mann-Whitney with average ranks)
# and KS (cumulative shares after each run of equal scores) gave on it before both were
# replaced by scikit-learn's roc_auc_score and roc_curve: computed with that code, then pinned.
PINNED_BAD = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0]
PINNED_SCORE = [412, 655, 530, 530, 701, 588, 455, 480, 655, 812]
PINNED_SCORE += [588, 530, 640, 760, 599, 455, 700, 455, 612, 950]
PINNED_AUC, PINNED_KS = 0.8035714285714286, 0.5714285714285714
_i = np.arange(300)
LONGER_SCORE = 350 + (_i * 37) % 61 + (_i % 5) * 20
LONGER_BAD = (((_i * 13) % 7 == 0) | ((LONGER_SCORE < 400) & (_i % 3 == 0))).astype(int)
LONGER_AUC, LONGER_KS = 0.6559647565922921, 0.3321501014198782


def _pairs_auc(bad: list[int], score: list[int]) -> float:
    """Every (bad, good) pair: 1 if the bad scores lower, a half for a tie."""
    bads = [s for b, s in zip(bad, score, strict=True) if b]
    goods = [s for b, s in zip(bad, score, strict=True) if not b]
    wins = sum((b < g) + 0.5 * (b == g) for b in bads for g in goods)
    return wins / (len(bads) * len(goods))


def _cut_ks(bad: list[int], score: list[int]) -> float:
    """The largest gap, over every cut-off, between the shares of bads and of goods at or
    below it."""
    bads = [s for b, s in zip(bad, score, strict=True) if b]
    goods = [s for b, s in zip(bad, score, strict=True) if not b]
    return max(
        abs(sum(s <= cut for s in bads) / len(bads) - sum(s <= cut for s in goods) / len(goods))
        for cut in set(score)
    )


@pytest.mark.parametrize(
    ("bad", "score", "pinned_auc", "pinned_ks"),
    [
        (PINNED_BAD, PINNED_SCORE, PINNED_AUC, PINNED_KS),
        (LONGER_BAD.tolist(), LONGER_SCORE.tolist(), LONGER_AUC, LONGER_KS),
    ],
)
def test_auc_and_ks_keep_the_values_of_the_hand_written_code(
    bad: list[int], score: list[int], pinned_auc: float, pinned_ks: float
) -> None:
    assert auc(bad, score) == pytest.approx(pinned_auc, abs=1e-12)
    assert ks(bad, score) == pytest.approx(pinned_ks, abs=1e-12)
    assert gini(bad, score) == pytest.approx(2 * pinned_auc - 1, abs=1e-12)
    # And an independent count over pairs and cut-offs agrees.
    assert auc(bad, score) == pytest.approx(_pairs_auc(bad, score), abs=1e-12)
    assert ks(bad, score) == pytest.approx(_cut_ks(bad, score), abs=1e-12)


def test_the_small_pinned_values_by_hand() -> None:
    # 6 bads and 14 goods: 84 pairs, of which the bad scores lower in 65 and ties in 5.
    assert auc(PINNED_BAD, PINNED_SCORE) == pytest.approx((65 + 5 / 2) / 84, abs=1e-15)
    # Cut at 612: all 6 bads and 6 of 14 goods score at or below it, a gap of 4/7.
    assert ks(PINNED_BAD, PINNED_SCORE) == pytest.approx(1 - 6 / 14, abs=1e-15)


def test_evaluate_rounds_and_calibrates() -> None:
    bad = np.array(PINNED_BAD)
    probability = np.linspace(0.4, 0.01, bad.size)
    result = evaluate(bad, PINNED_SCORE, probability)
    assert result.rows == 20 and result.bad_rate == 0.3
    assert result.expected_bad_rate == pytest.approx(probability.mean())
    assert (result.auc, result.ks) == (round(PINNED_AUC, 4), round(PINNED_KS, 4))
    assert result.gini == round(2 * PINNED_AUC - 1, 4)
    by_band = result.bad_rate_by_band
    assert by_band == bad_rate_by_band(bad, PINNED_SCORE, probability)
    assert [r.count for r in by_band] == [8, 3, 2, 2, 5]
    published = np.array(PINNED_SCORE)
    for band, row in zip(BANDS, by_band, strict=True):
        inside = (published >= band.low) & (published <= band.high)
        assert row.expected_bad_rate == pytest.approx(probability[inside].mean())


def test_calibration_by_band_by_hand() -> None:
    # Ten people in 'poor', each with a 0.1 probability of bad; five went bad.
    # Expected 1 bad, variance 10 * 0.1 * 0.9 = 0.9, so z = (5 - 1) / sqrt(0.9).
    # Ten in 'excellent', each at 0.5; five went bad: as expected, z = 0.
    published = [400] * 10 + [800] * 10
    bad = [1] * 5 + [0] * 5 + [1] * 5 + [0] * 5
    probability = [0.1] * 10 + [0.5] * 10
    rows, overall = calibration_by_band(bad, published, probability)
    poor, fair, *_, excellent = rows
    assert [r.band for r in rows] == [b.name for b in BANDS]
    assert (poor.people, poor.bads, poor.observed_bad_rate) == (10, 5, 0.5)
    assert poor.expected_bad_rate == pytest.approx(0.1)
    assert poor.z == pytest.approx(4 / math.sqrt(0.9)) and poor.z > CALIBRATION_Z
    assert poor.verdict == "more bads than expected"
    assert excellent.z == pytest.approx(0.0) and excellent.verdict == "as expected"
    # A band nobody falls in has no rates and no verdict.
    assert (fair.people, fair.observed_bad_rate, fair.z, fair.verdict) == (0, None, None, None)
    assert (overall.band, overall.people, overall.bads) == ("all", 20, 10)
    assert overall.expected_bad_rate == pytest.approx(0.3)
    assert overall.z == pytest.approx((10 - 6) / math.sqrt(0.9 + 2.5))
    _, too_few = calibration_by_band([0] * 10, [400] * 10, [0.5] * 10)
    assert too_few.z == pytest.approx(-5 / math.sqrt(2.5)) and too_few.verdict == (
        "fewer bads than expected"
    )
