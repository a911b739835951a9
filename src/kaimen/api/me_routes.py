"""The person's own view (their token only): consents, the access log, decisions about them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from kaimen.api import problems
from kaimen.api.auth import Caller, require_person
from kaimen.api.partner_routes import MAX_ID, PARTNER_ID
from kaimen.domain.decisions import DecisionReason
from kaimen.domain.json_values import JsonObject
from kaimen.store import access_log, audit, consents, decisions

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": problems.Problem, "description": "missing or unknown credentials"},
    403: {"model": problems.Problem, "description": "only the person, with their own token"},
    422: {"model": problems.Problem, "description": "invalid input; nothing stored"},
}
Person = Annotated[Caller, Depends(require_person)]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(min_length=3, max_length=64, pattern=PARTNER_ID)
    purpose: Literal["decision", "report", "feedback"]
    expires_at: AwareDatetime | None = Field(default=None, description="none: until revoked")
    share_score: StrictBool = Field(
        default=False, description="decision only: the partner may see the score and points"
    )


class ConsentOut(BaseModel):
    consent_id: int
    partner_id: str
    purpose: str
    share_score: bool
    granted_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    live: bool


class AccessOut(BaseModel):
    accessed_at: dt.datetime
    actor: str = Field(description="who read: 'admin' or 'partner:<id>'")
    purpose: str
    what: str = Field(description="score, decision, report, whatif")
    disclosed: JsonObject = Field(description="what they were shown")


class MyDecisionOut(BaseModel):
    decision_id: str
    partner_id: str
    offer_id: int
    decided_at: dt.datetime
    approved: bool
    score: int | None
    points_short: int | None
    reasons: list[DecisionReason]
    score_shared: bool


def _consent_out(consent: consents.Consent, now: dt.datetime) -> ConsentOut:
    return ConsentOut(
        consent_id=consent.consent_id,
        partner_id=consent.partner_id,
        purpose=consent.purpose,
        share_score=consent.share_score,
        granted_at=consent.granted_at,
        expires_at=consent.expires_at,
        revoked_at=consent.revoked_at,
        live=consent.live_at(now),
    )


@router.get(
    "/v1/me/consents",
    response_model=list[ConsentOut],
    tags=["me"],
    responses=ERRORS,
    summary="My consents, live and past (the person)",
)
def get_consents(request: Request, me: Person) -> list[ConsentOut]:
    now = dt.datetime.now(dt.UTC)
    with request.app.state.engine.connect() as store:
        return [_consent_out(c, now) for c in consents.of_person(store, me.person_id or "")]


@router.post(
    "/v1/me/consents",
    response_model=ConsentOut,
    status_code=201,
    tags=["me"],
    responses=ERRORS,
    summary="Grant a partner consent for one purpose (the person)",
)
def post_consent(body: ConsentIn, request: Request, me: Person) -> ConsentOut:
    """Replaces any live consent for the same partner and purpose."""
    now = dt.datetime.now(dt.UTC)

    def work(store: Any) -> consents.Consent:
        consent = consents.grant(
            store,
            me.person_id or "",
            body.partner_id,
            body.purpose,
            now,
            expires_at=body.expires_at,
            share_score=body.share_score,
        )
        audit.append(
            store,
            me.actor,
            "consent.granted",
            subject=str(consent.consent_id),
            details={"partner": body.partner_id, "purpose": body.purpose},
            now=now,
        )
        return consent

    try:
        consent = audit.audited_transaction(request.app.state.engine, work)
    except consents.ConsentRejected as error:
        raise HTTPException(422, str(error)) from error
    return _consent_out(consent, now)


@router.delete(
    "/v1/me/consents/{consent_id}",
    response_model=ConsentOut,
    tags=["me"],
    responses={**ERRORS, 404: {"model": problems.Problem, "description": "not yours"}},
    summary="Revoke a consent; effective for the partner's next request (the person)",
)
def delete_consent(
    consent_id: Annotated[int, Path(ge=1, le=MAX_ID)], request: Request, me: Person
) -> ConsentOut:
    now = dt.datetime.now(dt.UTC)

    def work(store: Any) -> consents.Consent:
        consent = consents.revoke(store, me.person_id or "", consent_id, now)
        audit.append(store, me.actor, "consent.revoked", subject=str(consent_id), now=now)
        return consent

    try:
        consent = audit.audited_transaction(request.app.state.engine, work)
    except consents.ConsentRejected as error:
        status = 404 if isinstance(error, consents.UnknownConsent) else 409
        raise HTTPException(status, str(error)) from error
    return _consent_out(consent, now)


@router.get(
    "/v1/me/access-log",
    response_model=list[AccessOut],
    tags=["me"],
    responses=ERRORS,
    summary="Everyone who read my data, when, why and what they saw (the person)",
)
def get_access_log(request: Request, me: Person) -> list[AccessOut]:
    with request.app.state.engine.connect() as store:
        return [
            AccessOut(
                accessed_at=a.accessed_at,
                actor=a.actor,
                purpose=a.purpose,
                what=a.what,
                disclosed=a.disclosed,
            )
            for a in access_log.of_person(store, me.person_id or "")
        ]


@router.get(
    "/v1/me/decisions",
    response_model=list[MyDecisionOut],
    tags=["me"],
    responses=ERRORS,
    summary="Every decision partners asked for about me, with score and reasons (the person)",
)
def get_decisions(request: Request, me: Person) -> list[MyDecisionOut]:
    with request.app.state.engine.connect() as store:
        return [
            MyDecisionOut.model_validate(d, from_attributes=True)
            for d in decisions.of_person(store, me.person_id or "")
        ]
