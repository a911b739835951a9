"""The registry's models as one interface, loading them safely, and promoting a champion.

Both kinds satisfy `ScoringModel`: the scorecard (points per bin) and the LightGBM challenger
(contributions in points). A model is loaded only when its artifact is on disk, has the
SHA-256 the registry recorded and parses as an intact artifact of its kind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.domain.errors import Conflict, NotFound, Unavailable
from kaimen.domain.scores import Dimension
from kaimen.model import artifact, challenger, scorecard
from kaimen.model.artifact import ArtifactRejected
from kaimen.model.binning import FloatArray, IntArray
from kaimen.model.challenger import Challenger
from kaimen.model.scorecard import Reason, Scorecard
from kaimen.store import audit, model_registry
from kaimen.store.model_registry import ModelRecord

Features = Mapping[str, npt.ArrayLike]


class NoModel(NotFound):
    """No trained model to score with, or no model of that version."""


class ModelIntegrityFailed(Unavailable):
    """The registered model's artifact is missing, edited or damaged: what needs the model
    (what-if, rescoring, the batch, decisions that compute) waits until it is restored;
    published scores are still served. Why is in the message (for the operator's log and
    command line); over HTTP only that the check failed."""

    problem = "model-integrity"
    title = "Model unavailable"
    public_detail = (
        "the model failed its integrity check (its artifact does not match the registry's "
        "SHA-256): published scores are still served; what needs the model waits until the "
        "operator restores its artifact"
    )
    retry_after = 60


class PromotionConflict(Conflict):
    """Another promotion (or audit entry) committed at the same time."""


@dataclass(frozen=True)
class Scored:
    """A model's verdict on people: unclipped raw scores, whole points per characteristic
    (columns in `ScoringModel.names` order), 0-100 sub-scores and reasons."""

    raw: FloatArray
    points: IntArray
    dimensions: dict[Dimension, FloatArray]
    reasons: list[list[Reason]]


class ScoringModel(Protocol):
    """What the batch and training need from a model, whatever its kind."""

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def names(self) -> tuple[str, ...]: ...

    def raw_scores(self, features: Features) -> FloatArray:
        """Unclipped scores (OFFSET + FACTOR * ln(odds of good)), one per person."""
        ...

    def score(self, features: Features) -> Scored: ...


class ScorecardModel:
    """The scorecard through `ScoringModel`; exactly the scorecard module's numbers."""

    kind = "scorecard"

    def __init__(self, card: Scorecard) -> None:
        self.card = card

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def names(self) -> tuple[str, ...]:
        return self.card.names

    def raw_scores(self, features: Features) -> FloatArray:
        return scorecard.raw_score(self.card, features).astype(np.float64)

    def score(self, features: Features) -> Scored:
        table = scorecard.points(self.card, features)
        return Scored(
            # Integer sums: exact in float64.
            raw=table.sum(axis=1).astype(np.float64),
            points=table,
            dimensions=scorecard.dimension_scores(self.card, features),
            reasons=scorecard.reasons(self.card, features),
        )


class ChallengerModel:
    """The LightGBM challenger through `ScoringModel`: one TreeSHAP pass per call to `score`.

    Points per characteristic are rounded to whole points for publication; the score comes
    from the exact margin, so they add up to it within half a point per characteristic.
    """

    kind = "lightgbm"

    def __init__(self, model: Challenger) -> None:
        self.model = model

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def names(self) -> tuple[str, ...]:
        return self.model.names

    def raw_scores(self, features: Features) -> FloatArray:
        return challenger.raw_score(self.model, features)

    def score(self, features: Features) -> Scored:
        explanation = challenger.explain(self.model, features)
        return Scored(
            raw=explanation.raw_score,
            points=np.rint(challenger.points(self.model, explanation)).astype(np.int64),
            dimensions=challenger.dimension_scores(self.model, explanation),
            reasons=challenger.reasons(self.model, explanation),
        )


def wrap(model: Scorecard | Challenger) -> ScoringModel:
    """The model behind the common interface."""
    if isinstance(model, Scorecard):
        return ScorecardModel(model)
    return ChallengerModel(model)


def to_json(model: Scorecard | Challenger) -> str:
    """The model's artifact text."""
    if isinstance(model, Scorecard):
        return artifact.to_json(model)
    return challenger.to_json(model)


def read_artifact(record: ModelRecord, lake_root: Path) -> Scorecard | Challenger:
    """The registered model from its artifact (a relative path is in the home of
    `lake_root`); ModelIntegrityFailed when missing, edited (its SHA-256 is not the
    registered one) or not an intact artifact of its kind."""
    path = model_registry.artifact_path(record.path, model_registry.home_of(lake_root))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelIntegrityFailed(f"the artifact of {record.version} is missing: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ModelIntegrityFailed(
            f"cannot read the artifact of {record.version}: {error}"
        ) from error
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != record.sha256:
        raise ModelIntegrityFailed(
            f"{path} failed its integrity check: it differs from the artifact registered as "
            f"{record.version} (edited or replaced); restore it or retrain"
        )
    try:
        model: Scorecard | Challenger = (
            artifact.from_json(text) if record.kind == "scorecard" else challenger.from_json(text)
        )
    except ArtifactRejected as error:
        raise ModelIntegrityFailed(f"{path} failed its integrity check: {error}") from error
    if model.version != record.version:
        raise ModelIntegrityFailed(f"{path} holds {model.version}, not {record.version}")
    return model


def load_model(
    engine: Engine, version: str | None = None, *, lake_root: Path
) -> tuple[str, Scorecard | Challenger]:
    """The champion (or `version`), its artifact (in the home of `lake_root`) checked
    against the registry's hash; `wrap` it for the common interface."""
    with engine.connect() as store:
        record = model_registry.get(store, version) if version else model_registry.champion(store)
    if record is None:
        raise NoModel(
            f"no model {version!r} is registered (kaimen models lists them)"
            if version
            else "no model yet: run kaimen train"
        )
    return record.version, read_artifact(record, lake_root)


def list_models(engine: Engine) -> list[ModelRecord]:
    """Every registered model, oldest first."""
    with engine.connect() as store:
        return model_registry.every(store)


@dataclass(frozen=True)
class Promotion:
    version: str
    kind: str
    previous: str | None
    changed: bool


def promote(
    engine: Engine,
    version: str,
    actor: str,
    now: dt.datetime | None = None,
    *,
    lake_root: Path,
) -> Promotion:
    """Make `version` the champion `kaimen score` uses, audit-logged in the same transaction.

    Refused (NoModel) for an unknown version and (ArtifactRejected) for one whose artifact is
    missing or edited. Promoting the champion changes nothing.
    """
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        record = model_registry.get(store, version)
    if record is None:
        raise NoModel(f"no model {version!r} is registered (kaimen models lists them)")
    try:
        read_artifact(record, lake_root)
    except ModelIntegrityFailed as failed:  # a refusal of this request, not an outage
        raise ArtifactRejected(str(failed)) from failed
    try:
        with engine.begin() as store:
            current = model_registry.champion(store)
            previous = current.version if current else None
            if previous == version:
                return Promotion(version, record.kind, previous, False)
            model_registry.promote(store, version)
            audit.append(
                store,
                actor,
                "model.promoted",
                subject=version,
                details={"kind": record.kind, "previous": previous},
                now=now,
            )
    except IntegrityError as error:
        raise PromotionConflict(
            f"another change to the registry committed while promoting {version}; "
            "nothing changed, try again"
        ) from error
    return Promotion(version, record.kind, previous, True)
