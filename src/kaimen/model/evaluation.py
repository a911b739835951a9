"""Discrimination and calibration measures for scores where higher means safer."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt

from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN

FloatArray = npt.NDArray[np.float64]


class BandRow(TypedDict):
    band: str
    count: int
    bad_rate: float | None  # None for a band nobody falls in


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


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    # A group of c equal values occupies ranks start+1 ... start+c; their mean is start+(c+1)/2.
    starts = np.cumsum(counts) - counts
    mean_rank = starts + (counts + 1) / 2.0
    ranks: FloatArray = mean_rank[inverse]
    return ranks


def auc(bad: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve for telling bads by a low score (ties count half).

    Mann-Whitney: the chance a random bad scores below a random good.
    """
    is_bad, s = _inputs(bad, score)
    ranks = _average_ranks(-s)
    n_bad = int(is_bad.sum())
    n_good = is_bad.size - n_bad
    u = float(ranks[is_bad].sum()) - n_bad * (n_bad + 1) / 2.0
    return u / (n_bad * n_good)


def gini(bad: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """2 * AUC - 1."""
    return 2.0 * auc(bad, score) - 1.0


def ks(bad: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score distributions of bads and goods."""
    is_bad, s = _inputs(bad, score)
    order = np.argsort(s, kind="stable")
    s, is_bad = s[order], is_bad[order]
    # Compare the cumulative shares only after the last of a run of equal scores, since a
    # cut-off cannot separate people with the same score.
    last_of_value = np.append(s[1:] != s[:-1], True)
    bad_share = np.cumsum(is_bad)[last_of_value] / is_bad.sum()
    good_share = np.cumsum(~is_bad)[last_of_value] / (~is_bad).sum()
    return float(np.max(np.abs(bad_share - good_share)))


def bad_rate_by_band(bad: npt.ArrayLike, published_scores: npt.ArrayLike) -> list[BandRow]:
    """Count and bad rate per domain band (in BANDS order) of published (clipped) scores."""
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
    rows: list[BandRow] = []
    for band in BANDS:
        inside = (s >= band.low) & (s <= band.high)
        count = int(inside.sum())
        rows.append(
            BandRow(
                band=band.name,
                count=count,
                bad_rate=float(y[inside].mean()) if count else None,
            )
        )
    return rows
