"""A trained model's metrics: how well it ranked and how well it was calibrated, on its
training rows and out of time, and how it compared with the models trained beside it.

Training computes them, the registry stores them as JSON (sorted keys) and the model card and
the command line show them. Fields with a default were not always recorded; a record read from
JSON remembers which were present (`model_dump(exclude_unset=True)`), so reading an older
record and writing it again gives back the same JSON.
"""

from __future__ import annotations

import json

from kaimen.domain.records import FrozenRecord


class BandOutcome(FrozenRecord):
    """A band of the published score: how many people fell in it and how many went bad."""

    band: str
    count: int
    bad_rate: float | None  # None for a band nobody falls in
    # The mean probability of bad the model gave the band's people; None for an empty band.
    expected_bad_rate: float | None = None


class Evaluation(FrozenRecord):
    """AUC, KS and Gini of the published score (rounded to 4 places), and bad rates."""

    rows: int
    bad_rate: float
    expected_bad_rate: float | None = None
    auc: float
    ks: float
    gini: float
    bad_rate_by_band: tuple[BandOutcome, ...]


class ComparedModel(FrozenRecord):
    version: str
    kind: str
    auc: float
    ks: float
    gini: float


class Comparison(FrozenRecord):
    """Every model of one training, judged on the same out-of-time month."""

    out_of_time: str
    models: tuple[ComparedModel, ...]


class ModelMetrics(FrozenRecord):
    """Each figure says what rows it was measured on (`about` spells it out per figure):

    - `training`: the rows the model was fitted on (in sample, optimistic);
    - `held_out_people`: people held out of training, at the training snapshots;
    - `out_of_time`: people held out of training, at the out-of-time month after the training
      snapshots. Its 12-month outcome window overlaps the training outcome windows by up to
      11 months, so it is not a period the model never saw;
    - `out_of_window`: the same training recipe refitted on snapshots whose outcome windows
      all ended by the out-of-time month, judged on the held-out people there: outcomes no
      fit saw. None when the lake's history is too short (`about` says why).
    """

    training: Evaluation | None = None
    out_of_time: Evaluation | None = None
    comparison: Comparison | None = None
    held_out_people: Evaluation | None = None
    out_of_window: Evaluation | None = None
    about: dict[str, str] | None = None

    def to_json(self) -> str:
        """The JSON the registry stores: sorted keys, only the fields that were recorded."""
        return json.dumps(self.model_dump(mode="json", exclude_unset=True), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetrics:
        return cls.model_validate_json(text)
