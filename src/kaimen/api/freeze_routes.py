"""The person's freeze of their file and their inbox of alerts (their token only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from kaimen.api import problems
from kaimen.api.deps import Person, Store, person_id_of
from kaimen.api.json_bodies import api_router
from kaimen.api.me_routes import PERSON_ONLY
from kaimen.api.partner_routes import MAX_ID
from kaimen.api.schemas import Rendered
from kaimen.domain.json_values import JsonObject
from kaimen.sharing import freezing
from kaimen.sharing.freezing import AlertKind

router = api_router()


class FreezeOut(Rendered):
    frozen: bool = Field(
        description="while true, partners are answered as without consent, and every attempt "
        "is logged in my access log and raised as an alert"
    )
    frozen_at: dt.datetime | None


class AlertOut(Rendered):
    alert_id: int
    kind: AlertKind
    ref: str = Field(description="what raised it: a decision or report id, an item, a month")
    raised_at: dt.datetime
    read_at: dt.datetime | None
    details: JsonObject


@router.get(
    "/v1/me/freeze",
    response_model=FreezeOut,
    tags=["me"],
    responses=PERSON_ONLY,
    summary="Whether my file is frozen (the person)",
)
def get_freeze(ws: Store, me: Person) -> FreezeOut:
    return FreezeOut.model_validate(freezing.freeze_state(ws.engine, person_id_of(me)))


@router.put(
    "/v1/me/freeze",
    response_model=FreezeOut,
    tags=["me"],
    responses=PERSON_ONLY,
    summary="Freeze my file: no new decision, report or partner event about me (the person)",
)
def put_freeze(ws: Store, me: Person) -> FreezeOut:
    """Effective for the next request; freezing a frozen file changes nothing."""
    state = freezing.set_freeze(
        ws.engine, person_id_of(me), True, me.actor, dt.datetime.now(dt.UTC)
    )
    return FreezeOut.model_validate(state)


@router.delete(
    "/v1/me/freeze",
    response_model=FreezeOut,
    tags=["me"],
    responses=PERSON_ONLY,
    summary="Unfreeze my file; effective for the next request (the person)",
)
def delete_freeze(ws: Store, me: Person) -> FreezeOut:
    state = freezing.set_freeze(
        ws.engine, person_id_of(me), False, me.actor, dt.datetime.now(dt.UTC)
    )
    return FreezeOut.model_validate(state)


@router.get(
    "/v1/me/alerts",
    response_model=list[AlertOut],
    tags=["me"],
    responses=PERSON_ONLY,
    summary="My alerts, newest first (the person)",
)
def get_alerts(
    ws: Store, me: Person, unread: Annotated[bool, Query(description="unread only")] = False
) -> list[AlertOut]:
    return [
        AlertOut.model_validate(a)
        for a in freezing.alerts_of(ws.engine, me, person_id_of(me), unread_only=unread)
    ]


@router.post(
    "/v1/me/alerts/{alert_id}/read",
    response_model=AlertOut,
    tags=["me"],
    responses=problems.documented(401, 403, 404, 422, s404="not yours"),
    summary="Mark one of my alerts read (the person)",
)
def post_alert_read(
    alert_id: Annotated[int, Path(ge=1, le=MAX_ID)], ws: Store, me: Person
) -> AlertOut:
    alert = freezing.mark_alert_read(
        ws.engine, person_id_of(me), alert_id, me.actor, dt.datetime.now(dt.UTC)
    )
    return AlertOut.model_validate(alert)
