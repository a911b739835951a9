"""Request and response bodies, generated from the event catalogue where they describe events."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from kaimen.domain.events import EVENT_KINDS, FIELDS, FieldType

MAX_REQUEST_EVENTS = 10_000
MAX_FIELD_CHARS = 400


def _event_field(name: str) -> tuple[Any, Any]:
    spec = FIELDS[name]
    required = name in {"source", "event_id", "person_id", "kind", "occurred_at"}
    # Numbers may come as JSON numbers or strings; the rules in ingest judge the text either way.
    annotation: Any = str
    if spec.type in (FieldType.DECIMAL, FieldType.INTEGER):
        annotation = str | int | float
    if not required:
        annotation = annotation | None
    description = spec.description
    if name == "kind":
        description += ": " + ", ".join(EVENT_KINDS)
    return (
        annotation,
        Field(
            ... if required else None,
            description=description,
            max_length=MAX_FIELD_CHARS if annotation is str else None,
        ),
    )


EventIn: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "EventIn",
    __config__=ConfigDict(extra="forbid", strict=False),
    __doc__="One event: the envelope plus the payload fields of its kind (see the catalogue).",
    **{name: _event_field(name) for name in FIELDS},
)


class Rendered(BaseModel):
    """A response body read off a service's record by attribute (dataclasses included)."""

    model_config = ConfigDict(from_attributes=True)


class EventBatch(BaseModel):
    """Up to 10,000 events, accepted or rejected together."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_REQUEST_EVENTS)


class IngestResult(BaseModel):
    total: int = Field(description="events in the request")
    new: int = Field(description="events stored for the first time")
    duplicate: int = Field(description="events already stored with the same content")


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=32, description="E.164 or an 11-digit mainland mobile number")
    national_id: str = Field(max_length=32, description="18-character resident ID (GB 11643)")


class EnrolmentOut(Rendered):
    person_id: str


class ReasonOut(Rendered):
    feature: str
    points_lost: int
    text: str = Field(description="in plain language, with the person's own value")


class MonthOut(Rendered):
    month: str
    score: int | None
    band: str | None
    change: int | None = Field(description="points since the month before")
    why: list[str] = Field(description="the characteristics that moved it most")


class ScoreOut(Rendered):
    person_id: str
    month: str
    model_version: str
    score: int | None = Field(description="350-950; empty for a thin file")
    band: str | None
    colour: str | None
    thin_file: bool
    dimensions: dict[str, int | None] = Field(description="0-100 per dimension")
    reasons: list[ReasonOut]
    history: list[MonthOut]


class ChangeOut(Rendered):
    feature: str
    description: str = Field(description="what the characteristic measures")
    current_value: float | str | None = Field(
        description="the person's value now (a category for a categorical one); empty if none"
    )
    current_label: str
    new_value: float | str = Field(description="a value in the new bin, the nearest to today's")
    new_label: str
    points_added: int


class PlanOut(Rendered):
    person_id: str
    month: str = Field(description="the month of the score the plan starts from")
    model_version: str
    score: int
    target: int
    reachable: bool = Field(description="false when even every actionable change falls short")
    changes: list[ChangeOut] = Field(description="the fewest actionable changes that reach it")
    new_score: int = Field(description="the score with every change made")


CharacteristicName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Category = Annotated[str, StringConstraints(max_length=200)]


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[CharacteristicName, float | Category | None] = Field(
        min_length=1,
        max_length=64,
        description="characteristic -> the value to try (null: nothing on record)",
    )


class WhatIfOut(Rendered):
    person_id: str
    month: str
    model_version: str
    score: int
    new_score: int
    points_change: dict[str, int] = Field(description="characteristics whose points moved")


def as_text(value: Any) -> str | None:
    """A JSON value as the text the ingest rules read (numbers keep their JSON spelling)."""
    if value is None or isinstance(value, str):
        return value
    return repr(value) if isinstance(value, float) else str(value)
