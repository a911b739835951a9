"""The scorecard: WoE logistic regression turned into a readable table of points per bin.

Scaling is the domain's (kaimen.domain.scores): score = OFFSET + FACTOR * ln(odds of good).
With logit(p_bad) = b0 + sum_i b_i * woe_i, the points of bin j of characteristic i are

    round(-FACTOR * b_i * woe_ij + (OFFSET - FACTOR * b0) / k)

for k characteristics, so a person's raw score is the sum of their k points. Rounding is
numpy's round-half-to-even per bin, so the raw score is within k/2 points of the exact
logistic score; integers keep the table readable and every sum exact.

Characteristics of the "connections" dimension are never used: friends' influence stays
neutral until a later issue bounds it. They are listed in `Scorecard.excluded` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from kaimen.domain.errors import KaimenError
from kaimen.domain.scores import FACTOR, MAX_REASONS, OFFSET, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.model.binning import (
    Bins,
    CharacteristicSpec,
    Direction,
    FloatArray,
    IntArray,
    bin_labels,
    edges_index,
    fit_bins,
    select,
    woe_transform,
)

MISSING_LABEL = "missing"
Reason = tuple[str, int]


class TrainingFailed(KaimenError):
    """The data cannot give a scorecard (for example, no characteristic survived selection)."""


@dataclass(frozen=True)
class Characteristic:
    """One row group of the card: bins (right-closed upper edges, last +inf) and their points.

    `woe`, `counts`, `bads` and the missing-bin fields are the training evidence behind the
    points, kept so the table can be checked and its stability monitored.
    """

    name: str
    dimension: str
    direction: Direction
    edges: tuple[float, ...]
    labels: tuple[str, ...]
    points: tuple[int, ...]
    missing_points: int
    coefficient: float
    woe: tuple[float, ...]
    missing_woe: float
    counts: tuple[int, ...]
    bads: tuple[int, ...]
    missing_count: int
    missing_bads: int
    iv: float

    def __post_init__(self) -> None:
        k = len(self.edges)
        if k == 0 or self.edges[-1] != math.inf:
            raise ValueError(f"{self.name}: the last edge must be +inf")
        if not all(math.isfinite(e) for e in self.edges[:-1]):
            raise ValueError(f"{self.name}: inner edges must be finite")
        if any(a >= b for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"{self.name}: edges must increase strictly")
        for what in ("labels", "points", "woe", "counts", "bads"):
            if len(getattr(self, what)) != k:
                raise ValueError(f"{self.name}: {what} must have one entry per bin")
        if not all(_is_int(p) for p in (*self.points, self.missing_points)):
            raise ValueError(f"{self.name}: points must be integers")
        Dimension(self.dimension)
        if self.direction not in ("ascending", "descending"):
            raise ValueError(f"{self.name}: unknown direction {self.direction!r}")

    @property
    def best_points(self) -> int:
        """The most points this characteristic can give (any bin, missing included)."""
        return max(*self.points, self.missing_points)

    @property
    def worst_points(self) -> int:
        return min(*self.points, self.missing_points)

    def points_of(self, values: npt.ArrayLike) -> IntArray:
        """Points for each value (NaN scores with the missing bin)."""
        table = np.array((*self.points, self.missing_points), dtype=np.int64)
        # Index -1 (missing) picks the appended missing points.
        return table[edges_index(self.edges, values)]


@dataclass(frozen=True)
class Scorecard:
    """A fitted card. `metrics` is left for the caller to fill (`dataclasses.replace`)."""

    version: str
    characteristics: tuple[Characteristic, ...]
    intercept: float
    training: Mapping[str, Any]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    # Candidate name -> why it is not on the card.
    excluded: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.characteristics:
            raise ValueError("a scorecard needs at least one characteristic")
        names = [c.name for c in self.characteristics]
        if len(set(names)) != len(names):
            raise ValueError("characteristic names must be unique")
        if any(c.dimension == Dimension.CONNECTIONS for c in self.characteristics):
            raise ValueError("connections characteristics are not allowed on the card")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.characteristics)

    @property
    def max_raw_score(self) -> int:
        return sum(c.best_points for c in self.characteristics)

    @property
    def min_raw_score(self) -> int:
        return sum(c.worst_points for c in self.characteristics)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_features(features: Mapping[str, npt.ArrayLike], names: Sequence[str]) -> int:
    """The common length of the named feature arrays; raises on a missing or ragged one."""
    lengths = set()
    for name in names:
        if name not in features:
            raise KeyError(f"feature {name!r} is missing")
        shape = np.shape(features[name])
        if len(shape) != 1:
            raise ValueError(f"feature {name!r} must be 1-D, got shape {shape}")
        lengths.add(shape[0])
    if len(lengths) > 1:
        raise ValueError(f"features have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _fit_logistic(x: FloatArray, bad: IntArray) -> tuple[float, FloatArray]:
    # C=inf: no penalty, so the coefficients are the plain maximum-likelihood fit.
    model = LogisticRegression(C=np.inf, max_iter=1000)
    model.fit(x, bad)
    return float(model.intercept_[0]), np.asarray(model.coef_[0], dtype=np.float64)


def fit_scorecard(
    features: Mapping[str, npt.ArrayLike],
    bad: npt.ArrayLike,
    specs: Sequence[CharacteristicSpec],
    *,
    version: str,
    training: Mapping[str, Any],
    max_bins: int = 8,
    min_share: float = 0.05,
    min_iv: float = 0.02,
    max_correlation: float = 0.8,
) -> Scorecard:
    """Bin, select, fit and scale a card. `bad` is 1 for a bad outcome, 0 for good.

    Steps: connections characteristics are set aside; the rest are binned (`fit_bins`) and
    selected (`select`); a logistic regression is fitted on their WoE; while any coefficient is
    not negative (which would give more points to a bin with a higher bad rate), the most
    positive one is dropped and the fit repeated. The card lists characteristics by IV, highest
    first. Raises TrainingFailed when nothing usable is left.
    """
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("characteristic names must be unique")
    n = _check_features(features, names)
    y = np.asarray(bad)
    if y.shape != (n,):
        raise ValueError(f"bad has shape {y.shape}, expected ({n},)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("bad must hold only 0 and 1")
    y = y.astype(np.int64)
    if y.min(initial=1) == y.max(initial=0):
        raise TrainingFailed("training needs both good and bad outcomes")

    excluded: dict[str, str] = {}
    candidates: dict[str, tuple[Bins, FloatArray]] = {}
    dimension_of: dict[str, str] = {}
    for spec in specs:
        dimension_of[spec.name] = Dimension(spec.dimension)
        if spec.dimension == Dimension.CONNECTIONS:
            excluded[spec.name] = "connections: kept neutral until friends' influence is bounded"
            continue
        values = np.asarray(features[spec.name], dtype=np.float64)
        if np.isinf(values).any():
            raise ValueError(f"feature {spec.name!r} has infinite values")
        candidates[spec.name] = (
            fit_bins(values, y, spec.monotone, max_bins=max_bins, min_share=min_share),
            values,
        )

    kept = select(candidates, min_iv=min_iv, max_correlation=max_correlation)
    for name, (bins, _) in candidates.items():
        if name in kept:
            continue
        if bins.iv < min_iv:
            excluded[name] = f"information value {bins.iv:.4f} is below {min_iv}"
        else:
            excluded[name] = f"correlates above {max_correlation} with a stronger characteristic"

    woe = {name: woe_transform(*candidates[name]) for name in kept}
    while kept:
        intercept, coefficients = _fit_logistic(np.column_stack([woe[k] for k in kept]), y)
        worst = int(np.argmax(coefficients))
        if coefficients[worst] < 0:
            break
        # One at a time: a wrong sign usually comes from collinearity, and dropping the worst
        # offender often puts the others right.
        excluded[kept[worst]] = (
            f"coefficient {coefficients[worst]:+.4f} has the wrong sign "
            "(its points would run against its bad rate)"
        )
        del kept[worst]
    if not kept:
        raise TrainingFailed("no characteristic survived selection: " + "; ".join(excluded))

    shared = (OFFSET - FACTOR * intercept) / len(kept)
    characteristics = []
    for name, b in zip(kept, coefficients, strict=True):
        bins = candidates[name][0]
        characteristics.append(
            Characteristic(
                name=name,
                dimension=dimension_of[name],
                direction=bins.direction,
                edges=bins.edges,
                labels=bin_labels(bins),
                points=tuple(_points(b, w, shared) for w in bins.woe),
                missing_points=_points(b, bins.missing_woe, shared),
                coefficient=float(b),
                woe=bins.woe,
                missing_woe=bins.missing_woe,
                counts=bins.counts,
                bads=bins.bads,
                missing_count=bins.missing_count,
                missing_bads=bins.missing_bads,
                iv=bins.iv,
            )
        )
    return Scorecard(
        version=version,
        characteristics=tuple(characteristics),
        intercept=intercept,
        training=dict(training),
        excluded=excluded,
    )


def _points(coefficient: float, woe: float, shared: float) -> int:
    return int(np.rint(-FACTOR * coefficient * woe + shared))


def points(card: Scorecard, features: Mapping[str, npt.ArrayLike]) -> IntArray:
    """Points per person (rows) and characteristic (columns, in card order)."""
    _check_features(features, card.names)
    return np.column_stack([c.points_of(features[c.name]) for c in card.characteristics])


def raw_score(card: Scorecard, features: Mapping[str, npt.ArrayLike]) -> IntArray:
    """The sum of a person's points, before clipping."""
    total: IntArray = points(card, features).sum(axis=1)
    return total


def published_score(raw: npt.ArrayLike) -> IntArray:
    """Raw scores clipped to the published 350-950 range."""
    return np.clip(np.rint(np.asarray(raw, dtype=np.float64)), SCORE_MIN, SCORE_MAX).astype(
        np.int64
    )


def dimension_scores(
    card: Scorecard, features: Mapping[str, npt.ArrayLike]
) -> dict[Dimension, FloatArray]:
    """0-100 per dimension: where the person's points sit between the dimension's worst and best.

    A dimension without characteristics (connections, always) is 50 for everyone, as is one
    whose characteristics cannot vary.
    """
    table = points(card, features)
    result: dict[Dimension, FloatArray] = {}
    for dimension in Dimension:
        columns = [i for i, c in enumerate(card.characteristics) if c.dimension == dimension]
        low = sum(card.characteristics[i].worst_points for i in columns)
        high = sum(card.characteristics[i].best_points for i in columns)
        if high == low:
            result[dimension] = np.full(table.shape[0], 50.0)
        else:
            got = table[:, columns].sum(axis=1)
            result[dimension] = 100.0 * (got - low) / (high - low)
    return result


def reasons(
    card: Scorecard,
    features: Mapping[str, npt.ArrayLike],
    threshold: int | None = None,
    limit: int = MAX_REASONS,
) -> list[list[Reason]]:
    """Per person, (characteristic, points lost against its best bin), largest loss first.

    Only losses above 0 are given, at most `limit`. With a `threshold` (a raw score), only as
    many as are needed to cover the shortfall `threshold - raw score`: none when the person
    reaches it, all (up to `limit`) when even they do not cover it. Equal losses are listed in
    card order, i.e. the characteristic with the higher IV first. The losses of all
    characteristics always add up to `card.max_raw_score - raw score`.
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    table = points(card, features)
    best = np.array([c.best_points for c in card.characteristics], dtype=np.int64)
    loss = best - table
    # Stable sort on the negated loss: largest first, ties in card order.
    order = np.argsort(-loss, axis=1, kind="stable")
    ranked = np.take_along_axis(loss, order, axis=1)
    count = (ranked > 0).sum(axis=1)
    if threshold is not None:
        shortfall = threshold - table.sum(axis=1)
        covered_before = np.cumsum(ranked, axis=1) < shortfall[:, None]
        # Losses are sorted, so the ones still short of the shortfall form a prefix; one more
        # closes the gap.
        needed = np.where(shortfall > 0, covered_before.sum(axis=1) + 1, 0)
        count = np.minimum(count, needed)
    count = np.minimum(count, limit)
    width = int(count.max(initial=0))
    names = np.array(card.names, dtype=object)[order[:, :width]].tolist()
    lost = ranked[:, :width].tolist()
    # Building the nested lists is the only per-person step; everything above is vectorised.
    return [
        list(zip(who[:c], amount[:c], strict=True))
        for who, amount, c in zip(names, lost, count.tolist(), strict=True)
    ]


def score_expression(card: Scorecard, table: ir.Table) -> ir.IntegerValue:
    """The raw score as an Ibis expression on `table` (one CASE per characteristic).

    Null and NaN both score with the missing bin, as NaN does in `raw_score`.
    """
    total: ir.IntegerValue | None = None
    for c in card.characteristics:
        column = table[c.name]
        missing = column.isnull()
        if column.type().is_floating():
            missing = missing | column.isnan()
        branches = [(missing, ibis.literal(c.missing_points, type="int64"))]
        branches += [
            (column <= edge, ibis.literal(p, type="int64"))
            for edge, p in zip(c.edges[:-1], c.points[:-1], strict=True)
        ]
        term = ibis.cases(*branches, else_=ibis.literal(c.points[-1], type="int64"))
        total = term if total is None else total + term
    assert total is not None  # a Scorecard always has a characteristic
    return total.cast("int64").name("raw_score")
