"""The scorecard: WoE logistic regression turned into a readable table of points per bin.

Characteristics are numeric (bins are ranges) or categorical (bins are sets of categories);
see kaimen.model.binning. The logistic regression carries a mild L2 penalty (DEFAULT_L2).

Scaling is the domain's (kaimen.domain.scores): score = OFFSET + FACTOR * ln(odds of good).
With logit(p_bad) = b0 + sum_i b_i * woe_i, the points of bin j of characteristic i are

    round(-FACTOR * b_i * woe_ij + (OFFSET - FACTOR * b0) / k)

for k characteristics, so a person's raw score is the sum of their k points. Rounding is
numpy's round-half-to-even per bin, so the raw score is within k/2 points of the exact
logistic score; integers keep the table readable and every sum exact.

Points never run against the training bad rate: within a characteristic, bins (the missing
bin too, when blanks were a group of their own) with a higher bad rate have lower or equal WoE
(kaimen.model.binning) and every coefficient is negative, so they get fewer or equal points.
Equal points for unequal bad rates come only from rounding two close values to the same
integer, or from a small missing bin whose WoE was clamped to its neighbour's.

Withholding never pays: when blanks were too few to be a group of their own, the missing bin
gets no more points than the riskiest bin, whatever the few blanks' bad rate; a category not
seen in training scores with the riskiest bin; categories are canonical codes
(kaimen.model.category_codes), so `2.0` and `2` are one code.

Characteristics of the "connections" dimension are never used: friends' influence stays
neutral until a later issue bounds it. They are listed in `Scorecard.excluded` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt

from kaimen.domain.errors import Rejected
from kaimen.domain.scores import FACTOR, MAX_REASONS, OFFSET, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.model.binning import (
    Bins,
    Categories,
    CharacteristicSpec,
    Direction,
    FloatArray,
    IntArray,
    Kind,
    bin_labels,
    category_index,
    edges_index,
    fit_bins,
    fit_categorical_bins,
    select,
    woe_transform,
)
from kaimen.model.category_codes import DECIMAL_PATTERN
from kaimen.model.evaluation import auc
from kaimen.model.library_versions import running

MISSING_LABEL = "missing"
Reason = tuple[str, int]


class TrainingFailed(Rejected):
    """The data cannot give a scorecard (for example, no characteristic survived selection)."""


@dataclass(frozen=True)
class Characteristic:
    """One row group of the card: bins (right-closed upper edges, last +inf) and their points.

    `woe`, `counts`, `bads` and the missing-bin fields are the training evidence behind the
    points, kept so the table can be checked and its stability monitored.

    A categorical characteristic lists each bin's `categories` (canonical codes,
    kaimen.model.category_codes); a category outside them scores with `unseen_bin`, the
    riskiest bin on cards fitted since the rule that withholding never pays
    (kaimen.model.binning). Its `edges` are the bin numbers
    0, 1, ..., +inf, only so every per-bin tuple has the same length.
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
    kind: Kind = "numeric"
    categories: Categories = ()
    unseen_bin: int | None = None
    # True: training saw enough blanks to score them by their own bad rate; False: a blank
    # scores no better than the riskiest bin; None: an artifact from before the rule.
    missing_own_group: bool | None = None

    def __post_init__(self) -> None:
        k = len(self.edges)
        if self.kind == "categorical":
            self._check_categories()
        elif self.kind != "numeric":
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        elif self.categories or self.unseen_bin is not None:
            raise ValueError(f"{self.name}: a numeric characteristic has no categories")
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

    def _check_categories(self) -> None:
        k = len(self.edges)
        if self.edges != (*(float(j) for j in range(k - 1)), math.inf):
            raise ValueError(
                f"{self.name}: a categorical characteristic's edges are 0, 1, ..., inf"
            )
        if len(self.categories) != k:
            raise ValueError(f"{self.name}: categories must have one entry per bin")
        every = [c for group in self.categories for c in group]
        if not all(isinstance(c, str) for c in every):
            raise ValueError(f"{self.name}: categories must be strings")
        if len(set(every)) != len(every):
            raise ValueError(f"{self.name}: a category may be in one bin only")
        unseen = self.unseen_bin
        if not (isinstance(unseen, int) and not isinstance(unseen, bool) and 0 <= unseen < k):
            raise ValueError(f"{self.name}: unseen_bin must name one of the {k} bins")

    @property
    def best_points(self) -> int:
        """The most points this characteristic can give (any bin, missing included)."""
        return max(*self.points, self.missing_points)

    @property
    def worst_points(self) -> int:
        return min(*self.points, self.missing_points)

    def bin_index(self, values: npt.ArrayLike) -> IntArray:
        """Bin number of each value, -1 for missing (NaN; None too if categorical)."""
        if self.kind == "categorical":
            assert self.unseen_bin is not None  # checked in __post_init__
            return category_index(self.categories, self.unseen_bin, values)
        return edges_index(self.edges, values)

    def points_of(self, values: npt.ArrayLike) -> IntArray:
        """Points for each value (NaN, or None if categorical, scores with the missing bin)."""
        table = np.array((*self.points, self.missing_points), dtype=np.int64)
        # Index -1 (missing) picks the appended missing points.
        return table[self.bin_index(values)]


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
    # How the card was fitted: binning and selection settings, the L2 and how it was chosen.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # The library versions it was fitted under; empty if read from an artifact written
    # before they were recorded (kaimen.model.library_versions).
    library_versions: Mapping[str, str] = field(default_factory=running)

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


# A unit Gaussian prior on each WoE coefficient. With independent characteristics every
# coefficient would be -1 (the WoE already is the log-odds), so this is mild: it steadies a
# small or collinear sample and fades on a large one. It is scikit-learn's own default (C=1).
# Cross-validating it instead (l2="cv") did no better on the German credit data.
DEFAULT_L2 = 1.0
L2_GRID = (0.0, 1.0, 3.0, 10.0, 30.0)
CV_FOLDS = 5
# A weak characteristic joins when it raises the held-out AUC by more than this: below it, a
# characteristic of pure noise joined a card fitted on 20,000 rows (tests/model).
SELECTION_MIN_AUC_GAIN = 0.0005
# The information-value floor used when the sample is too small to cross-validate selection.
SELECTION_FALLBACK_IV = 0.02


def _fit_logistic(x: FloatArray, bad: IntArray, l2: float) -> tuple[float, FloatArray]:
    # sklearn minimises C * (sum of log losses) + |b|^2 / 2, so C = 1 / l2 puts a Gaussian
    # prior of variance 1 / l2 on each coefficient; its pull fades as rows grow. l2 = 0 is the
    # plain maximum-likelihood fit.
    # Imported where a card is fitted: what only reads or applies a card (a server, a what-if,
    # the monthly batch) never pays for importing scikit-learn (1.3 s of the app's 5.7).
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf if l2 == 0 else 1.0 / l2, max_iter=1000)
    model.fit(x, bad)
    return float(model.intercept_[0]), np.asarray(model.coef_[0], dtype=np.float64)


def _newton_logistic(x: FloatArray, bad: IntArray, l2: float) -> tuple[float, FloatArray]:
    """The fit `_fit_logistic` makes (same objective: log losses + l2/2 |b|^2, intercept free),
    by Newton's method in NumPy. Selection fits hundreds of small models, where scikit-learn's
    per-call overhead is most of the cost; the card's own regression stays scikit-learn's."""
    design = np.column_stack([np.ones(x.shape[0]), x])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(design.shape[1])

    def loss(b: FloatArray) -> float:
        z = design @ b
        return float(np.sum(np.logaddexp(0.0, z) - bad * z) + 0.5 * np.sum(penalty * b * b))

    current = loss(beta)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (p - bad) + penalty * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        # A tiny ridge keeps the solve defined when a column is constant within a fold.
        step = np.linalg.solve(hessian + 1e-9 * np.eye(beta.size), gradient)
        size = 1.0
        while size > 1e-6:
            trial = beta - size * step
            trial_loss = loss(trial)
            if trial_loss <= current:
                break
            size /= 2
        else:
            break
        beta, previous, current = trial, current, trial_loss
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    return float(beta[0]), beta[1:]


NEWTON_STEPS = 50


@dataclass(frozen=True)
class _Binned:
    """Every usable candidate's bins and values, the names selection kept, and why not others."""

    candidates: dict[str, tuple[Bins, npt.NDArray[Any]]]
    kept: list[str]
    excluded: dict[str, str]


@dataclass(frozen=True)
class _Fitted:
    kept: list[str]
    intercept: float
    coefficients: FloatArray
    excluded: dict[str, str]


def _bin_and_select(
    features: Mapping[str, npt.ArrayLike],
    y: IntArray,
    specs: Sequence[CharacteristicSpec],
    *,
    max_bins: int,
    min_share: float,
    categorical_min_share: float | None,
    min_iv: float | None,
    max_correlation: float,
    l2: float = DEFAULT_L2,
    seed: int = 0,
) -> _Binned:
    excluded: dict[str, str] = {}
    candidates = _fit_candidates(
        features,
        y,
        specs,
        excluded,
        max_bins=max_bins,
        min_share=min_share,
        categorical_min_share=categorical_min_share,
    )
    by_cv = min_iv is None and np.bincount(y, minlength=2).min() >= 2 * CV_FOLDS
    # A fixed floor when asked for, or when there are too few of one outcome to hold some out
    # in every fold.
    floor = 0.0 if by_cv else SELECTION_FALLBACK_IV if min_iv is None else min_iv
    kept = select(candidates, min_iv=floor, max_correlation=max_correlation)
    for name, (bins, _) in candidates.items():
        if name in kept:
            continue
        if bins.iv < floor:
            excluded[name] = f"information value {bins.iv:.4f} is below {floor}"
        else:
            excluded[name] = f"correlates above {max_correlation} with a stronger characteristic"
    if by_cv:
        kept, dropped = _select_by_cv(
            features,
            y,
            specs,
            kept,
            {name: candidates[name][0].iv for name in kept},
            max_bins=max_bins,
            min_share=min_share,
            categorical_min_share=categorical_min_share,
            l2=l2,
            seed=seed,
        )
        excluded |= dropped
    return _Binned(candidates, kept, excluded)


def _fit_candidates(
    features: Mapping[str, npt.ArrayLike],
    y: IntArray,
    specs: Sequence[CharacteristicSpec],
    excluded: dict[str, str],
    *,
    max_bins: int,
    min_share: float,
    categorical_min_share: float | None,
) -> dict[str, tuple[Bins, npt.NDArray[Any]]]:
    """Bins of every usable candidate; connections go to `excluded`."""
    candidates: dict[str, tuple[Bins, npt.NDArray[Any]]] = {}
    for spec in specs:
        if spec.dimension == Dimension.CONNECTIONS:
            excluded[spec.name] = "connections: kept neutral until friends' influence is bounded"
            continue
        share = min_share
        if spec.kind == "categorical" and categorical_min_share is not None:
            share = categorical_min_share
        candidates[spec.name] = _fit_candidate(
            spec, features[spec.name], y, max_bins=max_bins, min_share=share
        )
    return candidates


def _select_by_cv(
    features: Mapping[str, npt.ArrayLike],
    y: IntArray,
    specs: Sequence[CharacteristicSpec],
    ranked: list[str],
    ivs_of: Mapping[str, float],
    *,
    max_bins: int,
    min_share: float,
    categorical_min_share: float | None,
    l2: float,
    seed: int,
) -> tuple[list[str], dict[str, str]]:
    """Selection on what a weak characteristic adds out of sample.

    `ranked` is in IV order, highest first (after the correlation filter). A characteristic
    with IV at least `SELECTION_FALLBACK_IV` stays; each weaker one, in IV order, joins when it
    raises the held-out AUC of the card chosen so far over `CV_FOLDS` stratified folds (the
    AUC of all rows' held-out log-odds, pooled) by more than `SELECTION_MIN_AUC_GAIN`. So a weak characteristic
    that a fixed floor would drop is kept when it helps.

    Each fold bins every candidate on its training part only and scores the held-out part with
    those bins, so a characteristic is judged on rows that shaped neither its bins nor its
    coefficient. Why the strong ones are not put to the same test: on German credit (800
    training rows per fold) every rule that also let cross-validation drop them lost AUC on the
    exploration splits (random_state 1: forward or backward on held-out log loss 0.7906 and
    0.7897, backward on held-out AUC 0.7879, the best prefix in IV order 0.7944, against 0.7984
    for the fixed floor): choosing among many cards on 200 held-out rows a fold fits the noise
    of those rows. Adding weak ones is a smaller choice, made one at a time.
    """
    by_name = {s.name: s for s in specs}
    ivs = dict(ivs_of)
    from sklearn.model_selection import StratifiedKFold  # see _fit_logistic

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    arrays = {name: np.asarray(features[name]) for name in ranked}
    # Per fold: each candidate's WoE on the training part and on the held-out part.
    prepared: list[tuple[IntArray, IntArray, dict[str, FloatArray], dict[str, FloatArray]]] = []
    for inside, held_out in folds.split(np.zeros(y.size), y):
        fitted = _fit_candidates(
            {name: values[inside] for name, values in arrays.items()},
            y[inside],
            [by_name[name] for name in ranked],
            {},
            max_bins=max_bins,
            min_share=min_share,
            categorical_min_share=categorical_min_share,
        )
        woe_in = {name: woe_transform(*fitted[name]) for name in ranked}
        woe_out = {name: woe_transform(fitted[name][0], arrays[name][held_out]) for name in ranked}
        prepared.append((y[inside], y[held_out], woe_in, woe_out))

    y_held = np.concatenate([y_out for _, y_out, _, _ in prepared])

    def held_out_auc(names: list[str]) -> float:
        """AUC of every row's log-odds from the fold that held it out, pooled."""
        parts = []
        for y_in, y_out, woe_in, woe_out in prepared:
            if not names:
                parts.append(np.zeros(y_out.size))
                continue
            columns = np.column_stack([woe_in[n] for n in names])
            intercept, b = _newton_logistic(columns, y_in, l2)
            parts.append(intercept + np.column_stack([woe_out[n] for n in names]) @ b)
        return auc(y_held, -np.concatenate(parts))

    # Characteristics at or above the floor stay; each weaker one, in IV order, joins while it
    # raises the held-out AUC of the card before it (on a tie it stays out).
    strong = [name for name in ranked if ivs[name] >= SELECTION_FALLBACK_IV]
    kept = list(strong)
    current = held_out_auc(kept) if kept else 0.5
    dropped: dict[str, str] = {}
    for name in ranked[len(strong) :]:
        with_it = held_out_auc([*kept, name])
        if with_it > current + SELECTION_MIN_AUC_GAIN:
            kept.append(name)
            current = with_it
        else:
            dropped[name] = (
                f"information value {ivs[name]:.4f} is below {SELECTION_FALLBACK_IV} and it adds "
                f"too little out of sample: held-out AUC {with_it:.4f} with it, {current:.4f} "
                f"without ({CV_FOLDS}-fold cross-validation)"
            )
    return kept, dropped


def _regress(binned: _Binned, y: IntArray, l2: float) -> _Fitted:
    """The logistic regression on WoE, dropping wrong-signed characteristics one at a time."""
    kept = list(binned.kept)
    excluded: dict[str, str] = {}
    woe = {name: woe_transform(*binned.candidates[name]) for name in kept}
    intercept, coefficients = 0.0, np.zeros(0)
    while kept:
        intercept, coefficients = _fit_logistic(np.column_stack([woe[k] for k in kept]), y, l2)
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
    return _Fitted(kept, intercept, coefficients, excluded)


def _choose_l2(
    features: Mapping[str, npt.ArrayLike],
    y: IntArray,
    specs: Sequence[CharacteristicSpec],
    binning: Mapping[str, Any],
    seed: int,
) -> tuple[float, dict[str, float]]:
    """The L2 of `L2_GRID` with the best mean held-out AUC over `CV_FOLDS` stratified folds.

    Each fold repeats the whole fit (binning, selection, regression) on its training part, so
    the held-out part never shapes what it is judged on. Ties go to the smaller L2.
    """
    if np.bincount(y, minlength=2).min() < 2 * CV_FOLDS:
        # Too few of one outcome to hold some out in every fold.
        return DEFAULT_L2, {}
    from sklearn.model_selection import StratifiedKFold  # see _fit_logistic

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    arrays = {s.name: np.asarray(features[s.name]) for s in specs}
    results = np.full((CV_FOLDS, len(L2_GRID)), np.nan)
    for f, (inside, held_out) in enumerate(folds.split(np.zeros(y.size), y)):
        part = {name: values[inside] for name, values in arrays.items()}
        binned = _bin_and_select(part, y[inside], specs, **binning)
        for g, l2 in enumerate(L2_GRID):
            fitted = _regress(binned, y[inside], l2)
            if not fitted.kept:
                continue
            logit = np.full(held_out.size, fitted.intercept)
            for name, b in zip(fitted.kept, fitted.coefficients, strict=True):
                logit += b * woe_transform(binned.candidates[name][0], arrays[name][held_out])
            results[f, g] = auc(y[held_out], -logit)
    if not np.isfinite(results).any():
        return DEFAULT_L2, {}
    # A fold where nothing survived counts as a coin toss for that L2.
    mean = np.nan_to_num(results, nan=0.5).mean(axis=0)
    best = int(np.argmax(mean))  # the first of equal means: the smaller L2
    return L2_GRID[best], {
        f"{l2:g}": round(float(m), 6) for l2, m in zip(L2_GRID, mean, strict=True)
    }


def fit_scorecard(
    features: Mapping[str, npt.ArrayLike],
    bad: npt.ArrayLike,
    specs: Sequence[CharacteristicSpec],
    *,
    version: str,
    training: Mapping[str, Any],
    max_bins: int = 8,
    min_share: float = 0.05,
    categorical_min_share: float | None = None,
    min_iv: float | None = None,
    max_correlation: float = 0.8,
    l2: float | Literal["cv"] = DEFAULT_L2,
    cv_seed: int = 0,
) -> Scorecard:
    """Bin, select, fit and scale a card. `bad` is 1 for a bad outcome, 0 for good.

    Steps: connections characteristics are set aside; the rest are binned (`fit_bins`, or
    `fit_categorical_bins` for kind "categorical") and selected; a logistic regression with an L2 penalty is fitted on their WoE; while any coefficient is not negative
    (which would give more points to a bin with a higher bad rate), the most positive one is
    dropped and the fit repeated. The card lists characteristics by IV, highest first, and
    records these settings in `Scorecard.settings`. Raises TrainingFailed when nothing usable
    is left.

    `l2` is the penalty on the sum of log losses (a Gaussian prior of variance 1/l2 on each
    coefficient; 0 for none; see DEFAULT_L2). "cv" picks it from `L2_GRID` by `CV_FOLDS`-fold
    cross-validation inside `features` (seeded by `cv_seed`), refitting the binning in every
    fold; it costs about 5 fits per grid value.

    Selection: of characteristics whose WoE correlates above `max_correlation` the one with
    the higher IV stays (`select`); those with IV at least `SELECTION_FALLBACK_IV` stay, and
    each weaker one, in IV order, joins only if it raises the held-out AUC of
    `CV_FOLDS`-fold cross-validation inside `features` by more than `SELECTION_MIN_AUC_GAIN`
    (seeded by `cv_seed`, bins refitted in every fold; see `_select_by_cv`): what it adds out
    of sample, not how strong it looks alone. Given `min_iv`, a fixed information-value floor replaces that (the former
    rule, `min_iv=0.02`; `min_iv=0` keeps every characteristic); with fewer than 2 *
    `CV_FOLDS` of either outcome the floor is `SELECTION_FALLBACK_IV`.

    `min_share` is the least share of the non-missing rows a bin must hold;
    `categorical_min_share`, when given, replaces it for categorical characteristics. A bin of
    named categories stays readable however small ("no checking account, critical account"),
    whereas a thin numeric range is mostly noise, so a lower floor for categories can pay.
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
    if l2 != "cv" and not (
        isinstance(l2, int | float) and not isinstance(l2, bool) and math.isfinite(l2) and l2 >= 0
    ):
        raise ValueError(f"l2 must be 'cv' or a finite number >= 0, not {l2!r}")
    if categorical_min_share is not None and not 0.0 <= categorical_min_share <= 1.0:
        raise ValueError("categorical_min_share must be between 0 and 1")
    dimension_of = {s.name: Dimension(s.dimension) for s in specs}

    binning: dict[str, Any] = {
        "max_bins": max_bins,
        "min_share": min_share,
        "categorical_min_share": categorical_min_share,
        "min_iv": min_iv,
        "max_correlation": max_correlation,
    }
    selection_l2 = DEFAULT_L2 if l2 == "cv" else float(l2)
    binned = _bin_and_select(features, y, specs, **binning, l2=selection_l2, seed=cv_seed)
    how: dict[str, Any] = {"selection": _selection_rule(min_iv, y)}
    if l2 == "cv":
        chosen, cv_auc = _choose_l2(features, y, specs, binning, cv_seed)
        how |= {"l2": chosen, "l2_chosen_by": "cv" if cv_auc else "too few rows for cv"}
        how |= {"cv_folds": CV_FOLDS, "cv_seed": cv_seed, "cv_auc_by_l2": cv_auc}
    else:
        chosen = float(l2)
        how |= {"l2": chosen, "l2_chosen_by": "caller"}
    fitted = _regress(binned, y, chosen)
    excluded = binned.excluded | fitted.excluded
    if not fitted.kept:
        raise TrainingFailed("no characteristic survived selection: " + "; ".join(excluded))

    shared = (OFFSET - FACTOR * fitted.intercept) / len(fitted.kept)
    characteristics = []
    for name, b in zip(fitted.kept, fitted.coefficients, strict=True):
        bins = binned.candidates[name][0]
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
                kind=bins.kind,
                categories=bins.categories,
                unseen_bin=bins.unseen_bin,
                missing_own_group=bins.missing_own_group,
            )
        )
    return Scorecard(
        version=version,
        characteristics=tuple(characteristics),
        intercept=fitted.intercept,
        training=dict(training),
        excluded=excluded,
        settings=binning | how,
    )


def _selection_rule(min_iv: float | None, y: IntArray) -> str:
    """How characteristics were chosen, as the card's settings record it."""
    if min_iv is not None:
        return f"information value at least {min_iv}"
    if np.bincount(y, minlength=2).min() < 2 * CV_FOLDS:
        return f"information value at least {SELECTION_FALLBACK_IV} (too few rows for cv)"
    return (
        f"information value at least {SELECTION_FALLBACK_IV}, or held-out AUC gain above "
        f"{SELECTION_MIN_AUC_GAIN} ({CV_FOLDS}-fold cross-validation)"
    )


def _fit_candidate(
    spec: CharacteristicSpec,
    raw: npt.ArrayLike,
    y: IntArray,
    *,
    max_bins: int,
    min_share: float,
) -> tuple[Bins, npt.NDArray[Any]]:
    """The bins of one characteristic and the values they were fitted on."""
    if spec.kind == "categorical":
        objects = np.asarray(raw, dtype=object)
        return fit_categorical_bins(objects, y, max_bins=max_bins, min_share=min_share), objects
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"feature {spec.name!r} is numeric but holds non-numbers ({error}); "
            "declare it kind='categorical' if its values are categories"
        ) from error
    if np.isinf(values).any():
        raise ValueError(f"feature {spec.name!r} has infinite values")
    return fit_bins(values, y, spec.monotone, max_bins=max_bins, min_share=min_share), values


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


def characteristic_points(c: Characteristic, table: ir.Table) -> ir.IntegerValue:
    """The points of characteristic `c` for each row of `table`, as an Ibis CASE expression.

    Null and NaN both score with the missing bin, as NaN does in `points`. A categorical
    characteristic reduces each value to its canonical code (as kaimen.model.category_codes
    does; blank text is missing) and has one `isin` branch per bin; other values take the
    unseen bin's points.
    """
    column = table[c.name]
    missing = column.isnull()
    if column.type().is_floating():
        missing = missing | column.isnan()
    if c.kind == "categorical":
        text = _canonical_text(column)
        missing = missing | text.isnull()
    branches = [(missing, ibis.literal(c.missing_points, type="int64"))]
    if c.kind == "categorical":
        assert c.unseen_bin is not None  # checked by Characteristic
        branches += [
            (text.isin(group), ibis.literal(p, type="int64"))
            for group, p in zip(c.categories, c.points, strict=True)
            if group
        ]
        otherwise = c.points[c.unseen_bin]
    else:
        branches += [
            (column <= edge, ibis.literal(p, type="int64"))
            for edge, p in zip(c.edges[:-1], c.points[:-1], strict=True)
        ]
        otherwise = c.points[-1]
    return ibis.cases(*branches, else_=ibis.literal(otherwise, type="int64"))


def _whole_number_text(number: ir.FloatingValue) -> ir.StringValue:
    """A double as a code: an integer when whole (below 2^53), else the engine's shortest text."""
    whole = (number == number.floor()) & (number.abs() < 2.0**53)
    return ibis.cases((whole, number.cast("int64").cast("string")), else_=number.cast("string"))


def _canonical_text(column: ir.Column) -> ir.StringValue:
    """`category_codes.canonical_code` in SQL; null for a missing or blank value."""
    kind = column.type()
    if kind.is_integer() or kind.is_boolean():
        return column.cast("int64").cast("string")
    if kind.is_floating():
        return _whole_number_text(column)
    text = column.cast("string").strip()
    number = text.try_cast("float64")
    decimal = text.re_search(DECIMAL_PATTERN) & number.notnull()
    return ibis.cases(
        (text == "", ibis.null("string")),
        (decimal, _whole_number_text(number)),
        else_=text,
    )


def score_expression(card: Scorecard, table: ir.Table) -> ir.IntegerValue:
    """The raw score as an Ibis expression on `table` (one CASE per characteristic)."""
    total: ir.IntegerValue | None = None
    for c in card.characteristics:
        term = characteristic_points(c, table)
        total = term if total is None else total + term
    assert total is not None  # a Scorecard always has a characteristic
    return total.cast("int64").name("raw_score")
