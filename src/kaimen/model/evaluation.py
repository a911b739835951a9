"""Discrimination and calibration measures for scores where higher means safer.

AUC and KS come from scikit-learn, with bad as the positive class and the negated score as its
predictor (a low score predicts bad). Calibration compares, per band of the published score,
the share who went bad with the mean probability of bad the model gave them.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from kaimen.domain.model_metrics import BandOutcome, Evaluation
from kaimen.domain.records import FrozenRecord
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Verdict = Literal["more bads than expected", "fewer bads than expected", "as expected"]

# |z| above this: observed bads differ from expected by more than chance explains (95%).
CALIBRATION_Z = 1.96


def _inputs(bad: npt.ArrayLike, score: npt.ArrayLike) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    y = np.asarray(bad)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"bad {y.shape} and score {s.shape} must be 1-D of equal length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("bad must hold only 0 and 1")
    if np.isnan(s).any():
        raise ValueError("scores must not be NaN")
    is_bad = y.astype(bool)
    if is_bad.all() or not is_bad.any():
        raise ValueError("needs both good and bad outcomes")
    return is_bad, s


def auc(bad: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve for telling bads by a low score (ties count half): the chance
    a random bad scores below a random good."""
    is_bad, s = _inputs(bad, score)
    # scikit-learn is imported where a model is judged, not by everything that imports this
    # module (a server importing it paid for the whole library).
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_bad, -s))


def gini(bad: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """2 * AUC - 1."""
    return 2.0 * auc(bad, score) - 1.0


def ks(bad: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score distributions of bads and goods.

    The ROC curve's true and false positive rates at a cut-off are the shares of bads and of
    goods scoring at or below it; its thresholds are the distinct scores, since a cut-off cannot
    separate people with the same score. Every point is kept (`drop_intermediate=False`).
    """
    is_bad, s = _inputs(bad, score)
    from sklearn.metrics import roc_curve  # see auc

    good_share, bad_share, _ = roc_curve(is_bad, -s, drop_intermediate=False)
    return float(np.max(np.abs(good_share - bad_share)))


def band_index(published: npt.ArrayLike) -> IntArray:
    """Index into BANDS of each published score."""
    lows = np.array([b.low for b in BANDS[1:]], dtype=np.int64)
    index: IntArray = np.searchsorted(lows, np.asarray(published, dtype=np.int64), side="right")
    return index


def bad_rate_by_band(
    bad: npt.ArrayLike,
    published_scores: npt.ArrayLike,
    probability_of_bad: npt.ArrayLike | None = None,
) -> tuple[BandOutcome, ...]:
    """Count and bad rate per domain band (in BANDS order) of published (clipped) scores, and,
    given each person's probability of bad, the band's expected bad rate (their mean)."""
    y = np.asarray(bad)
    s = np.asarray(published_scores)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"bad {y.shape} and scores {s.shape} must be 1-D of equal length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("bad must hold only 0 and 1")
    if not np.array_equal(s, np.round(s)):
        raise ValueError("published scores are whole numbers")
    if s.size and (s.min() < SCORE_MIN or s.max() > SCORE_MAX):
        raise ValueError(f"published scores must lie in {SCORE_MIN}-{SCORE_MAX}")
    rows: list[BandOutcome] = []
    for band in BANDS:
        inside = (s >= band.low) & (s <= band.high)
        count = int(inside.sum())
        bad_rate = float(y[inside].mean()) if count else None
        if probability_of_bad is None:
            rows.append(BandOutcome(band=band.name, count=count, bad_rate=bad_rate))
            continue
        expected = np.asarray(probability_of_bad, dtype=np.float64)[inside]
        rows.append(
            BandOutcome(
                band=band.name,
                count=count,
                bad_rate=bad_rate,
                expected_bad_rate=float(expected.mean()) if count else None,
            )
        )
    return tuple(rows)


def evaluate(
    bad: npt.ArrayLike, published_scores: npt.ArrayLike, probability_of_bad: npt.ArrayLike
) -> Evaluation:
    """AUC, KS and Gini of the published scores (rounded to 4 places), and observed against
    expected bad rate overall and per band."""
    y = np.asarray(bad, dtype=np.int64)
    p = np.asarray(probability_of_bad, dtype=np.float64)
    area = auc(y, published_scores)
    return Evaluation(
        rows=int(y.size),
        bad_rate=float(y.mean()) if y.size else 0.0,
        expected_bad_rate=float(p.mean()) if y.size else 0.0,
        auc=round(area, 4),
        ks=round(ks(y, published_scores), 4),
        gini=round(2 * area - 1, 4),
        bad_rate_by_band=bad_rate_by_band(y, published_scores, p),
    )


class Calibration(FrozenRecord):
    """Observed against expected bads in one band (or `all`), and whether chance explains the
    difference: z is (bads - expected) over the standard deviation of the bads."""

    band: str
    people: int
    bads: int
    observed_bad_rate: float | None
    expected_bad_rate: float | None
    z: float | None
    verdict: Verdict | None


def _verdict(z: float | None) -> Verdict | None:
    if z is None:
        return None
    if z > CALIBRATION_Z:
        return "more bads than expected"
    return "fewer bads than expected" if z < -CALIBRATION_Z else "as expected"


def _calibration(
    band: str, people: int, bads: float, expected: float, variance: float
) -> Calibration:
    z = (bads - expected) / math.sqrt(variance) if variance > 0 else None
    return Calibration(
        band=band,
        people=people,
        bads=int(bads),
        observed_bad_rate=bads / people if people else None,
        expected_bad_rate=expected / people if people else None,
        z=z,
        verdict=_verdict(z),
    )


def calibration_by_band(
    bad: npt.ArrayLike, published_scores: npt.ArrayLike, probability_of_bad: npt.ArrayLike
) -> tuple[tuple[Calibration, ...], Calibration]:
    """Observed against expected bads per band (in BANDS order), and over everyone."""
    y = np.asarray(bad, dtype=np.float64)
    p = np.asarray(probability_of_bad, dtype=np.float64)
    band = band_index(published_scores)
    k = len(BANDS)
    people = np.bincount(band, minlength=k)
    bads = np.bincount(band, weights=y, minlength=k)
    expected_bads = np.bincount(band, weights=p, minlength=k)
    # Bads are a sum of independent Bernoulli(p_i): variance sum p_i (1 - p_i).
    variance = np.bincount(band, weights=p * (1 - p), minlength=k)
    rows = tuple(
        _calibration(b.name, int(n), float(o), float(e), float(v))
        for b, n, o, e, v in zip(BANDS, people, bads, expected_bads, variance, strict=True)
    )
    overall = _calibration(
        "all", int(people.sum()), float(y.sum()), float(p.sum()), float(variance.sum())
    )
    return rows, overall


def roc_points(bad: npt.ArrayLike, score: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The ROC curve of telling bads by a low score: at each cut-off (a distinct score), the
    share of goods (false positives) and of bads (true positives) scoring at or below it,
    from (0, 0) to (1, 1). Collinear points are dropped: the curve, and its area, are kept."""
    is_bad, s = _inputs(bad, score)
    from sklearn.metrics import roc_curve  # see auc

    good_share, bad_share, _ = roc_curve(is_bad, -s, drop_intermediate=True)
    return good_share.astype(np.float64), bad_share.astype(np.float64)


def ks_points(bad: npt.ArrayLike, score: npt.ArrayLike) -> tuple[IntArray, FloatArray, FloatArray]:
    """The KS chart: each distinct score, and the shares of bads and of goods scoring at or
    below it. KS is the largest gap between the two (`ks`)."""
    is_bad, s = _inputs(bad, score)
    cut_offs = np.unique(s)
    bad_scores, good_scores = np.sort(s[is_bad]), np.sort(s[~is_bad])
    bad_share = np.searchsorted(bad_scores, cut_offs, side="right") / bad_scores.size
    good_share = np.searchsorted(good_scores, cut_offs, side="right") / good_scores.size
    return cut_offs.astype(np.int64), bad_share.astype(np.float64), good_share.astype(np.float64)
