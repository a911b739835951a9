"""A score snapshot: what a person's score was in one month under one model, and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from kaimen.domain.reasons import COURT_LISTING, Reason
from kaimen.domain.scores import Dimension, DimensionScores

# A month's snapshots as a table, one column each, as the batch makes them and the store
# takes them: reasons and points as JSON text, a thin file's score, band and sub-scores null.
SNAPSHOT_COLUMNS = (
    "person_id",
    "score",
    "band",
    "thin_file",
    *(d.value for d in Dimension),
    "reasons",
    "points",
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One person, month and model. A thin file has no score, band, sub-scores (all None),
    reasons or points: it is flagged, never scored as if known."""

    person_id: str
    month: str
    model_version: str
    published_at: dt.datetime
    score: int | None
    band: str | None
    thin_file: bool
    dimensions: DimensionScores
    # Largest loss first; at most MAX_REASONS.
    reasons: tuple[Reason, ...]
    # Points per characteristic, so a change between months can be explained exactly.
    points: Mapping[str, int]

    @property
    def deduction(self) -> int:
        """Points taken off after the model: an active court listing's."""
        return sum(r.points_lost for r in self.reasons if r.feature == COURT_LISTING)

    @property
    def raw_score(self) -> int:
        """The unclipped sum of the points, less any deduction."""
        return sum(self.points.values()) - self.deduction
