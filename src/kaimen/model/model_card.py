"""The model card of one model in one month: what the model is for, what it was trained on, how
it did out of time, whether the month's population has shifted and, once outcomes are known,
whether its probabilities came true.

The card is written as JSON (`to_json`, the source) and its Markdown is rendered from that JSON
(`model_card_markdown`). A section that cannot be computed says why (`Unavailable`). Fields with
a default are left out of the JSON when they were not set, as the card always did.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field

from kaimen.domain.model_metrics import Evaluation
from kaimen.domain.records import FrozenRecord
from kaimen.model.evaluation import Calibration
from kaimen.model.fairness import FairnessReport
from kaimen.model.stability import Level, StabilityItem

FORMAT = "kaimen.model_card"
SCHEMA_VERSION = 1


class Unavailable(FrozenRecord):
    """A section that could not be computed, and why."""

    unavailable: str


class ModelSection(FrozenRecord):
    version: str
    kind: str
    champion: bool
    trained_at: str
    as_of: str
    artifact: str
    artifact_sha256: str


class IntendedUse(FrozenRecord):
    purpose: str
    population: str
    use_with: str
    not_for: tuple[str, ...]


class TrainingData(FrozenRecord):
    """The training facts the artifact records; None where it does not record one."""

    as_of: str | None
    snapshots: tuple[str, ...] | None
    out_of_time: str | None
    outcome_months: int | None
    rows: int | None
    bad_rate: float | None
    data_fingerprint: str | None


class DescribedCharacteristic(FrozenRecord):
    """A characteristic the model uses. A scorecard gives its IV and number of bins; a
    LightGBM model, which has neither, the total gain of its splits."""

    name: str
    dimension: str
    direction: str
    information_value: float | None
    bins: int | None
    gain: float | None
    risk: str
    description: str


class ExcludedCharacteristic(FrozenRecord):
    name: str
    reason: str


class Characteristics(FrozenRecord):
    on_card: tuple[DescribedCharacteristic, ...]
    excluded: tuple[ExcludedCharacteristic, ...]

    @property
    def measured_by_gain(self) -> bool:
        """Whether the characteristics come with split gain (a LightGBM model's) rather than
        IV and bins (a scorecard's)."""
        return any(c.gain is not None for c in self.on_card)


class Population(FrozenRecord):
    people: int
    scored: int
    thin_files: int


class LevelBounds(FrozenRecord):
    stable: str
    watch: str
    act: str


class StabilityMethod(FrozenRecord):
    score_bins: str
    characteristic_bins: str
    epsilon: float
    levels: LevelBounds


class Stability(FrozenRecord):
    month: str
    population: Population
    method: StabilityMethod
    score: StabilityItem | Unavailable
    characteristics: tuple[StabilityItem, ...] | Unavailable
    worst_level: Level | None

    @property
    def measured(self) -> tuple[StabilityItem, ...]:
        """The score, then each characteristic, that could be measured."""
        items = (
            self.score,
            *(() if isinstance(self.characteristics, Unavailable) else self.characteristics),
        )
        return tuple(i for i in items if isinstance(i, StabilityItem))

    @property
    def unavailable(self) -> tuple[str, ...]:
        """Why the score or the characteristics could not be measured."""
        return tuple(
            s.unavailable for s in (self.score, self.characteristics) if isinstance(s, Unavailable)
        )


class OutcomeWindow(FrozenRecord):
    first: str = Field(alias="from")
    to: str
    months: int


class PendingOutcomes(FrozenRecord):
    status: Literal["pending"]
    window: OutcomeWindow
    lake_reaches: str | None
    known_after: str
    message: str


class KnownOutcomes(FrozenRecord):
    """Observed against expected per band and overall, and the month's discrimination; AUC, KS
    and Gini are None, and `note` says why, when everyone went bad or nobody did."""

    status: Literal["known"]
    window: OutcomeWindow
    lake_reaches: str | None
    as_of: str | None
    bands: tuple[Calibration, ...]
    overall: Calibration
    auc: float | None
    ks: float | None
    gini: float | None
    note: str | None = None


Outcomes = Annotated[PendingOutcomes | KnownOutcomes, Field(discriminator="status")]


class ModelCard(FrozenRecord):
    format: Literal["kaimen.model_card"]
    schema_version: Literal[1]
    month: str
    generated_at: str
    model: ModelSection
    intended_use: IntendedUse
    training: TrainingData
    characteristics: Characteristics
    out_of_time: Evaluation | Unavailable
    stability: Stability
    outcomes: Outcomes
    limits: tuple[str, ...]
    # What each training figure was measured on (kaimen.domain.model_metrics.ModelMetrics),
    # and the two held-out figures beside out_of_time; absent on cards of older models.
    held_out_people: Evaluation | Unavailable | None = None
    out_of_window: Evaluation | Unavailable | None = None
    evaluation_about: dict[str, str] | None = None
    # The latest `kaimen fairness` report of this model, when one was made (left out if not).
    fairness: FairnessReport | None = None

    def to_json(self) -> str:
        """The card's JSON document, indented, keys in the order of the fields."""
        document = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.model_validate_json(text)
