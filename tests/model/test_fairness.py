"""The fairness figures: AUC and calibration within a group, approval at each cut-off, the
impact ratio against the best-approved group with the four-fifths rule, and suppression."""

from __future__ import annotations

import numpy as np
import pytest

from kaimen.model.fairness import Cutoff, FairnessFigures, fairness_figures

CUTOFFS = [Cutoff(name="loan", score=600)]


def _figures(min_group: int = 10) -> FairnessFigures:
    # 40 women, 40 men and 5 people of a third group; scores spread so each group ranks well.
    rng = np.random.default_rng(7)
    women = rng.integers(500, 800, 40)
    men = rng.integers(550, 900, 40)
    few = rng.integers(500, 900, 5)
    score = np.concatenate([women, men, few])
    bad = (score < 620).astype(np.int64)
    bad[[0, 41]] = 1 - bad[[0, 41]]  # not perfectly separated
    probability = np.full(len(score), bad.mean())
    sex = ["female"] * 40 + ["male"] * 40 + ["other"] * 5
    return fairness_figures(
        bad, score, probability, {"sex": sex}, CUTOFFS, min_group, {"sex": ["female", "male"]}
    )


def test_groups_in_order_with_figures_and_ratios() -> None:
    figures = _figures()
    women, men, _ = figures.groups
    assert [g.group for g in figures.groups] == ["female", "male", "other"]
    assert women.people == 40 and men.people == 40
    assert women.auc is not None and women.auc > 0.8
    best = max(women.approvals[0].approval_rate, men.approvals[0].approval_rate)
    for g in (women, men):
        approval = g.approvals[0]
        assert approval.impact_ratio == pytest.approx(approval.approval_rate / best)
        assert approval.below_four_fifths == (approval.impact_ratio < 0.8)


def test_a_small_group_is_suppressed_and_never_the_reference() -> None:
    figures = _figures()
    other = figures.groups[2]
    assert other.suppressed and other.people is None and other.approvals == ()
    assert figures.suppressed == 1
    shown = [g.approvals[0].impact_ratio for g in figures.groups if not g.suppressed]
    assert max(r for r in shown if r is not None) == pytest.approx(1.0)


def test_four_fifths_rule_is_flagged() -> None:
    score = np.array([700] * 50 + [700] * 20 + [500] * 30)
    bad = np.array([0, 1] * 50)
    sex = ["female"] * 50 + ["male"] * 50
    figures = fairness_figures(bad, score, np.full(100, 0.5), {"sex": sex}, CUTOFFS, 10)
    women, men = figures.groups
    assert women.approvals[0].approval_rate == 1.0 and men.approvals[0].approval_rate == 0.4
    assert men.approvals[0].impact_ratio == pytest.approx(0.4)
    assert men.approvals[0].below_four_fifths and not women.approvals[0].below_four_fifths
    assert any("male" in f and "four fifths" in f for f in figures.findings)


def test_calibration_within_a_group() -> None:
    # Everyone predicted 10% bad; half of the women go bad: flagged as more than expected.
    score = np.full(200, 650)
    bad = np.array([1, 0] * 50 + [0] * 90 + [1] * 10)
    sex = ["female"] * 100 + ["male"] * 100
    figures = fairness_figures(bad, score, np.full(200, 0.1), {"sex": sex}, [], 10)
    women, men = figures.groups
    assert women.observed_bad_rate == 0.5 and women.predicted_bad_rate == pytest.approx(0.1)
    assert women.calibration == "more bads than expected"
    assert men.calibration == "as expected" and men.calibration_z == pytest.approx(0.0)
    # Every score equal: AUC is a coin's.
    assert women.auc == pytest.approx(0.5)


def test_auc_is_undefined_when_nobody_went_bad() -> None:
    figures = fairness_figures(
        np.zeros(20), np.arange(20) + 600, np.full(20, 0.05), {"sex": ["female"] * 20}, [], 5
    )
    assert figures.groups[0].auc is None


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="min_group"):
        fairness_figures([0], [600], [0.1], {"sex": ["male"]}, [], 0)
    with pytest.raises(ValueError, match="one label per person"):
        fairness_figures([0, 1], [600, 500], [0.1, 0.2], {"sex": ["male"]}, [], 1)
