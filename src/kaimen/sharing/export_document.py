"""The own-data export's document (format `kaimen.own-data/1`), as the person receives it.

Times are ISO 8601 text in UTC and amounts exact text, so the document reads the same
whatever reads it. Each section is made from the store's record of the same thing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from kaimen.domain.decisions import DecisionReason
from kaimen.domain.json_values import JsonObject
from kaimen.domain.reasons import Reason
from kaimen.domain.scores import Dimension
from kaimen.store.consents import Consent

FORMAT = "kaimen.own-data/1"
ConsentState = Literal["live", "expired", "revoked"]


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _as_utc_text(value: object) -> object:
    return utc_text(value) if isinstance(value, dt.datetime) else value


# A time as ISO 8601 text in UTC; a section made from a record's datetime writes it so.
UtcText = Annotated[str, BeforeValidator(_as_utc_text)]


class Section(BaseModel):
    """A part of the document, made from the store's record of the same thing: the fields
    it names are read from the record's attributes."""

    model_config = ConfigDict(from_attributes=True)


class ExportPerson(BaseModel):
    person_id: str
    enrolled_at: str
    birth_date: str
    status: str
    phone: str
    national_id: str
    name: str | None = Field(default=None, description="as given at enrolment, if given")
    frozen_at: str | None = Field(default=None, description="set while my file is frozen")


class ExportScore(Section):
    month: str
    model_version: str
    published_at: UtcText
    score: int | None = Field(description="empty for a thin file")
    band: str | None
    thin_file: bool
    dimensions: dict[Dimension, int | None]
    reasons: list[Reason]
    points: dict[str, int] = Field(description="points per characteristic")


class ExportConsent(BaseModel):
    consent_id: int
    partner_id: str
    purpose: str
    share_score: bool
    granted_at: str
    expires_at: str | None
    revoked_at: str | None
    state: ConsentState

    @classmethod
    def of(cls, consent: Consent, now: dt.datetime) -> ExportConsent:
        if consent.revoked_at is not None:
            state: ConsentState = "revoked"
        else:
            state = "live" if consent.live_at(now) else "expired"
        return cls(
            consent_id=consent.consent_id,
            partner_id=consent.partner_id,
            purpose=consent.purpose,
            share_score=consent.share_score,
            granted_at=utc_text(consent.granted_at),
            expires_at=None if consent.expires_at is None else utc_text(consent.expires_at),
            revoked_at=None if consent.revoked_at is None else utc_text(consent.revoked_at),
            state=state,
        )


class ExportAccess(Section):
    accessed_at: UtcText
    actor: str
    purpose: str
    what: str
    disclosed: JsonObject
    # "probing", or "refused: <reason>" (see the access-log API).
    flag: str | None = None


class ExportDecision(Section):
    decision_id: str
    partner_id: str
    offer_id: int
    decided_at: UtcText
    month: str | None
    model_version: str | None
    approved: bool
    score: int | None
    points_short: int | None
    reasons: list[DecisionReason]
    score_shared: bool


class ExportListing(BaseModel):
    """A court listing linked to the person, and how the link was made."""

    listing_id: str
    case_number: str
    court: str
    amount: str
    currency: str
    judgment_date: str
    status: str
    link_id: str
    link_method: str
    match_probability: float
    linked_at: str


class ExportDispute(BaseModel):
    dispute_id: str
    item_kind: str
    item_ref: str
    furnisher: str
    state: str
    statement: str
    filed_at: str
    answer_due_at: str
    answered_at: str | None


class ExportCorrection(BaseModel):
    revised_at: str
    month: str
    score_before: int | None
    score_after: int | None
    cause: str
    why: str


class ExportConnections(BaseModel):
    counts_friends: bool = Field(description="my friends' scores may count in mine")
    counts_friends_set_at: str | None
    lends_score: bool = Field(description="my score may count for my friends")
    lends_score_set_at: str | None
    points_added: list[ExportFriendsPoints] = Field(
        default_factory=list, description="what friends added to each published score"
    )


class ExportFriendsPoints(BaseModel):
    month: str
    model_version: str
    points: int
    friends_counted: int
    points_before_band: int | None = Field(
        description="what the friends would have added before the cut to the score's band "
        "(kept for the what-if); null for a score published before it was kept"
    )


class ExportPointsEntry(BaseModel):
    entry_id: str
    rule_id: str
    kind: str = Field(description="award or reversal")
    source: str
    event_id: str
    points: int
    month: str
    expires_on: str | None
    halves_every_months: int | None
    awarded_at: str
    reverses: str | None
    reason: str | None


class ExportAlert(Section):
    alert_id: int
    kind: str
    ref: str
    raised_at: UtcText
    read_at: UtcText | None
    details: JsonObject


class ExportDocument(BaseModel):
    """Everything kaimen holds about the person. Events keep every field they were reported
    with, `source` naming who reported them; times are ISO 8601 in UTC, amounts exact text."""

    format: str = Field(description=f"'{FORMAT}'")
    exported_at: str
    person: ExportPerson
    # Free-form per event: which fields an event has depends on its kind (see the catalogue).
    events: list[JsonObject] = Field(description="in the lake, oldest first")
    events_received_not_yet_in_lake: list[JsonObject]
    scores: list[ExportScore] = Field(description="every published snapshot, every model")
    consents: list[ExportConsent]
    access_log: list[ExportAccess] = Field(description="who read my data, newest first")
    decisions: list[ExportDecision] = Field(description="partners' decisions about me")
    court_listings: list[ExportListing] = Field(
        default_factory=list, description="court listings linked to me, live links only"
    )
    disputes: list[ExportDispute] = Field(default_factory=list, description="newest first")
    score_corrections: list[ExportCorrection] = Field(
        default_factory=list, description="published scores corrected since, and why"
    )
    connections: ExportConnections | None = Field(
        default=None, description="my choices about friends' scores, and what friends added"
    )
    points_ledger: list[ExportPointsEntry] = Field(
        default_factory=list, description="every entry of my points ledger, oldest first"
    )
    alerts: list[ExportAlert] = Field(default_factory=list, description="newest first")
