"""Monotone binning, weight of evidence and information value.

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

Categorical characteristics (`fit_categorical_bins`) reuse steps 1-2 on an ordering of the
categories:

1. Categories with fewer than `RARE_ROWS` rows are pooled into one group first: their bad
   rates are mostly noise (at 20 rows and a 30% bad rate the standard error is 0.1).
2. Groups are ordered by bad rate shrunk towards the overall rate with `PRIOR_ROWS` rows of
   prior, so a small group with 0 or 100% bad does not land at an extreme by chance; ties go
   by name. Each group's position in that order is its ordinal value.
3. Steps 1-2 above run on the ordinals, ascending only: bins are adjacent runs of groups, the
   bad rate rises strictly from bin to bin, and the same `min_share`, `max_bins` and IV rules
   apply. `direction` is therefore always "ascending" (bin number, not a value, rises).
4. A category not seen in training scores with the riskiest bin (the highest training bad
   rate): an unknown value is not evidence of safety, and typing a new value, or a known one
   spelled differently, must never buy a better bin than the worst the data showed.
Missing values (None, NaN or blank text) have their own bin, as for numbers. Categories are
reduced to one canonical form first (kaimen.model.category_codes: `2`, `2.0` and " 2 " are one
code), in fitting and in scoring, and are kept as strings, so they read back from JSON
unchanged. `edges` of a categorical `Bins` are the bin numbers (0, 1, ..., +inf), which keeps
every per-bin tuple aligned and makes `edges_index(edges, j) == j`.

Withholding never pays. The missing bin is a group of its own only with enough support: at
least `MISSING_MIN_ROWS` rows and at least `min_share` of the rows, the floor any value bin
must meet. Then its WoE is what its rows say. Without that support (no blanks in training, or
too few to tell) its WoE is at most the riskiest value bin's, so leaving a value blank never
scores better than the worst value the data showed (`Bins.missing_own_group` says which).

The missing bin is not part of the merge, so with few rows its smoothed WoE could order it
against its raw bad rate (2 rows, no bads: rate 0, yet a lower WoE than a big bin at 1%). Its
WoE is then clamped to the nearest bin's on the side its bad rate says, so points never
contradict the bad rate; the tie that leaves is the honest answer for so little evidence.

WoE of a bin = ln(share of goods / share of bads), each share smoothed with `SMOOTHING` counts
per bin so a bin without goods or without bads has a finite WoE. Higher WoE means safer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from kaimen.model.category_codes import canonical_codes

Monotone = Literal["ascending", "descending", "auto"]
Direction = Literal["ascending", "descending"]
Kind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]
Categories = tuple[tuple[str, ...], ...]

PRE_BINS = 20
SMOOTHING = 0.5
RARE_ROWS = 20
PRIOR_ROWS = 10
# Fewer blanks than this are too few to tell what a blank means (at 20 rows and a 30% bad
# rate the bad rate's standard error is 0.1), so they are never a group of their own.
MISSING_MIN_ROWS = RARE_ROWS


@dataclass(frozen=True)
class CharacteristicSpec:
    """A candidate characteristic. `monotone="ascending"` means the bad rate rises with the value.

    A categorical characteristic's bins are ordered by bad rate, so it takes only "auto".
    """

    name: str
    dimension: str
    monotone: Monotone = "auto"
    kind: Kind = "numeric"

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"{self.name}: kind must be numeric or categorical, not {self.kind!r}")
        if self.kind == "categorical" and self.monotone != "auto":
            raise ValueError(
                f"{self.name}: a categorical characteristic is ordered by its bad rate, "
                f"so monotone must be 'auto', not {self.monotone!r}"
            )


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
    kind: Kind = "numeric"
    # Categorical only: the training categories of each bin, and the bin an unseen one takes.
    categories: Categories = ()
    unseen_bin: int | None = None
    # Whether training saw enough blanks to score them by their own bad rate (module doc);
    # when False the missing WoE is at most the riskiest value bin's.
    missing_own_group: bool = False

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


def as_categories(values: npt.ArrayLike) -> tuple[BoolArray, StrArray]:
    """Which values are missing (None, NaN, blank text), and the others as canonical codes."""
    return canonical_codes(values)


def category_index(categories: Categories, unseen_bin: int, values: npt.ArrayLike) -> IntArray:
    """Bin number of each category; `unseen_bin` for one not in `categories`, -1 if missing."""
    missing, text = as_categories(values)
    known = np.array([c for group in categories for c in group], dtype=str)
    bin_of = np.repeat(np.arange(len(categories)), [len(group) for group in categories])
    order = np.argsort(known)
    known, bin_of = known[order], bin_of[order]
    index = np.full(missing.size, -1, dtype=np.int64)
    if known.size == 0:
        index[~missing] = unseen_bin
        return index
    at = np.minimum(np.searchsorted(known, text), known.size - 1)
    index[~missing] = np.where(known[at] == text, bin_of[at], unseen_bin)
    return index


def bin_index(bins: Bins, values: npt.ArrayLike) -> IntArray:
    """Bin number of each value; -1 where the value is missing (NaN, or None if categorical)."""
    if bins.kind == "categorical":
        assert bins.unseen_bin is not None  # set by fit_categorical_bins
        return category_index(bins.categories, bins.unseen_bin, values)
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


def _clamp_missing_woe(woe: FloatArray, counts: FloatArray, bads: FloatArray) -> float:
    """The missing bin's WoE (last entry), moved as little as needed to agree with its bad rate.

    It must be at most the WoE of every bin with a lower bad rate and at least that of every
    bin with a higher one; the value bins themselves already agree with each other.
    """
    if counts[-1] == 0:
        return float(woe[-1])
    used = counts[:-1] > 0
    rates = bads[:-1][used] / counts[:-1][used]
    others = woe[:-1][used]
    rate = bads[-1] / counts[-1]
    high = float(others[rates < rate].min(initial=math.inf))
    low = float(others[rates > rate].max(initial=-math.inf))
    return min(max(float(woe[-1]), low), high)


def _build(
    blocks: list[_Block],
    missing_n: int,
    missing_bad: int,
    direction: Direction,
    minimum: float,
    integer_valued: bool,
    min_share: float,
) -> Bins:
    counts = np.array([b.n for b in blocks] + [missing_n], dtype=np.float64)
    bads = np.array([b.bad for b in blocks] + [missing_bad], dtype=np.float64)
    goods = counts - bads
    # An empty bin (the missing bin, usually) takes no part in the smoothing and keeps WoE 0.
    used = counts > 0
    woe = np.zeros(counts.size)
    # IV measures the binning's information, so it uses the WoE before the clamp below.
    woe[used], iv = _woe_and_iv(goods[used], bads[used], goods.sum(), bads.sum())
    woe[-1] = _clamp_missing_woe(woe, counts, bads)
    own_group = bool(
        missing_n >= max(MISSING_MIN_ROWS, min_share * counts[:-1].sum()) or not used[:-1].any()
    )
    if not own_group:
        woe[-1] = min(float(woe[-1]) if missing_n else math.inf, float(woe[:-1][used[:-1]].min()))
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
        missing_own_group=own_group,
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
    _check_limits(max_bins, min_share)
    x = _as_values(values)
    y = _as_bad(bad, x.size)
    missing = np.isnan(x)
    missing_n, missing_bad = int(missing.sum()), int(y[missing].sum())
    x, y = x[~missing], y[~missing]
    if x.size == 0:
        # Nothing to bin: one empty bin (WoE 0) beside the missing bin, no information.
        direction: Direction = "ascending" if monotone == "auto" else monotone
        return _build(
            [_Block(math.inf, 0, 0)], missing_n, missing_bad, direction, -math.inf, False, min_share
        )
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
            min_share,
        )
        for d in directions
    ]
    # max() keeps the first of equal IVs, so ties go to "ascending".
    return max(fits, key=lambda fit: fit.iv)


def _check_limits(max_bins: int, min_share: float) -> None:
    if max_bins < 1:
        raise ValueError("max_bins must be at least 1")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError("min_share must be between 0 and 1")


def fit_categorical_bins(
    values: npt.ArrayLike,
    bad: npt.ArrayLike,
    max_bins: int = 8,
    min_share: float = 0.05,
) -> Bins:
    """Bins of categories (None or NaN = missing) ordered by bad rate; see the module doc."""
    _check_limits(max_bins, min_share)
    missing, text = as_categories(values)
    y = _as_bad(bad, missing.size)
    missing_n, missing_bad = int(missing.sum()), int(y[missing].sum())
    y = y[~missing]
    if text.size == 0:
        # Nothing to bin: one empty bin that any category would fall in, beside the missing bin.
        return dataclasses.replace(
            _build(
                [_Block(math.inf, 0, 0)], missing_n, missing_bad, "ascending", 0.0, False, min_share
            ),
            kind="categorical",
            categories=((),),
            unseen_bin=0,
        )
    names, inverse = np.unique(text, return_inverse=True)
    n = np.bincount(inverse).astype(np.int64)
    b = np.bincount(inverse, weights=y).round().astype(np.int64)

    # Group 0 is the pool of rare categories (possibly empty); group g > 0 is category g - 1.
    rare = n < RARE_ROWS
    group_of = np.where(rare, 0, np.arange(1, names.size + 1))
    group_n = np.bincount(group_of, weights=n, minlength=names.size + 1)
    group_b = np.bincount(group_of, weights=b, minlength=names.size + 1)
    present = group_n > 0
    overall = y.mean()
    # An empty pool (no rare categories) is dropped below; keep it out of the division.
    shrunk = (group_b + PRIOR_ROWS * overall) / np.maximum(group_n + PRIOR_ROWS, 1)
    # Order by shrunk bad rate, then by name (the pool sorts before every category on a tie).
    sort_name = np.concatenate(([""], names))
    order = np.lexsort((sort_name, shrunk))
    order = order[present[order]]
    rank = np.empty(names.size + 1, dtype=np.int64)
    rank[order] = np.arange(order.size)

    ordinal = rank[group_of][inverse].astype(np.float64)
    edges, pre_n, pre_b = _pre_bins(ordinal, y)
    blocks = _best_merge(edges, pre_n, pre_b, "ascending", max_bins, min_share * text.size)
    # Group ranks are whole numbers and block edges are ranks (or +inf), so this finds the block.
    block_of_rank = np.searchsorted(np.array([blk.edge for blk in blocks]), np.arange(order.size))
    bin_of_category = block_of_rank[rank[group_of]]
    categories = tuple(
        tuple(str(c) for c in names[bin_of_category == j]) for j in range(len(blocks))
    )
    numbered = [
        _Block(float(j) if j < len(blocks) - 1 else math.inf, blk.n, blk.bad)
        for j, blk in enumerate(blocks)
    ]
    bins = _build(numbered, missing_n, missing_bad, "ascending", 0.0, False, min_share)
    # Bins run from the safest to the riskiest (the bad rate rises strictly), and none is empty.
    unseen_bin = len(blocks) - 1
    return dataclasses.replace(
        bins, kind="categorical", categories=categories, unseen_bin=unseen_bin
    )


def _number_format(edges: Sequence[float]) -> str:
    """The fewest significant digits (at least 3) that still tell every edge apart."""
    finite = [e for e in edges if math.isfinite(e)]
    for digits in range(3, 18):
        if len({f"{e:.{digits}g}" for e in finite}) == len(finite):
            return f".{digits}g"
    return ".17g"


UNSEEN_SUFFIX = " (or a value not seen in training)"


def category_labels(categories: Categories, unseen_bin: int) -> tuple[str, ...]:
    """Per bin, its categories joined by "; ", the unseen bin saying it takes any other value."""
    labels = ["; ".join(group) if group else "any value" for group in categories]
    if categories[unseen_bin]:
        labels[unseen_bin] += UNSEEN_SUFFIX
    return tuple(labels)


def bin_labels(bins: Bins) -> tuple[str, ...]:
    """Person-readable label per bin: "0", "1-2", "3 or more" for whole numbers, else ranges.

    A categorical bin is labelled with its categories.
    """
    if bins.kind == "categorical":
        assert bins.unseen_bin is not None  # set by fit_categorical_bins
        return category_labels(bins.categories, bins.unseen_bin)
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
