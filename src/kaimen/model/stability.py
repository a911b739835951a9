"""Population stability: does a month's population still look like the one a model was
trained on?

PSI = sum over bins of (a - e) * ln(a / e), with e and a the shares of the training data and
of the month in each bin.

- **Score**: binned on the five published bands, against the training rows' band counts.
- **Characteristics** of a scorecard: binned on the card's own bins plus the missing bin,
  against the training counts the card stores.
- **Small counts**: a share below PSI_EPSILON counts as PSI_EPSILON, so a bin empty on one side
  gives a large but finite term.
- **Levels**: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from kaimen.domain.model_metrics import BandOutcome
from kaimen.domain.records import FrozenRecord
from kaimen.domain.scores import BANDS
from kaimen.model.evaluation import band_index
from kaimen.model.scorecard import MISSING_LABEL, Scorecard

FloatArray = npt.NDArray[np.float64]
Level = Literal["stable", "watch", "act"]

PSI_EPSILON = 1e-4
STABLE_BELOW = 0.1
ACT_ABOVE = 0.25
LEVELS: tuple[Level, ...] = ("stable", "watch", "act")


class StabilityBin(FrozenRecord):
    label: str
    training_count: int
    training_share: float
    month_count: int
    month_share: float
    psi_term: float


class StabilityItem(FrozenRecord):
    """The PSI of one item (the score or a characteristic), its level and its bins."""

    item: str
    psi: float
    level: Level
    bins: tuple[StabilityBin, ...]


def psi_terms(expected_counts: npt.ArrayLike, actual_counts: npt.ArrayLike) -> FloatArray:
    """Each bin's term (a - e) * ln(a / e) of the PSI, shares floored at PSI_EPSILON."""
    e = np.asarray(expected_counts, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    if e.ndim != 1 or e.shape != a.shape or e.size == 0:
        raise ValueError(f"counts {e.shape} and {a.shape} must be 1-D, equal and non-empty")
    if (e < 0).any() or (a < 0).any():
        raise ValueError("counts must not be negative")
    if e.sum() == 0 or a.sum() == 0:
        raise ValueError("each distribution needs at least one count")
    e_share = np.maximum(e / e.sum(), PSI_EPSILON)
    a_share = np.maximum(a / a.sum(), PSI_EPSILON)
    terms: FloatArray = (a_share - e_share) * np.log(a_share / e_share)
    return terms


def population_stability_index(
    expected_counts: npt.ArrayLike, actual_counts: npt.ArrayLike
) -> float:
    """PSI of `actual_counts` against `expected_counts` (same bins); 0 for equal shares."""
    return float(psi_terms(expected_counts, actual_counts).sum())


def alert_level(psi: float) -> Level:
    """Below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act."""
    if psi < STABLE_BELOW:
        return "stable"
    return "watch" if psi <= ACT_ABOVE else "act"


def worst_level(levels: Iterable[Level]) -> Level | None:
    """The most alarming of `levels`; None when there are none."""
    return max(levels, key=LEVELS.index, default=None)


def stability_item(
    name: str, labels: Sequence[str], expected: Sequence[int], actual: Sequence[int]
) -> StabilityItem:
    """The PSI of `actual` counts against `expected` ones, bin by bin."""
    terms = psi_terms(expected, actual)
    total_e, total_a = sum(expected), sum(actual)
    psi = float(terms.sum())
    return StabilityItem(
        item=name,
        psi=psi,
        level=alert_level(psi),
        bins=tuple(
            StabilityBin(
                label=label,
                training_count=int(e),
                training_share=e / total_e,
                month_count=int(a),
                month_share=a / total_a,
                psi_term=float(t),
            )
            for label, e, a, t in zip(labels, expected, actual, terms.tolist(), strict=True)
        ),
    )


def score_stability(
    training_bands: Sequence[BandOutcome], published: npt.ArrayLike
) -> StabilityItem:
    """The published scores' bands against the training rows' band counts."""
    by_name = {r.band: r.count for r in training_bands}
    expected = [by_name.get(b.name, 0) for b in BANDS]
    actual = np.bincount(band_index(published), minlength=len(BANDS)).tolist()
    labels = [f"{b.name} ({b.low}-{b.high})" for b in BANDS]
    return stability_item("score", labels, expected, actual)


def characteristic_stability(
    card: Scorecard, values: Mapping[str, FloatArray]
) -> tuple[StabilityItem, ...]:
    """Each characteristic on `card`, its bins and missing bin, against its training counts."""
    items = []
    for c in card.characteristics:
        k = len(c.edges)
        index = c.bin_index(values[c.name])
        # The missing bin (-1) goes last, as it is listed on the card.
        actual = np.bincount(np.where(index < 0, k, index), minlength=k + 1)
        items.append(
            stability_item(
                c.name,
                [*c.labels, MISSING_LABEL],
                [*c.counts, c.missing_count],
                actual.tolist(),
            )
        )
    return tuple(items)
