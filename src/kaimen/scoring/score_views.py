"""A person's score as they read it, built from their published snapshots: latest score,
band, dimensions, reasons, and history with the change since the month before and the
characteristics that moved it. No store here: the readers hand the snapshots in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import TypeAdapter

from kaimen.domain.errors import NotFound
from kaimen.domain.json_values import JsonObject
from kaimen.domain.scores import BANDS, DimensionScores
from kaimen.domain.snapshots import Snapshot
from kaimen.features.catalogue import CATALOGUE

# Why an operator's read of someone's score is in that person's access log.
ADMINISTRATION = "administration"
MOVERS = 3


class NoScore(NotFound):
    """The person has no published score (unknown, not yet scored, or a thin file)."""

    # Over HTTP, the same words whoever asks about whomever.
    public_detail = "no published score for this person"


@dataclass(frozen=True)
class ExplainedReason:
    """A snapshot's reason as the person reads it."""

    feature: str
    points_lost: int
    text: str


@dataclass(frozen=True)
class Month:
    month: str
    score: int | None
    band: str | None
    change: int | None
    why: list[str]


@dataclass(frozen=True)
class Correction:
    """A published score changed between monthly runs, and why (a dispute answered, a court
    listing entered or lifted, an identity link undone)."""

    revised_at: str
    month: str
    score_before: int | None
    score_after: int | None
    cause: str
    why: str


@dataclass(frozen=True)
class ScoreView:
    person_id: str
    month: str
    model_version: str
    score: int | None
    band: str | None
    colour: str | None
    thin_file: bool
    dimensions: DimensionScores
    reasons: list[ExplainedReason]
    history: list[Month]
    # Newest first.
    corrections: list[Correction] = field(default_factory=list)


def reason_text(feature: str, value: float | None, detail: str | None = None) -> str:
    """The catalogue's plain-language reason, with the person's own value (or the reason's
    own words, for one outside the catalogue such as a court listing)."""
    if detail is not None:
        return detail
    spec = CATALOGUE[feature]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"nothing on record for: {spec.description[0].lower()}{spec.description[1:]}"
    shown: int | float = int(value) if float(value).is_integer() else value
    return spec.reason.format(value=shown)


def _movers(newer: Snapshot, older: Snapshot) -> list[str]:
    if newer.model_version != older.model_version:
        # Points of different models do not compare: say what happened instead.
        return [f"the model changed from {older.model_version} to {newer.model_version}"]
    changes = {
        name: newer.points.get(name, 0) - older.points.get(name, 0)
        for name in set(newer.points) | set(older.points)
    }
    ranked = sorted((c for c in changes.items() if c[1]), key=lambda c: (-abs(c[1]), c[0]))
    movers = [
        f"{CATALOGUE[name].description.rstrip('.')}: {'+' if delta > 0 else ''}{delta} points"
        for name, delta in ranked[:MOVERS]
    ]
    deducted = older.deduction - newer.deduction
    if deducted:
        sign = "+" if deducted > 0 else ""
        movers.insert(0, f"court listing deduction: {sign}{deducted} points")
    return movers


def view_of(
    person_id: str, snapshots: Sequence[Snapshot], corrections: Sequence[Correction] = ()
) -> ScoreView | None:
    """The view of `snapshots` (newest month first) and the corrections made to them since
    they were published; None when there are none."""
    if not snapshots:
        return None
    latest = snapshots[0]
    history: list[Month] = []
    for index, snapshot in enumerate(snapshots):
        older = snapshots[index + 1] if index + 1 < len(snapshots) else None
        change = (
            snapshot.score - older.score
            if older is not None and snapshot.score is not None and older.score is not None
            else None
        )
        why = _movers(snapshot, older) if older is not None and change else []
        history.append(Month(snapshot.month, snapshot.score, snapshot.band, change, why))
    colour = next((b.colour for b in BANDS if b.name == latest.band), None)
    return ScoreView(
        person_id=person_id,
        month=latest.month,
        model_version=latest.model_version,
        score=latest.score,
        band=latest.band,
        colour=colour,
        thin_file=latest.thin_file,
        dimensions=latest.dimensions,
        reasons=[
            ExplainedReason(r.feature, r.points_lost, reason_text(r.feature, r.value, r.detail))
            for r in latest.reasons
        ],
        history=history,
        corrections=list(corrections),
    )


def shown(view: object) -> JsonObject:
    """What a reader was shown, for the person's access log: the record as JSON, without the
    id the reader already named."""
    fields: JsonObject = TypeAdapter(type(view)).dump_python(view, mode="json")
    fields.pop("person_id", None)
    return fields
