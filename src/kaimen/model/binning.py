"""Monotone binning, weight of evidence and information value for numeric characteristics.

Algorithm (`fit_bins`):

1. Pre-bins: every distinct value when there are at most `PRE_BINS` of them, else the distinct
   values among the 1/20 ... 19/20 quantiles (actual data values, so a count that is 0 for 80%
   of people gives one pre-bin for 0 and quantile pre-bins over the rest).
2. Merge adjacent bins, repeating until nothing changes:
   a. pool adjacent violators (a left-to-right stack) until the bad rate is strictly monotone in
      the required direction; the smoothed odds that the WoE is computed from must be strictly
      monotone too, so WoE, and hence points, can never disagree with the bad rate;
   b. fold the smallest bin under `min_share` of the non-missing rows into the neighbour with
      the closer WoE;
   c. while there are more than `max_bins` bins, merge the adjacent pair with the closest WoE.
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


@dataclass
class _Block:
    edge: float
    n: int
    bad: int

    @property
    def rate(self) -> float:
        return self.bad / self.n

    @property
    def log_odds_good(self) -> float:
        # The WoE up to a constant shared by all bins: ordering bins by this orders their WoE.
        return math.log((self.n - self.bad + SMOOTHING) / (self.bad + SMOOTHING))


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


def _pre_blocks(x: FloatArray, y: IntArray) -> list[_Block]:
    distinct = np.unique(x)
    if distinct.size <= PRE_BINS:
        cuts = distinct
    else:
        quantiles = np.linspace(0.0, 1.0, PRE_BINS + 1)[1:-1]
        # inverted_cdf returns actual data values, so heavy ties collapse into one cut.
        cuts = np.unique(np.quantile(x, quantiles, method="inverted_cdf"))
    edges = np.append(cuts[cuts < distinct[-1]], np.inf)
    index = np.searchsorted(edges, x, side="left")
    n = np.bincount(index, minlength=edges.size)
    b = np.bincount(index, weights=y, minlength=edges.size)
    return [
        _Block(float(e), int(c), round(float(k)))
        for e, c, k in zip(edges, n, b, strict=True)
        if c > 0
    ]


def _violates(left: _Block, right: _Block, direction: Direction) -> bool:
    if direction == "ascending":
        return left.rate >= right.rate or left.log_odds_good <= right.log_odds_good
    return left.rate <= right.rate or left.log_odds_good >= right.log_odds_good


def _merge(left: _Block, right: _Block) -> _Block:
    return _Block(right.edge, left.n + right.n, left.bad + right.bad)


def _pool_adjacent_violators(blocks: list[_Block], direction: Direction) -> list[_Block]:
    stack: list[_Block] = []
    for block in blocks:
        stack.append(block)
        while len(stack) > 1 and _violates(stack[-2], stack[-1], direction):
            right = stack.pop()
            stack[-1] = _merge(stack[-1], right)
    return stack


def _merge_at(blocks: list[_Block], j: int) -> list[_Block]:
    """Merge blocks j and j+1."""
    return [*blocks[:j], _merge(blocks[j], blocks[j + 1]), *blocks[j + 2 :]]


def _fold_smallest(blocks: list[_Block], min_rows: float) -> list[_Block] | None:
    """Merge the smallest block under `min_rows` into its closer neighbour, or None if none is."""
    if len(blocks) < 2:
        return None
    j = min(range(len(blocks)), key=lambda i: blocks[i].n)
    if blocks[j].n >= min_rows:
        return None
    if j == 0:
        return _merge_at(blocks, 0)
    if j == len(blocks) - 1:
        return _merge_at(blocks, j - 1)
    here = blocks[j].log_odds_good
    left_gap = abs(blocks[j - 1].log_odds_good - here)
    right_gap = abs(blocks[j + 1].log_odds_good - here)
    return _merge_at(blocks, j - 1 if left_gap <= right_gap else j)


def _merge_closest(blocks: list[_Block]) -> list[_Block]:
    gaps = [
        abs(blocks[i].log_odds_good - blocks[i + 1].log_odds_good) for i in range(len(blocks) - 1)
    ]
    return _merge_at(blocks, int(np.argmin(gaps)))


def _monotone_blocks(
    blocks: list[_Block], direction: Direction, max_bins: int, min_rows: float
) -> list[_Block]:
    while True:
        size = len(blocks)
        blocks = _pool_adjacent_violators(blocks, direction)
        while (folded := _fold_smallest(blocks, min_rows)) is not None:
            blocks = folded
        while len(blocks) > max_bins:
            blocks = _merge_closest(blocks)
        if len(blocks) == size:
            return blocks


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
    pre = _pre_blocks(x, y)
    min_rows = min_share * x.size
    directions: tuple[Direction, ...] = (
        ("ascending", "descending") if monotone == "auto" else (monotone,)
    )
    fits = [
        _build(
            _monotone_blocks(pre, d, max_bins, min_rows),
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
