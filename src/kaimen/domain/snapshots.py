"""A score snapshot: what a person's score was in one month under one model, and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kaimen.domain.reasons import COURT_LISTING, Reason
from kaimen.domain.scores import Dimension, DimensionScores

# A month's snapshots as a table, one column each, as the batch makes them and the store
# takes them: reasons and points as JSON text in their stored shape (below), a thin file's
# score, band and sub-scores null.
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


# The stored shape of reasons and points: a million people every month, so no name is
# repeated per person. A reason is `[feature, points_lost, value]` (a fourth item, its
# detail, when it has one), its feature the place of the characteristic among the run's
# characteristics, or its name when it is none of them (a court listing's deduction); points
# are a list in the order of the run's characteristics, whose names are stored once per run
# (`score_runs.characteristics`). As JSON objects the two were 600 of a row's 740 bytes, and
# writing those bytes most of the publication's time; the reasons' names were 76 of the 240
# bytes left (migration 0032).
# As JSON decodes it.
StoredReason = Sequence[Any]


def reasons_from_stored(names: Sequence[str], stored: Iterable[StoredReason]) -> tuple[Reason, ...]:
    """Reasons as stored (`[feature, points_lost, value, detail?]` each, the feature a place
    among the run's characteristic `names` or a name) as records."""
    return tuple(Reason(_feature(names, item[0]), *item[1:]) for item in stored)


def _feature(names: Sequence[str], stored: object) -> str:
    if isinstance(stored, str):
        return stored
    if isinstance(stored, int) and not isinstance(stored, bool) and 0 <= stored < len(names):
        return names[stored]
    raise ValueError(f"a reason names characteristic {stored!r} of {len(names)}")


def stored_reasons(names: Sequence[str], reasons: Iterable[Reason]) -> list[list[object]]:
    """Reasons in their stored shape (the inverse of `reasons_from_stored`): a feature among
    the run's characteristic `names` by its place, any other by its name."""
    places = {name: i for i, name in enumerate(names)}
    stored: list[list[object]] = []
    for r in reasons:
        item: list[object] = [places.get(r.feature, r.feature), r.points_lost, r.value]
        if r.detail is not None:
            item.append(r.detail)
        stored.append(item)
    return stored


def points_from_stored(names: Sequence[str], stored: Sequence[int | None]) -> dict[str, int]:
    """Points as stored (values in the order of the run's `names`) as a mapping; a null is a
    characteristic this snapshot has no points for, and is left out."""
    if len(stored) > len(names):
        raise ValueError(f"{len(stored)} points stored for {len(names)} characteristics")
    return {name: p for name, p in zip(names, stored, strict=False) if p is not None}


def stored_points(names: Sequence[str], points: Mapping[str, int]) -> list[int | None]:
    """Points in their stored shape: in the order of `names`, null where there are none, and
    empty for a snapshot with no points (a thin file)."""
    if not points:
        return []
    unknown = set(points) - set(names)
    if unknown:
        raise ValueError(f"points for characteristics not in the run: {sorted(unknown)}")
    return [points.get(name) for name in names]
