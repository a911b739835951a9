"""Partners, their API keys (admin) and their offers (partner key, `decisions`); decisions
themselves are in `decision_routes`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from kaimen.api import problems
from kaimen.api.deps import Admin, DecisionsPartner, Store, partner_id_of
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import BandName, OneOf, Rendered, WholeNumber
from kaimen.domain.callers import PARTNER_ID_PATTERN, SCOPES
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.domain.scores import DIMENSIONS, SCORE_MAX, SCORE_MIN
from kaimen.sharing import offering, partnering

router = api_router()
# Database integers are 32-bit on PostgreSQL: a larger id is simply not there.
MAX_ID = 2**31 - 1
PARTNER_ID = rf"^{PARTNER_ID_PATTERN}$"
IDENTIFIER = rf"^{IDENTIFIER_PATTERN}$"
Name = Annotated[str, Field(min_length=1, max_length=200)]
PartnerPath = Annotated[str, Path(min_length=3, max_length=64, pattern=PARTNER_ID)]
Scope = Annotated[str, OneOf(SCOPES)]
# Connections too: requiring it is refused by the service, which says why
# (`offering.ConnectionsNotRequirable`).
DimensionName = Annotated[str, OneOf(DIMENSIONS)]
SubScore = Annotated[WholeNumber, Field(ge=0, le=100)]


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(
        min_length=3,
        max_length=64,
        pattern=PARTNER_ID,
        description="lower-case letters, digits and hyphens",
    )
    name: Name


class PartnerOut(Rendered):
    partner_id: str
    name: str
    created_at: dt.datetime


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[Scope] = Field(
        min_length=1, max_length=len(SCOPES), description="what the key may be used for"
    )


class KeyOut(Rendered):
    key_id: str
    partner_id: str
    scopes: list[Scope]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class NewKeyOut(KeyOut):
    key: str = Field(description="the API key itself: shown this once, never stored")


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    purpose: Name = Field(description="what the offer is for, shown to the person")
    min_score: WholeNumber = Field(ge=SCORE_MIN, le=SCORE_MAX)
    min_band: BandName | None = None
    min_dimensions: dict[DimensionName, SubScore] = Field(
        default_factory=dict, max_length=5, description="dimension -> minimum 0-100 sub-score"
    )


class OfferOut(Rendered):
    offer_id: int
    partner_id: str
    name: str
    purpose: str
    min_score: int
    min_band: BandName | None
    min_dimensions: dict[str, int]
    withdrawn_at: dt.datetime | None


@router.post(
    "/v1/partners",
    response_model=PartnerOut,
    status_code=201,
    tags=["partners"],
    responses=problems.documented(401, 403, 409, 422, s409="exists"),
    summary="Register a partner (admin)",
)
def post_partner(body: PartnerIn, ws: Store, admin: Admin) -> PartnerOut:
    partner = partnering.add_partner(ws.engine, body.partner_id, body.name, admin.actor)
    return PartnerOut.model_validate(partner)


@router.get(
    "/v1/partners",
    response_model=list[PartnerOut],
    tags=["partners"],
    responses=problems.documented(401, 403),
    summary="List partners (admin)",
)
def get_partners(ws: Store, admin: Admin) -> list[PartnerOut]:
    return [PartnerOut.model_validate(e.partner) for e in partnering.list_partners(ws.engine)]


@router.post(
    "/v1/partners/{partner_id}/keys",
    response_model=NewKeyOut,
    status_code=201,
    tags=["partners"],
    responses=problems.documented(401, 403, 404, 422),
    summary="Issue an API key with scopes (admin); the key is shown once",
)
def post_key(partner_id: PartnerPath, body: KeyIn, ws: Store, admin: Admin) -> NewKeyOut:
    issued = partnering.issue_key(ws.engine, partner_id, body.scopes, admin.actor)
    return NewKeyOut(**KeyOut.model_validate(issued.key).model_dump(), key=issued.secret)


@router.get(
    "/v1/partners/{partner_id}/keys",
    response_model=list[KeyOut],
    tags=["partners"],
    responses=problems.documented(401, 403, 404),
    summary="A partner's keys, live and revoked (admin); never the keys themselves",
)
def get_keys(partner_id: PartnerPath, ws: Store, admin: Admin) -> list[KeyOut]:
    return [KeyOut.model_validate(k) for k in partnering.keys_of(ws.engine, partner_id)]


@router.delete(
    "/v1/keys/{key_id}",
    response_model=KeyOut,
    tags=["partners"],
    responses=problems.documented(401, 403, 404, 409),
    summary="Revoke an API key (admin); it stops working at once",
)
def delete_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], ws: Store, admin: Admin
) -> KeyOut:
    return KeyOut.model_validate(partnering.revoke_key(ws.engine, key_id, admin.actor))


@router.post(
    "/v1/offers",
    response_model=OfferOut,
    status_code=201,
    tags=["offers"],
    responses=problems.documented(401, 403, 422),
    summary="Publish an offer (partner, scope decisions)",
)
def post_offer(body: OfferIn, ws: Store, caller: DecisionsPartner) -> OfferOut:
    terms = offering.OfferTerms(
        body.name, body.purpose, body.min_score, body.min_band, body.min_dimensions
    )
    offer = offering.publish_offer(ws.engine, partner_id_of(caller), terms, caller.actor)
    return OfferOut.model_validate(offer)


@router.get(
    "/v1/offers",
    response_model=list[OfferOut],
    tags=["offers"],
    responses=problems.documented(401, 403),
    summary="The calling partner's own offers (partner, scope decisions)",
)
def get_offers(ws: Store, caller: DecisionsPartner) -> list[OfferOut]:
    return [
        OfferOut.model_validate(o) for o in offering.offers_of(ws.engine, partner_id_of(caller))
    ]


@router.delete(
    "/v1/offers/{offer_id}",
    response_model=OfferOut,
    tags=["offers"],
    responses=problems.documented(401, 403, 404, 409),
    summary="Withdraw one of the partner's own offers (partner, scope decisions)",
)
def delete_offer(
    offer_id: Annotated[int, Path(ge=1, le=MAX_ID)], ws: Store, caller: DecisionsPartner
) -> OfferOut:
    offer = offering.withdraw_offer(ws.engine, partner_id_of(caller), offer_id, caller.actor)
    return OfferOut.model_validate(offer)
