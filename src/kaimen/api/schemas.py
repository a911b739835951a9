"""Request and response bodies, generated from the event catalogue where they describe events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    create_model,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

from kaimen.domain.events import (
    ENVELOPE,
    EVENT_KINDS,
    FIELDS,
    PAYLOAD,
    EventKind,
    FieldSpec,
    FieldType,
)
from kaimen.domain.scores import BANDS
from kaimen.domain.value_domains import ValueDomain
from kaimen.scoring.way_up import what_if_domains

MAX_REQUEST_EVENTS = 10_000
MAX_FIELD_CHARS = 400

EventRecord = dict[str, str | None]
# Built at run time: to mypy, SkipJsonSchema is a type alias rather than something to subscript.
_UNSHOWN: Any = SkipJsonSchema


def _annotation(spec: FieldSpec) -> Any:
    """Text, or for numbers text or a JSON number (strictly: `true` is not 1): the ingest
    rules judge the text either way.
    Only the envelope's required fields are capped here: a capped string must be valid
    Unicode, and other text is left to the rules, which name what is wrong with it."""
    text: Any = Annotated[str, Field(max_length=MAX_FIELD_CHARS)] if spec.required else str
    if spec.type in (FieldType.DECIMAL, FieldType.INTEGER):
        return text | StrictInt | StrictFloat
    return text


def _event_field(spec: FieldSpec, required: bool, kind: EventKind) -> tuple[Any, Any]:
    choices = kind.choices.get(spec.name)
    schema_extra: JsonDict | None = {"enum": list(choices)} if choices else None
    if required:
        return _annotation(spec), Field(
            description=spec.description, json_schema_extra=schema_extra
        )
    return (
        _annotation(spec) | None,
        Field(None, description=spec.description, json_schema_extra=schema_extra),
    )


def _event_model(kind: EventKind) -> type[BaseModel]:
    """The HTTP shape of one kind: the envelope, its own fields required or optional as the
    catalogue says, and nothing else."""
    fields: dict[str, tuple[Any, Any]] = {
        spec.name: _event_field(spec, spec.required, kind) for spec in ENVELOPE
    }
    fields["kind"] = (Literal[kind.name], Field(description=kind.description))
    fields |= {name: _event_field(FIELDS[name], True, kind) for name in kind.required}
    fields |= {name: _event_field(FIELDS[name], False, kind) for name in kind.optional}
    # Another kind's field is let through, unshown, for the ingest rules to refuse with
    # "not a field of ... events" (or to pass when empty), as they do for files.
    fields |= {
        spec.name: (_UNSHOWN[_annotation(spec) | None], None)
        for spec in PAYLOAD
        if spec.name not in kind.fields
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        "".join(part.title() for part in kind.name.split("_")) + "Event",
        __config__=ConfigDict(extra="forbid", strict=False),
        __doc__=f"An event of kind {kind.name}: {kind.description}.",
        **fields,
    )


if TYPE_CHECKING:
    EventIn = BaseModel
else:  # one model per kind, told apart by `kind`, so the OpenAPI document shows each one
    EventIn = Annotated[
        Union[tuple(_event_model(kind) for kind in EVENT_KINDS.values())],  # noqa: UP007
        Field(discriminator="kind"),
    ]


class Rendered(BaseModel):
    """A response body read off a service's record by attribute (dataclasses included)."""

    model_config = ConfigDict(from_attributes=True)


class EventBatch(BaseModel):
    """Up to 10,000 events, accepted or rejected together."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_REQUEST_EVENTS)


def event_records(batch: EventBatch) -> list[EventRecord]:
    """The batch as the ingest rules read it: every catalogue field of every event, as text."""
    records = []
    for event in batch.events:
        values = event.model_dump()
        records.append({name: as_text(values[name]) for name in FIELDS})
    return records


class IngestResult(BaseModel):
    total: int = Field(description="events in the request")
    new: int = Field(description="events stored for the first time")
    duplicate: int = Field(description="events already stored with the same content")


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=32, description="E.164 or an 11-digit mainland mobile number")
    national_id: str = Field(max_length=32, description="18-character resident ID (GB 11643)")
    name: str | None = Field(
        default=None,
        max_length=256,
        description="optional: Hanzi or Pinyin, 1-64 letters, spaces, hyphens, apostrophes "
        "and middle dots (whitespace runs become one space); kept encrypted",
    )


class EnrolmentOut(Rendered):
    person_id: str


class ReasonOut(Rendered):
    feature: str
    points_lost: int
    text: str = Field(description="in plain language, with the person's own value")


class MonthOut(Rendered):
    month: str
    score: int | None
    band: BandName | None
    change: int | None = Field(description="points since the month before")
    why: list[str] = Field(description="the characteristics that moved it most")


class CorrectionOut(Rendered):
    revised_at: str = Field(description="when the published score was corrected (UTC)")
    month: str
    score_before: int | None
    score_after: int | None
    cause: str = Field(description="dispute, court_list, identity_link, settlement, retention")
    why: str


def _json_integer(value: Any) -> Any:
    """A JSON integer as JSON Schema reads one: 2.0 is the integer 2, while true and "2" are
    no numbers at all (pydantic's strict integers refuse 2.0, its lax ones accept "2")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "Input should be a whole number")
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_json_integer)]


class OneOf:
    """A text that is one of `choices`: an enum in the OpenAPI document, checked as one."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.literal_schema(list(self.choices))


BandName = Annotated[str, OneOf(tuple(b.name for b in BANDS))]


class ScoreOut(Rendered):
    person_id: str
    month: str
    model_version: str
    score: int | None = Field(description="350-950; empty for a thin file")
    band: BandName | None
    colour: str | None
    thin_file: bool
    dimensions: dict[str, int | None] = Field(description="0-100 per dimension")
    reasons: list[ReasonOut]
    history: list[MonthOut]
    corrections: list[CorrectionOut] = Field(
        description="changes to published scores between monthly runs, newest first, and why"
    )


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


def _domain_schema(domain: ValueDomain) -> JsonDict:
    schema: JsonDict = {
        "type": ["number", "null"],
        "minimum": domain.low,
        "maximum": domain.high,
    }
    if domain.whole:
        schema["multipleOf"] = 1
    return schema


def _known_characteristics(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(what_if_domains()))
    if unknown:
        raise PydanticCustomError(
            "unknown_characteristic",
            "not a characteristic a what-if can change: {names}",
            {"names": ", ".join(unknown)},
        )
    return values


# The characteristics a what-if may change and the values each can take, from their one
# definition (the feature catalogue's domains); the champion card may use fewer (422).
WhatIfValues = Annotated[
    dict[CharacteristicName, StrictFloat | Category | None],
    AfterValidator(_known_characteristics),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                name: _domain_schema(domain) for name, domain in sorted(what_if_domains().items())
            },
            "additionalProperties": False,
            "minProperties": 1,
        }
    ),
]


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: WhatIfValues = Field(
        min_length=1,
        max_length=64,
        description="characteristic -> the value to try (null: nothing on record); a "
        "characteristic the champion card does not use is refused (422)",
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
