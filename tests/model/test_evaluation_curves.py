"""The ROC and KS curves the model card draws: their area and widest gap are the AUC and KS
the registry records, and a perfect or a useless score gives the curve it must."""

from __future__ import annotations

import numpy as np
import pytest

from kaimen.model import evaluation


def _sample(seed: int = 5, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bad = (rng.random(n) < 0.2).astype(np.int64)
    # Bads score lower on average, with ties (whole scores), as published scores are.
    score = np.rint(np.clip(rng.normal(650 - 80 * bad, 70), 350, 950)).astype(np.int64)
    return bad, score


def test_the_roc_curves_area_is_the_auc_and_the_ks_charts_widest_gap_is_the_ks() -> None:
    bad, score = _sample()
    goods, bads = evaluation.roc_points(bad, score)
    assert goods[0] == 0 and bads[0] == 0 and goods[-1] == 1 and bads[-1] == 1
    assert np.all(np.diff(goods) >= 0) and np.all(np.diff(bads) >= 0)
    assert float(np.trapezoid(bads, goods)) == pytest.approx(evaluation.auc(bad, score))
    cut_offs, bad_share, good_share = evaluation.ks_points(bad, score)
    assert np.array_equal(cut_offs, np.unique(score))
    assert bad_share[-1] == 1 and good_share[-1] == 1
    assert float(np.max(np.abs(bad_share - good_share))) == pytest.approx(evaluation.ks(bad, score))
    # The share at a cut-off counts everyone scoring at or below it.
    at = int(cut_offs[len(cut_offs) // 2])
    assert bad_share[len(cut_offs) // 2] == pytest.approx((score[bad == 1] <= at).mean())


def test_a_perfect_score_and_a_useless_one() -> None:
    bad = np.array([1, 1, 0, 0, 0])
    goods, bads = evaluation.roc_points(bad, np.array([400, 410, 700, 710, 720]))
    assert float(np.trapezoid(bads, goods)) == 1.0
    _, bad_share, good_share = evaluation.ks_points(bad, np.array([500] * 5))
    assert bad_share.tolist() == [1.0] and good_share.tolist() == [1.0]
    with pytest.raises(ValueError, match="both good and bad"):
        evaluation.ks_points(np.zeros(3), np.array([400, 500, 600]))
