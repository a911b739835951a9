"""A synthetic population whose risk we control, and scorecards trained on it (cached)."""

from __future__ import annotations

import functools
import math

import numpy as np

from kaimen.domain.scores import Dimension
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.scorecard import Scorecard, fit_scorecard

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


EMPLOYMENT_RISK = {
    "civil servant": -1.2,
    "salaried": -0.6,
    "retired": -0.3,
    "self-employed": 0.3,
    "student": 0.8,
    "unemployed": 1.5,
}
MIXED_SPECS = [
    CharacteristicSpec("late_payments", Dimension.CREDIT_HISTORY, "ascending"),
    CharacteristicSpec("employment", Dimension.CAPACITY, kind="categorical"),
    CharacteristicSpec("housing", Dimension.IDENTITY, kind="categorical"),
    CharacteristicSpec("grade", Dimension.BEHAVIOUR, kind="categorical"),
    CharacteristicSpec("star_sign", Dimension.IDENTITY, kind="categorical"),
]


def mixed(n: int, seed: int) -> tuple[Features, np.ndarray]:
    """Numbers and categories: employment and housing carry risk, grades are integer codes,
    star signs are noise; blanks (None and NaN) and a few rare categories are mixed in."""
    rng = np.random.default_rng(seed)
    employment = rng.choice(list(EMPLOYMENT_RISK), size=n).astype(object)
    z = rng.normal(size=n) + np.array([EMPLOYMENT_RISK[e] for e in employment])
    bad = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.1 * z)))).astype(np.int64)
    employment[:8] = "astronaut"  # rare (under RARE_ROWS), pooled with the other rare one
    employment[8:18] = "lion tamer"
    housing = np.where(z + rng.normal(size=n) > 0.5, "rent", "own").astype(object)
    housing[rng.random(n) < np.where(z > 1, 0.25, 0.03)] = None  # the riskier skip it more
    housing[rng.random(n) < 0.01] = math.nan
    grade = np.clip(np.round(2 + z + rng.normal(size=n)), 0, 4).astype(np.int64).astype(object)
    features: Features = {
        "late_payments": rng.poisson(np.exp(0.6 * z - 1.5)).astype(np.float64),
        "employment": employment,
        "housing": housing,
        "grade": grade,
        "star_sign": rng.choice(["aries", "leo", "virgo", "libra"], size=n).astype(object),
    }
    return features, bad


@functools.cache
def trained_mixed() -> Scorecard:
    features, bad = mixed(20_000, seed=1)
    return fit_scorecard(features, bad, MIXED_SPECS, version="mixed-1", training={})
