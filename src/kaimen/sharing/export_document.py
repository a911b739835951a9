"""The own-data export's document (format `kaimen.own-data/1`), as the person receives it.

Times are ISO 8601 text in UTC and amounts exact text, so the document reads the same
whatever reads it. Each section is made from the store's record of the same thing.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from kaimen.domain.decisions import Decision, DecisionReason
from kaimen.domain.json_values import JsonObject
from kaimen.domain.reasons import Reason
from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import Snapshot
from kaimen.store.access_log import Access
from kaimen.store.consents import Consent

FORMAT = "kaimen.own-data/1"


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def maybe_utc_text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else utc_text(moment)


class ExportPerson(BaseModel):
    person_id: str
    enrolled_at: str
    birth_date: str
    status: str
    phone: str
    national_id: str


class ExportScore(BaseModel):
    month: str
    model_version: str
    published_at: str
    score: int | None = Field(description="empty for a thin file")
    band: str | None
    thin_file: bool
    dimensions: dict[Dimension, int | None]
    reasons: list[Reason]
    points: dict[str, int] = Field(description="points per characteristic")

    @classmethod
    def of(cls, snapshot: Snapshot) -> ExportScore:
        return cls(
            month=snapshot.month,
            model_version=snapshot.model_version,
            published_at=utc_text(snapshot.published_at),
            score=snapshot.score,
            band=snapshot.band,
            thin_file=snapshot.thin_file,
            dimensions=dict(snapshot.dimensions),
            reasons=list(snapshot.reasons),
            points=dict(snapshot.points),
        )


class ExportConsent(BaseModel):
    consent_id: int
    partner_id: str
    purpose: str
    share_score: bool
    granted_at: str
    expires_at: str | None
    revoked_at: str | None
    state: Literal["live", "expired", "revoked"]

    @classmethod
    def of(cls, consent: Consent, now: dt.datetime) -> ExportConsent:
        if consent.revoked_at is not None:
            state: Literal["live", "expired", "revoked"] = "revoked"
        else:
            state = "live" if consent.live_at(now) else "expired"
        return cls(
            consent_id=consent.consent_id,
            partner_id=consent.partner_id,
            purpose=consent.purpose,
            share_score=consent.share_score,
            granted_at=utc_text(consent.granted_at),
            expires_at=maybe_utc_text(consent.expires_at),
            revoked_at=maybe_utc_text(consent.revoked_at),
            state=state,
        )


class ExportAccess(BaseModel):
    accessed_at: str
    actor: str
    purpose: str
    what: str
    disclosed: JsonObject

    @classmethod
    def of(cls, access: Access) -> ExportAccess:
        return cls(
            accessed_at=utc_text(access.accessed_at),
            actor=access.actor,
            purpose=access.purpose,
            what=access.what,
            disclosed=access.disclosed,
        )


class ExportDecision(BaseModel):
    decision_id: str
    partner_id: str
    offer_id: int
    decided_at: str
    month: str | None
    model_version: str | None
    approved: bool
    score: int | None
    points_short: int | None
    reasons: list[DecisionReason]
    score_shared: bool

    @classmethod
    def of(cls, decision: Decision) -> ExportDecision:
        return cls(
            decision_id=decision.decision_id,
            partner_id=decision.partner_id,
            offer_id=decision.offer_id,
            decided_at=utc_text(decision.decided_at),
            month=decision.month,
            model_version=decision.model_version,
            approved=decision.approved,
            score=decision.score,
            points_short=decision.points_short,
            reasons=list(decision.reasons),
            score_shared=decision.score_shared,
        )


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
