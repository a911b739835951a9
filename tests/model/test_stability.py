"""Population stability: PSI on hand-computable counts, the small-share floor, the alert
levels, and the score's and a card's characteristics' stability items."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kaimen.domain.model_metrics import BandOutcome
from kaimen.domain.scores import BANDS
from kaimen.model.scorecard import Characteristic, Scorecard
from kaimen.model.stability import (
    ACT_ABOVE,
    PSI_EPSILON,
    STABLE_BELOW,
    alert_level,
    characteristic_stability,
    population_stability_index,
    psi_terms,
    score_stability,
    stability_item,
    worst_level,
)

# -- the measure (moved here from tests/scoring/test_monitoring.py with the maths) -----------


def test_psi_of_identical_distributions_is_zero() -> None:
    assert population_stability_index([10, 20, 30, 0], [10, 20, 30, 0]) == 0.0
    # Shares, not counts, are compared: ten times the people in the same shares is no shift.
    assert population_stability_index([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0, abs=1e-15)
    assert alert_level(0.0) == "stable"


def test_psi_of_a_known_shift_equals_the_hand_computed_value() -> None:
    # Training 25% in each of four bins; the month 10%, 20%, 30%, 40%.
    # PSI = (.10-.25) ln(.10/.25) + (.20-.25) ln(.20/.25) + (.30-.25) ln(.30/.25)
    #     + (.40-.25) ln(.40/.25) = .15 ln 2.5 + .05 ln 1.25 + .05 ln 1.2 + .15 ln 1.6
    by_hand = 0.15 * math.log(2.5) + 0.05 * math.log(1.25) + 0.05 * math.log(1.2)
    by_hand += 0.15 * math.log(1.6)
    psi = population_stability_index([250, 250, 250, 250], [100, 200, 300, 400])
    assert psi == pytest.approx(by_hand, rel=1e-12)
    assert round(psi, 4) == 0.2282
    assert alert_level(psi) == "watch"
    terms = psi_terms([250, 250, 250, 250], [100, 200, 300, 400])
    assert terms[0] == pytest.approx(0.15 * math.log(2.5)) and (terms >= 0).all()


def test_an_empty_bin_gives_a_large_but_finite_psi() -> None:
    # The training bin that was empty counts as a share of PSI_EPSILON.
    psi = population_stability_index([100, 0], [50, 50])
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert psi == pytest.approx(by_hand, rel=1e-12)
    assert math.isfinite(psi) and alert_level(psi) == "act"


def test_alert_levels_at_their_boundaries() -> None:
    assert [alert_level(v) for v in (0.0999, 0.1, 0.25, 0.2501)] == [
        "stable",
        "watch",
        "watch",
        "act",
    ]


@pytest.mark.parametrize(
    ("expected", "actual"),
    [([1, 2], [1, 2, 3]), ([1, -1], [1, 1]), ([0, 0], [1, 1]), ([], [])],
)
def test_psi_refuses_counts_it_cannot_compare(expected: list[int], actual: list[int]) -> None:
    with pytest.raises(ValueError):
        population_stability_index(expected, actual)


# -- more of the measure --------------------------------------------------------------------


def test_psi_of_a_two_bin_swap_by_hand() -> None:
    # 80/20 against 20/80: both terms are 0.6 ln 4, so PSI = 1.2 ln 4.
    terms = psi_terms([80, 20], [20, 80])
    assert terms.tolist() == pytest.approx([0.6 * math.log(4), 0.6 * math.log(4)], rel=1e-12)
    assert population_stability_index([80, 20], [20, 80]) == pytest.approx(1.2 * math.log(4))
    # PSI is symmetric: swapping training and month gives the same value.
    assert population_stability_index([20, 80], [80, 20]) == pytest.approx(1.2 * math.log(4))


def test_shares_below_the_floor_count_as_the_floor() -> None:
    assert PSI_EPSILON == 0.0001
    # One in 100,000 is a share of 0.00001, below the floor: its bin's term is computed with
    # 0.0001, exactly as an empty bin's is.
    floored = (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert psi_terms([99_999, 1], [50_000, 50_000])[1] == pytest.approx(floored, rel=1e-12)
    assert psi_terms([100_000, 0], [50_000, 50_000])[1] == pytest.approx(floored, rel=1e-12)
    # Unfloored, the term would be (0.5 - 0.00001) ln(0.5 / 0.00001), much larger.
    assert floored < (0.5 - 1e-5) * math.log(0.5 / 1e-5) - 1
    # Both bins empty on one side each: every term is finite.
    terms = psi_terms([100, 0], [0, 100])
    floor_term = (1 - PSI_EPSILON) * math.log(1 / PSI_EPSILON)
    assert terms.tolist() == pytest.approx([floor_term, floor_term], rel=1e-12)
    # A share at the floor itself is kept as it is.
    at_floor = psi_terms([9_999, 1], [5_000, 5_000])
    assert at_floor[1] == pytest.approx((0.5 - 0.0001) * math.log(0.5 / 0.0001), rel=1e-12)


def test_the_levels_are_cut_at_0_1_and_0_25() -> None:
    assert (STABLE_BELOW, ACT_ABOVE) == (0.1, 0.25)
    # 0.1 itself is watch and 0.25 itself is still watch; only above 0.25 is act.
    assert alert_level(math.nextafter(0.1, 0.0)) == "stable"
    assert alert_level(0.1) == "watch"
    assert alert_level(0.25) == "watch"
    assert alert_level(math.nextafter(0.25, 1.0)) == "act"
    assert worst_level(["stable", "act", "watch"]) == "act"
    assert worst_level(["stable", "watch"]) == "watch"
    assert worst_level([]) is None


def test_a_stability_item_lists_each_bin() -> None:
    item = stability_item("x", ["low", "high"], [75, 25], [50, 50])
    assert (item.item, item.level) == ("x", "act")
    # (0.5 - 0.75) ln(0.5 / 0.75) + (0.5 - 0.25) ln(0.5 / 0.25) = 0.25 ln 1.5 + 0.25 ln 2
    assert item.psi == pytest.approx(0.25 * math.log(1.5) + 0.25 * math.log(2), rel=1e-12)
    assert [b.label for b in item.bins] == ["low", "high"]
    assert [(b.training_count, b.training_share) for b in item.bins] == [(75, 0.75), (25, 0.25)]
    assert [(b.month_count, b.month_share) for b in item.bins] == [(50, 0.5), (50, 0.5)]
    assert sum(b.psi_term for b in item.bins) == pytest.approx(item.psi)


def test_the_score_is_compared_on_the_five_bands() -> None:
    training = [BandOutcome(band=b.name, count=100, bad_rate=0.1) for b in BANDS]
    # Two people in each band: the same shares as training.
    published = [s for b in BANDS for s in (b.low, b.high)]
    item = score_stability(training, published)
    assert item.item == "score" and item.psi == pytest.approx(0.0, abs=1e-15)
    assert [b.label for b in item.bins] == [f"{b.name} ({b.low}-{b.high})" for b in BANDS]
    assert [b.month_count for b in item.bins] == [2] * len(BANDS)
    # A band missing from training counts 0 there.
    item = score_stability(training[1:], published)
    assert item.bins[0].training_count == 0 and item.level == "act"


def _card() -> Scorecard:
    late = Characteristic(
        name="late_repayments_12m",
        dimension="credit_history",
        direction="descending",
        edges=(0.0, 2.0, math.inf),
        labels=("0", "1-2", "3+"),
        points=(60, 40, 10),
        missing_points=30,
        coefficient=1.0,
        woe=(0.5, 0.0, -1.0),
        missing_woe=0.0,
        counts=(50, 30, 20),
        bads=(1, 3, 6),
        missing_count=0,
        missing_bads=0,
        iv=0.4,
    )
    return Scorecard(version="t", characteristics=(late,), intercept=0.0, training={})


def test_a_characteristic_is_compared_on_its_bins_and_its_missing_bin() -> None:
    values = np.array([0, 0, 1, 2, 3, 5, np.nan, np.nan], dtype=np.float64)
    (item,) = characteristic_stability(_card(), {"late_repayments_12m": values})
    assert item.item == "late_repayments_12m"
    assert [b.label for b in item.bins] == ["0", "1-2", "3+", "missing"]
    assert [b.month_count for b in item.bins] == [2, 2, 2, 2]
    assert [b.training_count for b in item.bins] == [50, 30, 20, 0]
    assert item.psi == pytest.approx(
        population_stability_index([50, 30, 20, 0], [2, 2, 2, 2]), rel=1e-12
    )
