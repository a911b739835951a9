"""The person's own view (their token only): consents, the access log, decisions about them,
the offers their score opens."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from kaimen.api import problems
from kaimen.api.deps import Person, Store, person_id_of
from kaimen.api.json_bodies import api_router
from kaimen.api.partner_routes import MAX_ID
from kaimen.api.schemas import Rendered
from kaimen.domain.callers import PARTNER_ID_PATTERN
from kaimen.domain.decisions import DecisionReason
from kaimen.domain.json_values import JsonObject
from kaimen.sharing import consenting, disclosures, offering
from kaimen.sharing.consenting import Consent

router = api_router()
PERSON_ONLY = problems.documented(401, 403, 422, s403="only the person, with their own token")
Purpose = Literal["decision", "report", "feedback"]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(min_length=3, max_length=64, pattern=rf"^{PARTNER_ID_PATTERN}$")
    purpose: Purpose
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="none: until revoked; else in the future and within ten years (a "
        "schema cannot say so: a time outside them is refused with 422)",
    )
    share_score: StrictBool = Field(
        default=False,
        description="decision only (422 for another purpose): the partner may see the score "
        "and points",
    )


class ConsentOut(Rendered):
    consent_id: int
    partner_id: str
    purpose: str
    share_score: bool
    granted_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    live: bool


class AccessOut(Rendered):
    accessed_at: dt.datetime
    actor: str = Field(description="who read: 'admin' or 'partner:<id>'")
    purpose: str
    what: str = Field(description="score, decision, report, whatif")
    disclosed: JsonObject = Field(description="what they were shown")
    flag: str | None = Field(
        default=None,
        description="'probing': asked at a threshold other than those the partner asked at "
        "lately (possibly narrowing down your score); 'refused: <reason>': an attempt that "
        "was refused (e.g. 'refused: no consent'), its refusal being all they were shown",
    )


class MyDecisionOut(Rendered):
    decision_id: str
    partner_id: str
    offer_id: int
    decided_at: dt.datetime
    approved: bool
    score: int | None
    points_short: int | None
    reasons: list[DecisionReason]
    score_shared: bool


def _consent_out(consent: Consent, now: dt.datetime) -> ConsentOut:
    return ConsentOut.model_validate({**asdict(consent), "live": consent.live_at(now)})


@router.get(
    "/v1/me/consents",
    response_model=list[ConsentOut],
    tags=["me"],
    responses=PERSON_ONLY,
    summary="My consents, live and past (the person)",
)
def get_consents(ws: Store, me: Person) -> list[ConsentOut]:
    now = dt.datetime.now(dt.UTC)
    return [_consent_out(c, now) for c in consenting.consents_of(ws.engine, person_id_of(me))]


@router.post(
    "/v1/me/consents",
    response_model=ConsentOut,
    status_code=201,
    tags=["me"],
    responses=problems.documented(
        401,
        403,
        422,
        s403="only the person, with their own token",
        s422="invalid input, an expiry not in the future or more than ten years ahead, or a "
        "shared score outside a decision consent; nothing stored",
    ),
    summary="Grant a partner consent for one purpose (the person)",
)
def post_consent(body: ConsentIn, ws: Store, me: Person) -> ConsentOut:
    """Replaces any live consent for the same partner and purpose."""
    now = dt.datetime.now(dt.UTC)
    request = consenting.ConsentRequest(
        body.partner_id, body.purpose, body.expires_at, body.share_score
    )
    consent = consenting.grant_consent(ws.engine, person_id_of(me), request, me.actor, now)
    return _consent_out(consent, now)


@router.delete(
    "/v1/me/consents/{consent_id}",
    response_model=ConsentOut,
    tags=["me"],
    responses=problems.documented(401, 403, 404, 409, 422, s404="not yours"),
    summary="Revoke a consent; effective for the partner's next request (the person)",
)
def delete_consent(
    consent_id: Annotated[int, Path(ge=1, le=MAX_ID)], ws: Store, me: Person
) -> ConsentOut:
    now = dt.datetime.now(dt.UTC)
    consent = consenting.revoke_consent(ws.engine, person_id_of(me), consent_id, me.actor, now)
    return _consent_out(consent, now)


@router.get(
    "/v1/me/access-log",
    response_model=list[AccessOut],
    tags=["me"],
    responses=PERSON_ONLY,
    summary="Everyone who read my data, when, why and what they saw (the person)",
)
def get_access_log(ws: Store, me: Person) -> list[AccessOut]:
    return [
        AccessOut.model_validate(a) for a in disclosures.access_log_of(ws.engine, person_id_of(me))
    ]


@router.get(
    "/v1/me/decisions",
    response_model=list[MyDecisionOut],
    tags=["me"],
    responses=PERSON_ONLY,
    summary="Every decision partners asked for about me, with score and reasons (the person)",
)
def get_decisions(ws: Store, me: Person) -> list[MyDecisionOut]:
    return [
        MyDecisionOut.model_validate(d)
        for d in disclosures.decisions_about(ws.engine, person_id_of(me))
    ]


class MyOfferOut(Rendered):
    offer_id: int
    partner_id: str
    partner_name: str
    name: str
    purpose: str
    required_score: int = Field(
        description="the offer's minimum score (its band's floor if higher)"
    )
    unlocked: bool = Field(description="my latest score and sub-scores reach every minimum")
    points_needed: int | None = Field(description="points my score still needs; empty: no score")
    dimensions_short: dict[str, int] = Field(
        description="sub-scores below the offer's minimum: dimension -> the minimum"
    )


@router.get(
    "/v1/me/offers",
    response_model=list[MyOfferOut],
    tags=["me"],
    responses=PERSON_ONLY,
    summary="Every open offer against my latest score: unlocked, or the points still needed",
)
def get_offers(ws: Store, me: Person) -> list[MyOfferOut]:
    return [
        MyOfferOut.model_validate({**asdict(o), "dimensions_short": dict(o.dimensions_short)})
        for o in offering.offers_for(ws.engine, person_id_of(me), me)
    ]
