"""Monotone binning, weight of evidence and information value for numeric characteristics.

Algorithm (`fit_bins`):

1. Pre-bins: every distinct value when there are at most `PRE_BINS` of them, else the distinct
   values among the 1/20 ... 19/20 quantiles (actual data values, so a count that is 0 for 80%
   of people gives one pre-bin for 0 and quantile pre-bins over the rest).
2. Merge adjacent pre-bins into the partition with the largest information value such that
   a. the bad rate is strictly monotone in the required direction; so are the smoothed odds the
      WoE is computed from, so WoE, and hence points, never disagree with the bad rate;
   b. every bin holds at least `min_share` of the non-missing rows;
   c. there are at most `max_bins` bins.
   Pool-adjacent-violators merging finds *a* partition meeting (a); a small dynamic programme
   over the pre-bins (at most 20, so about 10^4 steps) finds the best one meeting all three.
   Greedy merging can fold a distinct tail away: for a count that is 0 for 90% of people,
   merging the smallest bin into its closest neighbour can end with a single bin where
   "0-1" against "2 or more" was available.
3. For "auto" both directions are fitted and the one with the larger information value wins
   (ties go to "ascending").

Intervals are right-closed: bin j holds edges[j-1] < x <= edges[j]; the last edge is +inf.
Missing values (NaN) always have their own bin.

WoE of a bin = ln(share of goods / share of bads), each share smoothed with `SMOOTHING` counts
per bin so a bin without goods or without bads has a finite WoE. Higher WoE means safer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Monotone = Literal["ascending", "descending", "auto"]
Direction = Literal["ascending", "descending"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PRE_BINS = 20
SMOOTHING = 0.5


@dataclass(frozen=True)
class CharacteristicSpec:
    """A candidate characteristic. `monotone="ascending"` means the bad rate rises with the value."""

    name: str
    dimension: str
    monotone: Monotone = "auto"


@dataclass(frozen=True)
class Bins:
    """A fitted binning. Per-bin tuples are aligned with `edges` (upper edges, last is +inf)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    bads: tuple[int, ...]
    woe: tuple[float, ...]
    missing_count: int
    missing_bads: int
    missing_woe: float
    iv: float
    direction: Direction
    # Smallest training value and whether every training value was a whole number: both only
    # shape the bin labels ("0", "1-2", "3 or more").
    minimum: float
    integer_valued: bool

    @property
    def bad_rates(self) -> tuple[float, ...]:
        """Training bad rate per bin (NaN for an empty bin, which only an all-missing fit has)."""
        return tuple(b / n if n else math.nan for b, n in zip(self.bads, self.counts, strict=True))


@dataclass(frozen=True)
class _Block:
    """A run of adjacent pre-bins: its upper edge, rows and bads."""

    edge: float
    n: int
    bad: int


def _as_values(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {array.shape}")
    return array


def _as_bad(bad: npt.ArrayLike, n: int) -> IntArray:
    array = np.asarray(bad)
    if array.shape != (n,):
        raise ValueError(f"bad has shape {array.shape}, expected ({n},)")
    if not np.isin(array, (0, 1)).all():
        raise ValueError("bad must hold only 0 and 1")
    return array.astype(np.int64)


def edges_index(edges: Sequence[float], values: npt.ArrayLike) -> IntArray:
    """Bin number of each value for right-closed `edges` (last +inf); -1 where the value is NaN."""
    x = _as_values(values)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="left").astype(np.int64)
    index[np.isnan(x)] = -1
    return index


def bin_index(bins: Bins, values: npt.ArrayLike) -> IntArray:
    """Bin number of each value; -1 where the value is missing (NaN)."""
    return edges_index(bins.edges, values)


def woe_transform(bins: Bins, values: npt.ArrayLike) -> FloatArray:
    """Each value replaced by the WoE of its bin (the missing bin's WoE for NaN)."""
    index = bin_index(bins, values)
    table = np.append(np.asarray(bins.woe, dtype=np.float64), bins.missing_woe)
    # Index -1 picks the appended missing WoE.
    return table[index]


def _pre_bins(x: FloatArray, y: IntArray) -> tuple[FloatArray, IntArray, IntArray]:
    """Upper edges (last +inf), rows and bads of the pre-bins; none of them is empty."""
    distinct = np.unique(x)
    if distinct.size <= PRE_BINS:
        cuts = distinct
    else:
        quantiles = np.linspace(0.0, 1.0, PRE_BINS + 1)[1:-1]
        # inverted_cdf returns actual data values, so heavy ties collapse into one cut.
        cuts = np.unique(np.quantile(x, quantiles, method="inverted_cdf"))
    # Every cut is a data value, so every pre-bin holds at least that value's rows.
    edges = np.append(cuts[cuts < distinct[-1]], np.inf)
    index = np.searchsorted(edges, x, side="left")
    n = np.bincount(index, minlength=edges.size).astype(np.int64)
    b = np.bincount(index, weights=y, minlength=edges.size).round().astype(np.int64)
    return edges, n, b


def _best_merge(
    edges: FloatArray,
    n: IntArray,
    b: IntArray,
    direction: Direction,
    max_bins: int,
    min_rows: float,
) -> list[_Block]:
    """The merge of adjacent pre-bins with the largest IV under the three constraints.

    Dynamic programming over "the last bin is pre-bins j..i": best[c, j, i] is the largest IV
    of c bins covering pre-bins 0..i and ending with j..i. Constraints only link neighbouring
    bins, and IV is a sum over bins, so this finds the optimum over all merges of the pre-bins
    (PAV finds one feasible merge; this finds the best one). The whole range as one bin is
    always feasible, so there is always an answer.
    """
    m = n.size
    rows_before = np.concatenate(([0], np.cumsum(n)))
    bads_before = np.concatenate(([0], np.cumsum(b)))
    # seg_*[j, i]: pre-bins j..i merged (meaningful for j <= i only).
    seg_n = (rows_before[None, 1:] - rows_before[:-1, None]).astype(np.float64)
    seg_b = (bads_before[None, 1:] - bads_before[:-1, None]).astype(np.float64)
    feasible = np.triu(np.ones((m, m), dtype=bool)) & (seg_n >= min_rows)
    feasible[0, m - 1] = True
    safe_n = np.where(feasible, seg_n, 1.0)
    seg_g = safe_n - np.where(feasible, seg_b, 0.0)
    safe_b = safe_n - seg_g
    rate = safe_b / safe_n
    # Bins are ordered by raw bad rate and by the smoothed odds their WoE is computed from;
    # both must move strictly the same way, so WoE (and points) never contradict the bad rate.
    log_odds = np.log((seg_g + SMOOTHING) / (safe_b + SMOOTHING))
    if direction == "descending":
        rate, log_odds = -rate, -log_odds
    good_share = (seg_g + SMOOTHING) / (seg_g[0, m - 1] + SMOOTHING)
    bad_share = (safe_b + SMOOTHING) / (safe_b[0, m - 1] + SMOOTHING)
    iv = np.where(feasible, (good_share - bad_share) * np.log(good_share / bad_share), -np.inf)

    best = np.full((max_bins + 1, m, m), -np.inf)
    back = np.zeros((max_bins + 1, m, m), dtype=np.int64)
    best[1, 0, :] = iv[0, :]
    for c in range(2, max_bins + 1):
        for j in range(1, m):
            before = best[c - 1, :j, j - 1]  # over the previous bin's first pre-bin
            if not np.isfinite(before).any():
                continue
            allowed = (
                np.isfinite(before)[:, None]
                & (rate[:j, j - 1, None] < rate[None, j, j:])
                & (log_odds[:j, j - 1, None] > log_odds[None, j, j:])
            )
            options = np.where(allowed, before[:, None], -np.inf)
            pick = options.argmax(axis=0)
            best[c, j, j:] = options[pick, np.arange(m - j)] + iv[j, j:]
            back[c, j, j:] = pick

    # Fewest bins among equals: c ascending and a strict comparison.
    score, bins_used, start = -np.inf, 1, 0
    for c in range(1, max_bins + 1):
        j = int(best[c, :, m - 1].argmax())
        if best[c, j, m - 1] > score:
            score, bins_used, start = float(best[c, j, m - 1]), c, j
    blocks: list[_Block] = []
    end = m - 1
    for c in range(bins_used, 0, -1):
        blocks.append(_Block(float(edges[end]), int(seg_n[start, end]), int(seg_b[start, end])))
        start, end = int(back[c, start, end]), start - 1
    return blocks[::-1]


def _woe_and_iv(
    goods: FloatArray, bads: FloatArray, total_goods: float, total_bads: float
) -> tuple[FloatArray, float]:
    k = goods.size
    good_share = (goods + SMOOTHING) / (total_goods + SMOOTHING * k)
    bad_share = (bads + SMOOTHING) / (total_bads + SMOOTHING * k)
    woe = np.log(good_share / bad_share)
    return woe, float(np.sum((good_share - bad_share) * woe))


def _build(
    blocks: list[_Block],
    missing_n: int,
    missing_bad: int,
    direction: Direction,
    minimum: float,
    integer_valued: bool,
) -> Bins:
    counts = np.array([b.n for b in blocks] + [missing_n], dtype=np.float64)
    bads = np.array([b.bad for b in blocks] + [missing_bad], dtype=np.float64)
    goods = counts - bads
    # An empty bin (the missing bin, usually) takes no part in the smoothing and keeps WoE 0.
    used = counts > 0
    woe = np.zeros(counts.size)
    woe[used], iv = _woe_and_iv(goods[used], bads[used], goods.sum(), bads.sum())
    return Bins(
        edges=tuple(b.edge for b in blocks),
        counts=tuple(b.n for b in blocks),
        bads=tuple(b.bad for b in blocks),
        woe=tuple(float(w) for w in woe[:-1]),
        missing_count=missing_n,
        missing_bads=missing_bad,
        missing_woe=float(woe[-1]),
        iv=iv,
        direction=direction,
        minimum=minimum,
        integer_valued=integer_valued,
    )


def fit_bins(
    values: npt.ArrayLike,
    bad: npt.ArrayLike,
    monotone: Monotone,
    max_bins: int = 8,
    min_share: float = 0.05,
) -> Bins:
    """Monotone bins of `values` (NaN = missing) against `bad` (1 = bad); see the module doc."""
    if monotone not in ("ascending", "descending", "auto"):
        raise ValueError(f"monotone must be ascending, descending or auto, not {monotone!r}")
    if max_bins < 1:
        raise ValueError("max_bins must be at least 1")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError("min_share must be between 0 and 1")
    x = _as_values(values)
    y = _as_bad(bad, x.size)
    missing = np.isnan(x)
    missing_n, missing_bad = int(missing.sum()), int(y[missing].sum())
    x, y = x[~missing], y[~missing]
    if x.size == 0:
        # Nothing to bin: one empty bin (WoE 0) beside the missing bin, no information.
        direction: Direction = "ascending" if monotone == "auto" else monotone
        return _build([_Block(math.inf, 0, 0)], missing_n, missing_bad, direction, -math.inf, False)
    minimum = float(x.min())
    integer_valued = bool(np.isfinite(x).all() and (x == np.floor(x)).all())
    edges, n, b = _pre_bins(x, y)
    min_rows = min_share * x.size
    directions: tuple[Direction, ...] = (
        ("ascending", "descending") if monotone == "auto" else (monotone,)
    )
    fits = [
        _build(
            _best_merge(edges, n, b, d, max_bins, min_rows),
            missing_n,
            missing_bad,
            d,
            minimum,
            integer_valued,
        )
        for d in directions
    ]
    # max() keeps the first of equal IVs, so ties go to "ascending".
    return max(fits, key=lambda fit: fit.iv)


def _number_format(edges: Sequence[float]) -> str:
    """The fewest significant digits (at least 3) that still tell every edge apart."""
    finite = [e for e in edges if math.isfinite(e)]
    for digits in range(3, 18):
        if len({f"{e:.{digits}g}" for e in finite}) == len(finite):
            return f".{digits}g"
    return ".17g"


def bin_labels(bins: Bins) -> tuple[str, ...]:
    """Person-readable label per bin: "0", "1-2", "3 or more" for whole numbers, else ranges."""
    k = len(bins.edges)
    if k == 1:
        return ("any value",)
    labels: list[str] = []
    if bins.integer_valued:
        for j, edge in enumerate(bins.edges):
            low = math.ceil(bins.minimum) if j == 0 else math.floor(bins.edges[j - 1]) + 1
            if j == k - 1:
                labels.append(f"{low} or more")
                continue
            high = math.floor(edge)
            if low == high:
                labels.append(f"{low}")
            else:
                labels.append(f"{low} to {high}" if low < 0 else f"{low}-{high}")
        return tuple(labels)
    spec = _number_format(bins.edges)
    for j, edge in enumerate(bins.edges):
        if j == 0:
            labels.append(f"{edge:{spec}} or less")
        elif j == k - 1:
            labels.append(f"more than {bins.edges[j - 1]:{spec}}")
        else:
            labels.append(f"more than {bins.edges[j - 1]:{spec}} up to {edge:{spec}}")
    return tuple(labels)


def select(
    candidates: Mapping[str, tuple[Bins, npt.ArrayLike]],
    min_iv: float = 0.02,
    max_correlation: float = 0.8,
) -> list[str]:
    """Names worth modelling, highest IV first.

    `candidates` maps a name to its bins and the raw values they were fitted on. A name is
    dropped when its IV is below `min_iv`, or when its WoE values correlate (|Pearson r|)
    above `max_correlation` with a name already kept; names are visited by IV, highest first,
    so of a correlated pair the higher IV survives. Equal IVs are visited by name.
    """
    ranked = sorted(
        (name for name, (bins, _) in candidates.items() if bins.iv >= min_iv),
        key=lambda name: (-candidates[name][0].iv, name),
    )
    kept: list[str] = []
    kept_woe: list[FloatArray] = []
    for name in ranked:
        bins, values = candidates[name]
        woe = woe_transform(bins, values)
        if any(_abs_correlation(woe, other) > max_correlation for other in kept_woe):
            continue
        kept.append(name)
        kept_woe.append(woe)
    return kept


def _abs_correlation(a: FloatArray, b: FloatArray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float(a @ a) * float(b @ b))
    # A constant column carries no information, so it correlates with nothing.
    return abs(float(a @ b)) / scale if scale > 0 else 0.0
