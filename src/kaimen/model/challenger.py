"""The challenger: a monotone LightGBM model beside the scorecard, explained in points.

Model. A binary LightGBM model of the bad outcome on the same catalogue characteristics as the
scorecard; "connections" stay out, as on the card. Each characteristic is constrained in the
direction the catalogue gives it: "ascending" (more of it, more risk) is +1 on the log-odds of
bad, "descending" -1, "auto" unconstrained. Trees are small (depth 3, at most 8 leaves); the
number of trees is chosen by 5-fold cross-validation with early stopping, folds split by
`groups` (people) so a person never sits on both sides, and the model is then refitted on all
rows. Training is deterministic: fixed seed, `deterministic`, one thread and row-wise
histograms, so the same data gives the same model text on any machine with the same LightGBM.

Scaling is the scorecard's (kaimen.domain.scores): with the model's raw margin m = ln(odds of
bad), the raw score is OFFSET - FACTOR * m, published rounded and clipped to 350-950.

Explanations come from LightGBM's `pred_contrib` (TreeSHAP): per person, one contribution c_i
per characteristic and an expected value E with E + sum_i c_i = m. In points:

- a characteristic's *points* are -FACTOR * c_i + (OFFSET - FACTOR * E) / k for k
  characteristics: its contribution in points plus an equal share of the base score, so, as
  on the scorecard, a person's points add up to their raw score;
- its *best points* are the most points it gave anyone in training (from its smallest
  training contribution), and *points lost* = best points - the person's points
  = FACTOR * (c_i - smallest training c_i): how many points the score would rise if this
  characteristic's contribution were the best one seen in training, the others unchanged
  (TreeSHAP contributions are additive, so such rises add up). One exception: a constrained
  characteristic already at its least risky training value (0 late payments, say) loses
  nothing. What it still lacks there is its share of interactions with other characteristics,
  which TreeSHAP splits between them; the person cannot improve it, so it is never a reason;
- a dimension's 0-100 sub-score places the sum of its characteristics' contributions in
  points between the smallest and the largest sum seen in training (clipped to 0-100).

Withholding never pays. LightGBM sends a blank down whichever side of each split training
chose for blanks, and with no blanks in training that side is arbitrary, so a blank could score
better than any real value. So a constrained characteristic whose training blanks were too few
to be a group of their own (fewer than kaimen.model.binning.MISSING_MIN_ROWS, or under
MIN_LEAF_SHARE of the rows) scores a blank as its riskiest training value (`blank_value`: the
largest for +1, the smallest for -1), which under the monotone constraint is never better than
any value seen in training, the other characteristics unchanged. An unconstrained ("auto")
characteristic has no riskiest value independent of the others (its effect may rise and fall),
so this model cannot promise it: its blanks keep LightGBM's handling, and
`ChallengerFeature.blank_value` is None. In today's catalogue that is `risky_spend_share_6m`
(blank when a person made no purchases) and `monthly_spend_6m` (never blank); the scorecard
keeps the promise for them, the challenger does not.

The artifact is readable JSON (never pickle): the booster as LightGBM's own text model, one
line per JSON string, beside the characteristics, constraints, training ranges, metrics,
training facts and library versions, under a SHA-256 of the content. A model is always rebuilt from that text, so
one loaded from its artifact predicts bit-identically to the one that was saved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kaimen.domain.scores import FACTOR, MAX_REASONS, OFFSET, Dimension

if TYPE_CHECKING:
    # Imported where a booster is made (fitting, loading): LightGBM brings scikit-learn
    # with it, over a second that a server or a command which never loads a LightGBM
    # model paid on every start.
    import lightgbm as lgb
from kaimen.model.artifact import (
    ArtifactRejected,
    content_hash,
    envelope,
    open_envelope,
    recorded_versions,
)
from kaimen.model.binning import (
    MISSING_MIN_ROWS,
    CharacteristicSpec,
    FloatArray,
    IntArray,
    Monotone,
)
from kaimen.model.library_versions import running
from kaimen.model.scorecard import Reason, TrainingFailed

FORMAT = "kaimen.lightgbm"
# 2 added each feature's `blank_value`; version 1 artifacts load with none (LightGBM's own
# handling of blanks, as they were fitted).
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
BOOSTER_FORMAT = "lightgbm model_to_string"

CONSTRAINT: Mapping[str, int] = {"ascending": 1, "descending": -1, "auto": 0}
SEED = 20_261
FOLDS = 5
MAX_TREES = 500
EARLY_STOPPING = 30
# One thread: the order in which histogram sums are added cannot depend on the machine.
THREADS = 1
PARAMS: Mapping[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 8,
    "max_depth": 3,
    "lambda_l2": 1.0,
    # Less restrictive than "basic" and still guarantees the constraints.
    "monotone_constraints_method": "intermediate",
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": THREADS,
    "seed": SEED,
    "verbose": -1,
}
# A leaf holds at least this share of the training rows (and at least MIN_LEAF_ROWS rows).
MIN_LEAF_SHARE = 0.01
MIN_LEAF_ROWS = 20
# A loss is given as a reason only when it is worth at least one whole point once rounded.
MIN_REASON_POINTS = 0.5


@dataclass(frozen=True)
class ChallengerFeature:
    """A characteristic of the model: its constraint and the points range seen in training.

    `worst_points` and `best_points` are -FACTOR times the largest and the smallest training
    contribution (without the base share); `best_value` is the least risky training value
    under the constraint (the smallest for +1, the largest for -1; None when unconstrained or
    never seen); `gain` is the total gain of its splits; `blank_value` is the value a blank
    scores as (the riskiest training value; None: LightGBM's own handling, see the module doc).
    """

    name: str
    dimension: str
    monotone: Monotone
    constraint: int
    worst_points: float
    best_points: float
    best_value: float | None
    gain: float
    blank_value: float | None = None

    def __post_init__(self) -> None:
        Dimension(self.dimension)
        if CONSTRAINT.get(self.monotone) != self.constraint:
            raise ValueError(f"{self.name}: constraint {self.constraint} is not {self.monotone}")
        if not self.worst_points <= self.best_points:
            raise ValueError(f"{self.name}: worst points above best points")
        if self.best_value is not None and self.constraint == 0:
            raise ValueError(f"{self.name}: an unconstrained characteristic has no best value")
        if self.blank_value is not None and not math.isfinite(self.blank_value):
            raise ValueError(f"{self.name}: blank_value must be a finite number")


@dataclass(frozen=True)
class Challenger:
    """A fitted challenger. `metrics` is left for the caller to fill (`dataclasses.replace`).

    `dimension_ranges` maps a dimension to the smallest and largest training sum of its
    characteristics' contributions in points.
    """

    version: str
    features: tuple[ChallengerFeature, ...]
    model_text: str
    dimension_ranges: Mapping[str, tuple[float, float]]
    params: Mapping[str, Any]
    training: Mapping[str, Any]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    excluded: Mapping[str, str] = field(default_factory=dict)
    # As on the scorecard: the library versions it was fitted under.
    library_versions: Mapping[str, str] = field(default_factory=running)
    booster: lgb.Booster = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("a challenger needs at least one characteristic")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError("characteristic names must be unique")
        if any(f.dimension == Dimension.CONNECTIONS for f in self.features):
            raise ValueError("connections characteristics are not allowed in the model")
        for dimension, (low, high) in self.dimension_ranges.items():
            Dimension(dimension)
            if not low <= high:
                raise ValueError(f"{dimension}: range runs backwards")
        import lightgbm as lgb  # see the module's imports

        booster = lgb.Booster(model_str=self.model_text)
        if booster.feature_name() != names:
            raise ValueError(
                f"the booster's features {booster.feature_name()} are not the model's {names}"
            )
        written = _constraints_in(self.model_text)
        if written != [f.constraint for f in self.features]:
            raise ValueError(f"the booster's monotone constraints {written} are not the model's")
        # Frozen: the booster is derived from model_text, never set from outside.
        object.__setattr__(self, "booster", booster)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def num_trees(self) -> int:
        return int(self.booster.num_trees())


def _constraints_in(model_text: str) -> list[int]:
    """The monotone constraints the booster was trained with (all 0 when it names none)."""
    features = 0
    for line in model_text.splitlines():
        if line.startswith("monotone_constraints="):
            return [int(v) for v in line.split("=", 1)[1].split()]
        if line.startswith("feature_names="):
            features = len(line.split("=", 1)[1].split())
        if line.startswith("Tree="):
            break
    return [0] * features


@dataclass(frozen=True)
class Explanation:
    """One pass of the model over people: the raw margin (log-odds of bad) and its parts.

    `contributions` has one column per characteristic; `expected` is `pred_contrib`'s last
    column. Per person, `expected + contributions.sum()` equals `margin` up to rounding.
    """

    margin: FloatArray
    contributions: FloatArray
    expected: FloatArray
    values: FloatArray  # the inputs, one column per characteristic

    @property
    def raw_score(self) -> FloatArray:
        """The unclipped score, OFFSET + FACTOR * ln(odds of good)."""
        return OFFSET - FACTOR * self.margin

    @property
    def base_score(self) -> FloatArray:
        """The score of a person whose every contribution were zero."""
        return OFFSET - FACTOR * self.expected

    @property
    def contribution_points(self) -> FloatArray:
        """Each contribution in points (positive: adds to the score)."""
        return -FACTOR * self.contributions


def _matrix(names: Sequence[str], features: Mapping[str, npt.ArrayLike]) -> FloatArray:
    """The named features as columns of a float matrix (NaN is missing)."""
    columns = []
    for name in names:
        if name not in features:
            raise KeyError(f"feature {name!r} is missing")
        column = np.asarray(features[name], dtype=np.float64)
        if column.ndim != 1:
            raise ValueError(f"feature {name!r} must be 1-D, got shape {column.shape}")
        columns.append(column)
    lengths = {c.size for c in columns}
    if len(lengths) > 1:
        raise ValueError(f"features have different lengths: {sorted(lengths)}")
    return np.column_stack(columns) if columns else np.empty((0, 0))


def _predict(booster: lgb.Booster, x: FloatArray, **kind: bool) -> FloatArray:
    # Booster.predict is typed for every output LightGBM has; a dense matrix gives an array.
    result: FloatArray = np.asarray(booster.predict(x, **kind), dtype=np.float64)
    return result


def _best_value(values: FloatArray, constraint: int) -> float | None:
    """The least risky value seen under `constraint`; None when unconstrained or all missing."""
    present = values[~np.isnan(values)]
    if constraint == 0 or present.size == 0:
        return None
    return float(present.min() if constraint > 0 else present.max())


def _blank_value(values: FloatArray, constraint: int) -> float | None:
    """The riskiest value seen under `constraint`, which a blank scores as; None when blanks
    were a group of their own, or the characteristic is unconstrained or never seen."""
    blanks = np.isnan(values)
    enough = blanks.sum() >= max(MISSING_MIN_ROWS, MIN_LEAF_SHARE * values.size)
    present = values[~blanks]
    if enough or constraint == 0 or present.size == 0:
        return None
    return float(present.max() if constraint > 0 else present.min())


def _fill_blanks(model: Challenger, x: FloatArray) -> FloatArray:
    """`x` with each blank replaced by its characteristic's `blank_value`, where it has one."""
    filled = x.copy()
    for i, f in enumerate(model.features):
        if f.blank_value is not None:
            column = filled[:, i]
            column[np.isnan(column)] = f.blank_value
    return filled


def _folds(groups: npt.ArrayLike, k: int) -> list[tuple[IntArray, IntArray]]:
    """k (train, validation) index pairs that never split a group."""
    _, group_of_row = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(group_of_row.max(initial=-1)) + 1
    if n_groups < 2:
        raise TrainingFailed("cross-validation needs at least two people")
    k = min(k, n_groups)
    fold_of_group = np.random.default_rng(SEED).permutation(n_groups) % k
    fold = fold_of_group[group_of_row.ravel()]
    return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i)) for i in range(k)]


def fit_challenger(
    features: Mapping[str, npt.ArrayLike],
    bad: npt.ArrayLike,
    specs: Sequence[CharacteristicSpec],
    *,
    version: str,
    training: Mapping[str, Any],
    groups: npt.ArrayLike | None = None,
) -> Challenger:
    """Fit the monotone LightGBM model. `bad` is 1 for a bad outcome; `groups` (one per row,
    e.g. person ids) keeps each group within one cross-validation fold (default: each row).

    Raises TrainingFailed when the data cannot give a model.
    """
    import lightgbm as lgb  # see the module's imports

    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("characteristic names must be unique")
    excluded = {
        s.name: "connections: kept neutral until friends' influence is bounded"
        for s in specs
        if s.dimension == Dimension.CONNECTIONS
    }
    used = [s for s in specs if s.name not in excluded]
    if not used:
        raise TrainingFailed("no characteristic is left once connections are set aside")
    for s in used:
        if s.monotone not in CONSTRAINT:
            raise ValueError(f"{s.name}: unknown monotone {s.monotone!r}")
    x = _matrix([s.name for s in used], features)
    n = x.shape[0]
    y = np.asarray(bad)
    if y.shape != (n,):
        raise ValueError(f"bad has shape {y.shape}, expected ({n},)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("bad must hold only 0 and 1")
    if np.isinf(x).any():
        raise ValueError("features must not hold infinite values")
    y = y.astype(np.int64)
    if y.min(initial=1) == y.max(initial=0):
        raise TrainingFailed("training needs both good and bad outcomes")
    row_groups = np.arange(n) if groups is None else np.asarray(groups)
    if row_groups.shape != (n,):
        raise ValueError(f"groups has shape {row_groups.shape}, expected ({n},)")

    params = {
        **PARAMS,
        "monotone_constraints": [CONSTRAINT[s.monotone] for s in used],
        "min_data_in_leaf": max(MIN_LEAF_ROWS, math.ceil(MIN_LEAF_SHARE * n)),
    }
    feature_names = [s.name for s in used]
    history = lgb.cv(
        params,
        lgb.Dataset(x, y, feature_name=feature_names, free_raw_data=False),
        num_boost_round=MAX_TREES,
        folds=_folds(row_groups, FOLDS),
        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
    )
    # Early stopping cuts the history at the best round.
    best = history["valid binary_logloss-mean"]
    assert isinstance(best, list)  # the other value cv can hold is a CVBooster, never asked for
    trees = len(best)
    fitted = lgb.train(params, lgb.Dataset(x, y, feature_name=feature_names), num_boost_round=trees)
    text = fitted.model_to_string()
    # Everything below is computed on the model rebuilt from its text, as a loaded one is.
    booster = lgb.Booster(model_str=text)
    gains = booster.feature_importance(importance_type="gain")
    if not np.any(gains > 0):
        raise TrainingFailed("no characteristic gives the model a useful split")
    contribution = _predict(booster, x, pred_contrib=True)[:, :-1]
    in_points = -FACTOR * contribution
    chosen = [
        ChallengerFeature(
            name=s.name,
            dimension=str(Dimension(s.dimension)),
            monotone=s.monotone,
            constraint=CONSTRAINT[s.monotone],
            worst_points=float(in_points[:, i].min()),
            best_points=float(in_points[:, i].max()),
            best_value=_best_value(x[:, i], CONSTRAINT[s.monotone]),
            gain=float(gains[i]),
            blank_value=_blank_value(x[:, i], CONSTRAINT[s.monotone]),
        )
        for i, s in enumerate(used)
    ]
    ranges: dict[str, tuple[float, float]] = {}
    for dimension in Dimension:
        columns = [i for i, f in enumerate(chosen) if f.dimension == dimension]
        if columns:
            total = in_points[:, columns].sum(axis=1)
            ranges[dimension.value] = (float(total.min()), float(total.max()))
    return Challenger(
        version=version,
        features=tuple(chosen),
        model_text=text,
        dimension_ranges=ranges,
        params={**params, "trees": trees, "lightgbm": lgb.__version__},
        training=dict(training),
        excluded=excluded,
    )


def margin(model: Challenger, features: Mapping[str, npt.ArrayLike]) -> FloatArray:
    """The raw margin, ln(odds of bad), per person."""
    x = _fill_blanks(model, _matrix(model.names, features))
    return _predict(model.booster, x, raw_score=True)


def raw_score(model: Challenger, features: Mapping[str, npt.ArrayLike]) -> FloatArray:
    """The unclipped score per person, OFFSET - FACTOR * margin."""
    return OFFSET - FACTOR * margin(model, features)


def explain(model: Challenger, features: Mapping[str, npt.ArrayLike]) -> Explanation:
    """Margin and TreeSHAP contributions per person, in one place."""
    values = _matrix(model.names, features)
    x = _fill_blanks(model, values)
    contributions = _predict(model.booster, x, pred_contrib=True)
    return Explanation(
        margin=_predict(model.booster, x, raw_score=True),
        contributions=contributions[:, :-1],
        expected=contributions[:, -1],
        values=values,
    )


def points(model: Challenger, explanation: Explanation) -> FloatArray:
    """Points per person (rows) and characteristic (columns, in model order); they add up to
    the raw score. Contribution in points plus an equal share of the base score."""
    share = explanation.base_score / len(model.features)
    table: FloatArray = explanation.contribution_points + share[:, None]
    return table


def dimension_scores(model: Challenger, explanation: Explanation) -> dict[Dimension, FloatArray]:
    """0-100 per dimension: the sum of its contributions in points between the training
    extremes of that sum, clipped. 50 for a dimension without characteristics (connections,
    always) or whose sum never varied in training."""
    got = explanation.contribution_points
    result: dict[Dimension, FloatArray] = {}
    for dimension in Dimension:
        columns = [i for i, f in enumerate(model.features) if f.dimension == dimension]
        low, high = model.dimension_ranges.get(dimension.value, (0.0, 0.0))
        if not columns or high == low:
            result[dimension] = np.full(got.shape[0], 50.0)
        else:
            where = (got[:, columns].sum(axis=1) - low) / (high - low)
            result[dimension] = 100.0 * np.clip(where, 0.0, 1.0)
    return result


def losses(model: Challenger, explanation: Explanation) -> FloatArray:
    """Points lost per person and characteristic against the best points seen in training;
    0 where a constrained characteristic is already at its best value (see the module doc)."""
    best = np.array([f.best_points for f in model.features], dtype=np.float64)
    lost: FloatArray = best - explanation.contribution_points
    constraint = np.array([f.constraint for f in model.features])
    best_value = np.array(
        [np.nan if f.best_value is None else f.best_value for f in model.features]
    )
    values = explanation.values
    # NaN compares false: a missing value is never "at its best".
    at_best = ((constraint > 0) & (values <= best_value)) | (
        (constraint < 0) & (values >= best_value)
    )
    lost[at_best] = 0.0
    return lost


def reasons(
    model: Challenger,
    explanation: Explanation,
    threshold: float | None = None,
    limit: int = MAX_REASONS,
) -> list[list[Reason]]:
    """Per person, (characteristic, whole points lost), largest loss first: scorecard.reasons'
    semantics on the losses of `losses`.

    Only losses worth at least one point once rounded are given, at most `limit`. With a
    `threshold` (a raw score), only as many as are needed to cover the shortfall
    `threshold - raw score` (on the exact losses): none when the person reaches it, all (up to
    `limit`) when even they do not cover it. Equal losses are listed in model order.
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    loss = losses(model, explanation)
    order = np.argsort(-loss, axis=1, kind="stable")
    ranked = np.take_along_axis(loss, order, axis=1)
    count = (ranked >= MIN_REASON_POINTS).sum(axis=1)
    if threshold is not None:
        shortfall = threshold - explanation.raw_score
        covered_before = np.cumsum(ranked, axis=1) < shortfall[:, None]
        # Sorted losses: those still short of the shortfall are a prefix; one more closes it.
        needed = np.where(shortfall > 0, covered_before.sum(axis=1) + 1, 0)
        count = np.minimum(count, needed)
    count = np.minimum(count, limit)
    width = int(count.max(initial=0))
    names = np.array(model.names, dtype=object)[order[:, :width]].tolist()
    lost = np.rint(ranked[:, :width]).astype(np.int64).tolist()
    return [
        list(zip(who[:c], amount[:c], strict=True))
        for who, amount, c in zip(names, lost, count.tolist(), strict=True)
    ]


# -- the artifact ------------------------------------------------------------------------


def model_content(model: Challenger) -> dict[str, Any]:
    """The model as plain JSON values (what the content hash covers)."""
    return {
        "version": model.version,
        "features": [
            {
                "name": f.name,
                "dimension": f.dimension,
                "monotone": f.monotone,
                "constraint": f.constraint,
                "worst_points": f.worst_points,
                "best_points": f.best_points,
                "best_value": f.best_value,
                "gain": f.gain,
                "blank_value": f.blank_value,
            }
            for f in model.features
        ],
        "dimension_ranges": {d: list(r) for d, r in model.dimension_ranges.items()},
        "params": dict(model.params),
        "training": dict(model.training),
        "metrics": dict(model.metrics),
        "excluded": dict(model.excluded),
        "library_versions": dict(model.library_versions),
        "booster": {"format": BOOSTER_FORMAT, "lines": model.model_text.split("\n")},
    }


def to_json(model: Challenger) -> str:
    """Indented JSON for the model. Raises ValueError if training or metrics hold non-JSON
    values (NaN, infinities, objects)."""
    return envelope(
        FORMAT, SCHEMA_VERSION, "model", model_content(model), f"challenger {model.version}"
    )


def from_json(text: str) -> Challenger:
    """The model in `text`; raises ArtifactRejected for anything but an intact, known one."""
    import lightgbm as lgb  # see the module's imports

    document = open_envelope(text, FORMAT)
    version = document.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise ArtifactRejected(
            f"unknown schema_version {version!r}; this kaimen reads {readable} "
            "(a newer kaimen wrote it? upgrade, or retrain with this one)"
        )
    content: Any = document.get("model")
    if content_hash(content) != document.get("content_sha256"):
        raise ArtifactRejected("content hash does not match: the model was edited or damaged")
    try:
        booster = content["booster"]
        if booster["format"] != BOOSTER_FORMAT:
            raise ValueError(f"unknown booster format {booster['format']!r}")
        return Challenger(
            version=content["version"],
            features=tuple(
                ChallengerFeature(
                    name=f["name"],
                    dimension=f["dimension"],
                    monotone=f["monotone"],
                    constraint=int(f["constraint"]),
                    worst_points=float(f["worst_points"]),
                    best_points=float(f["best_points"]),
                    best_value=None if f["best_value"] is None else float(f["best_value"]),
                    gain=float(f["gain"]),
                    blank_value=_optional_float(f["blank_value"]) if version >= 2 else None,
                )
                for f in content["features"]
            ),
            model_text="\n".join(booster["lines"]),
            dimension_ranges={
                d: (float(low), float(high))
                for d, (low, high) in content["dimension_ranges"].items()
            },
            params=content["params"],
            training=content["training"],
            metrics=content["metrics"],
            excluded=content["excluded"],
            library_versions=recorded_versions(content),
        )
    except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as error:
        raise ArtifactRejected(f"malformed challenger: {error!r}") from error


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number or null, not {value!r}")
    return float(value)
