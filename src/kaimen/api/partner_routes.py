"""Partners, their API keys (admin), their offers and decisions (partner key, `decisions`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from kaimen.api import problems
from kaimen.api.auth import Caller, require_admin, require_partner
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.sharing import deciding
from kaimen.store import audit, offers, partners

router = APIRouter()
# Database integers are 32-bit on PostgreSQL: a larger id is simply not there.
MAX_ID = 2**31 - 1
PARTNER_ID = r"^[a-z0-9][a-z0-9\-]{1,62}[a-z0-9]$"
IDENTIFIER = rf"^{IDENTIFIER_PATTERN}$"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": problems.Problem, "description": "missing or unknown credentials"},
    403: {"model": problems.Problem, "description": "this caller may not use this endpoint"},
    422: {"model": problems.Problem, "description": "invalid input; nothing stored"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": problems.Problem, "description": "not found (or no consent)"}
}
Name = Annotated[str, Field(min_length=1, max_length=200)]


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(
        min_length=3,
        max_length=64,
        pattern=PARTNER_ID,
        description="lower-case letters, digits and hyphens",
    )
    name: Name


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    created_at: dt.datetime


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(
        min_length=1, max_length=4, description="decisions, events, feedback, reports"
    )


class KeyOut(BaseModel):
    key_id: str
    partner_id: str
    scopes: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class NewKeyOut(KeyOut):
    key: str = Field(description="the API key itself: shown this once, never stored")


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    purpose: Name = Field(description="what the offer is for, shown to the person")
    min_score: int = Field(ge=350, le=950)
    min_band: str | None = Field(default=None, max_length=16)
    min_dimensions: dict[str, int] = Field(
        default_factory=dict, max_length=5, description="dimension -> minimum 0-100 sub-score"
    )


class OfferOut(BaseModel):
    offer_id: int
    partner_id: str
    name: str
    purpose: str
    min_score: int
    min_band: str | None
    min_dimensions: dict[str, int]
    withdrawn_at: dt.datetime | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(min_length=1, max_length=64, pattern=IDENTIFIER)
    offer_id: StrictInt = Field(ge=1, le=MAX_ID)


class DecisionReasonOut(BaseModel):
    text: str = Field(description="in plain language, with the person's own value")
    points: int | None = Field(description="points it costs; only when the score is shared")


class DecisionOut(BaseModel):
    decision_id: str
    offer_id: int
    approved: bool
    reasons: list[DecisionReasonOut] = Field(
        description="against this offer's threshold, largest first, at most four"
    )
    unmet: list[str] = Field(description="the offer's requirements that are not met")
    score: int | None = Field(description="only when the person consented to share it")
    points_short: int | None = Field(description="only when the person consented to share it")
    decided_at: dt.datetime


def _key_out(key: partners.ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "partner_id": key.partner_id,
        "scopes": list(key.scopes),
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _offer_out(offer: offers.Offer) -> OfferOut:
    return OfferOut(
        offer_id=offer.offer_id,
        partner_id=offer.partner_id,
        name=offer.name,
        purpose=offer.purpose,
        min_score=offer.min_score,
        min_band=offer.min_band,
        min_dimensions=offer.min_dimensions,
        withdrawn_at=offer.withdrawn_at,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.post(
    "/v1/partners",
    response_model=PartnerOut,
    status_code=201,
    tags=["partners"],
    responses={**ERRORS, 409: {"model": problems.Problem, "description": "exists"}},
    summary="Register a partner (admin)",
)
def post_partner(
    body: PartnerIn, request: Request, actor: Annotated[str, Depends(require_admin)]
) -> PartnerOut:
    engine = request.app.state.engine

    def work(store: Any) -> partners.Partner:
        if partners.get(store, body.partner_id) is not None:
            raise HTTPException(409, f"partner {body.partner_id} already exists")
        partner = partners.add(store, body.partner_id, body.name, _now())
        audit.append(store, actor, "partner.added", subject=partner.partner_id)
        return partner

    try:
        partner = audit.audited_transaction(engine, work)
    except partners.PartnerRejected as error:
        raise HTTPException(422, str(error)) from error
    return PartnerOut(**partner.__dict__)


@router.get(
    "/v1/partners",
    response_model=list[PartnerOut],
    tags=["partners"],
    responses=ERRORS,
    summary="List partners (admin)",
)
def get_partners(
    request: Request, actor: Annotated[str, Depends(require_admin)]
) -> list[PartnerOut]:
    with request.app.state.engine.connect() as store:
        return [PartnerOut(**p.__dict__) for p in partners.all_partners(store)]


@router.post(
    "/v1/partners/{partner_id}/keys",
    response_model=NewKeyOut,
    status_code=201,
    tags=["partners"],
    responses={**ERRORS, **NOT_FOUND},
    summary="Issue an API key with scopes (admin); the key is shown once",
)
def post_key(
    partner_id: Annotated[str, Path(max_length=64, pattern=PARTNER_ID)],
    body: KeyIn,
    request: Request,
    actor: Annotated[str, Depends(require_admin)],
) -> NewKeyOut:
    engine = request.app.state.engine

    def work(store: Any) -> tuple[partners.ApiKey, str]:
        if partners.get(store, partner_id) is None:
            raise HTTPException(404, f"no partner {partner_id}")
        key, secret = partners.issue_key(store, partner_id, body.scopes, _now())
        audit.append(
            store,
            actor,
            "partner.key_issued",
            subject=partner_id,
            details={"key_id": key.key_id, "scopes": list(key.scopes)},
        )
        return key, secret

    try:
        key, secret = audit.audited_transaction(engine, work)
    except partners.PartnerRejected as error:
        raise HTTPException(422, str(error)) from error
    return NewKeyOut(**_key_out(key), key=secret)


@router.get(
    "/v1/partners/{partner_id}/keys",
    response_model=list[KeyOut],
    tags=["partners"],
    responses={**ERRORS, **NOT_FOUND},
    summary="A partner's keys, live and revoked (admin); never the keys themselves",
)
def get_keys(
    partner_id: Annotated[str, Path(max_length=64, pattern=PARTNER_ID)],
    request: Request,
    actor: Annotated[str, Depends(require_admin)],
) -> list[KeyOut]:
    with request.app.state.engine.connect() as store:
        if partners.get(store, partner_id) is None:
            raise HTTPException(404, f"no partner {partner_id}")
        return [KeyOut(**_key_out(k)) for k in partners.keys_of(store, partner_id)]


@router.delete(
    "/v1/keys/{key_id}",
    response_model=KeyOut,
    tags=["partners"],
    responses={**ERRORS, **NOT_FOUND},
    summary="Revoke an API key (admin); it stops working at once",
)
def delete_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    request: Request,
    actor: Annotated[str, Depends(require_admin)],
) -> KeyOut:
    def work(store: Any) -> partners.ApiKey:
        key = partners.revoke_key(store, key_id, _now())
        audit.append(
            store, actor, "partner.key_revoked", subject=key.partner_id, details={"key_id": key_id}
        )
        return key

    try:
        key = audit.audited_transaction(request.app.state.engine, work)
    except partners.PartnerRejected as error:
        status = 404 if isinstance(error, partners.UnknownKey) else 409
        raise HTTPException(status, str(error)) from error
    return KeyOut(**_key_out(key))


@router.post(
    "/v1/offers",
    response_model=OfferOut,
    status_code=201,
    tags=["offers"],
    responses=ERRORS,
    summary="Publish an offer (partner, scope decisions)",
)
def post_offer(
    body: OfferIn,
    request: Request,
    caller: Annotated[Caller, Depends(require_partner("decisions"))],
) -> OfferOut:
    assert caller.partner_id is not None

    def work(store: Any) -> offers.Offer:
        offer = offers.publish(
            store,
            caller.partner_id,  # type: ignore[arg-type]
            body.name,
            body.purpose,
            body.min_score,
            _now(),
            body.min_band,
            body.min_dimensions,
        )
        audit.append(store, caller.actor, "offer.published", subject=str(offer.offer_id))
        return offer

    try:
        offer = audit.audited_transaction(request.app.state.engine, work)
    except offers.OfferRejected as error:
        raise HTTPException(422, str(error)) from error
    return _offer_out(offer)


@router.get(
    "/v1/offers",
    response_model=list[OfferOut],
    tags=["offers"],
    responses=ERRORS,
    summary="The calling partner's own offers (partner, scope decisions)",
)
def get_offers(
    request: Request, caller: Annotated[Caller, Depends(require_partner("decisions"))]
) -> list[OfferOut]:
    with request.app.state.engine.connect() as store:
        return [_offer_out(o) for o in offers.of_partner(store, caller.partner_id or "")]


@router.delete(
    "/v1/offers/{offer_id}",
    response_model=OfferOut,
    tags=["offers"],
    responses={**ERRORS, **NOT_FOUND},
    summary="Withdraw one of the partner's own offers (partner, scope decisions)",
)
def delete_offer(
    offer_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    caller: Annotated[Caller, Depends(require_partner("decisions"))],
) -> OfferOut:
    def work(store: Any) -> offers.Offer:
        offer = offers.withdraw(store, caller.partner_id or "", offer_id, _now())
        audit.append(store, caller.actor, "offer.withdrawn", subject=str(offer_id))
        return offer

    try:
        offer = audit.audited_transaction(request.app.state.engine, work)
    except offers.OfferRejected as error:
        status = 404 if isinstance(error, offers.UnknownOffer) else 409
        raise HTTPException(status, str(error)) from error
    return _offer_out(offer)


@router.post(
    "/v1/decisions",
    response_model=DecisionOut,
    tags=["decisions"],
    responses={**ERRORS, **NOT_FOUND},
    summary="Does this person's score open this offer? (partner, scope decisions, consent)",
)
async def post_decision(
    body: DecisionIn,
    request: Request,
    caller: Annotated[Caller, Depends(require_partner("decisions"))],
) -> DecisionOut:
    """Approved or declined, with the reasons that apply against this offer's threshold.
    Without the person's live consent for `decision` the answer is the same 404 as for an
    unknown person, and nothing is read. The score and points are shown only when the
    person consented to share them. Every decision is stored and in the person's access
    log."""
    try:
        answer = await run_in_threadpool(
            deciding.decide,
            request.app.state.engine,
            caller.partner_id or "",
            body.offer_id,
            body.person_id,
            caller.actor,
        )
    except deciding.PersonNotFound as error:
        raise HTTPException(404, deciding.NOT_FOUND) from error
    except deciding.OfferNotFound as error:
        raise HTTPException(404, str(error)) from error
    decision = answer.decision
    shared = decision.score_shared
    return DecisionOut(
        decision_id=decision.decision_id,
        offer_id=decision.offer_id,
        approved=decision.approved,
        reasons=[
            DecisionReasonOut(text=r.text, points=r.points if shared else None)
            for r in decision.reasons
        ],
        unmet=list(answer.unmet),
        score=decision.score if shared else None,
        points_short=decision.points_short if shared else None,
        decided_at=decision.decided_at,
    )
