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
from kaimen.domain.reasons import COURT_LISTING
from kaimen.domain.scores import BANDS, DimensionScores
from kaimen.domain.snapshots import Snapshot
from kaimen.features.catalogue import CATALOGUE

# Why an operator's read of someone's score is in that person's access log.
ADMINISTRATION = "administration"
MOVERS = 3
# A mover that is not a characteristic: the model behind the score changed.
NEW_MODEL = "new_model"


class NoScore(NotFound):
    """The person has no published score (unknown, not yet scored, or a thin file)."""

    # Over HTTP, the same words whoever asks about whomever.
    public_detail = "no published score for this person"


@dataclass(frozen=True)
class ExplainedReason:
    """A snapshot's reason as the person reads it; `value` and `detail` are what `text` was
    made of (`reason_text`), so a page can say the same in another language."""

    feature: str
    points_lost: int
    text: str
    value: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Mover:
    """One thing that moved a month's score: a characteristic of the card (`what` is its
    name) or the court listing deduction (`what` is COURT_LISTING), by `points`; or a new
    model (`what` is NEW_MODEL, `models` its old and new versions), whose points do not
    compare."""

    what: str
    points: int = 0
    models: tuple[str, str] | None = None


@dataclass(frozen=True)
class Month:
    month: str
    score: int | None
    band: str | None
    change: int | None
    why: list[str]
    # What `why` says, in parts (the same order).
    movers: list[Mover] = field(default_factory=list)


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


def reason_template(feature: str) -> str:
    """The catalogue's reason for a characteristic, with `{value}` where the person's own
    value goes: the one definition of the sentence (pages translate it as a whole)."""
    return CATALOGUE[feature].reason


def description_of(feature: str) -> str:
    """What a characteristic measures, in the catalogue's words (one sentence)."""
    return CATALOGUE[feature].description


def on_record(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def filled(template: str, value: float) -> str:
    """A reason's template with the person's value (a whole number without decimals)."""
    shown: int | float = int(value) if float(value).is_integer() else value
    return template.format(value=shown)


def reason_text(feature: str, value: float | None, detail: str | None = None) -> str:
    """The catalogue's plain-language reason, with the person's own value (or the reason's
    own words, for one outside the catalogue such as a court listing)."""
    if detail is not None:
        return detail
    if value is None or not on_record(value):
        description = description_of(feature)
        return f"nothing on record for: {description[0].lower()}{description[1:]}"
    return filled(reason_template(feature), value)


def mover_text(mover: Mover) -> str:
    """A mover as `Month.why` says it."""
    if mover.models is not None:
        return f"the model changed from {mover.models[0]} to {mover.models[1]}"
    sign = "+" if mover.points > 0 else ""
    if mover.what == COURT_LISTING:
        return f"court listing deduction: {sign}{mover.points} points"
    return f"{description_of(mover.what).rstrip('.')}: {sign}{mover.points} points"


def _movers(newer: Snapshot, older: Snapshot) -> list[Mover]:
    if newer.model_version != older.model_version:
        # Points of different models do not compare: say what happened instead.
        return [Mover(NEW_MODEL, models=(older.model_version, newer.model_version))]
    changes = {
        name: newer.points.get(name, 0) - older.points.get(name, 0)
        for name in set(newer.points) | set(older.points)
    }
    ranked = sorted((c for c in changes.items() if c[1]), key=lambda c: (-abs(c[1]), c[0]))
    movers = [Mover(name, delta) for name, delta in ranked[:MOVERS]]
    deducted = older.deduction - newer.deduction
    if deducted:
        movers.insert(0, Mover(COURT_LISTING, deducted))
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
        movers = _movers(snapshot, older) if older is not None and change else []
        why = [mover_text(m) for m in movers]
        history.append(Month(snapshot.month, snapshot.score, snapshot.band, change, why, movers))
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
            ExplainedReason(
                r.feature,
                r.points_lost,
                reason_text(r.feature, r.value, r.detail),
                r.value,
                r.detail,
            )
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
