"""AUC, Gini, KS and bad rate by band, checked against scikit-learn and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from kaimen.domain.scores import BANDS
from kaimen.model.evaluation import auc, bad_rate_by_band, gini, ks

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
    assert [r["band"] for r in rows] == [b.name for b in BANDS]
    assert [r["count"] for r in rows] == [2, 2, 1, 0, 3]
    assert [r["bad_rate"] for r in rows] == [1.0, 0.5, 0.0, None, pytest.approx(1 / 3)]


def test_bad_rate_by_band_wants_published_scores() -> None:
    with pytest.raises(ValueError, match="350-950"):
        bad_rate_by_band(np.array([0, 1]), np.array([349, 600]))
    with pytest.raises(ValueError, match="whole"):
        bad_rate_by_band(np.array([0, 1]), np.array([600.5, 600]))
