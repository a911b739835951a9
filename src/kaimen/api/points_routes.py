"""The points programme over HTTP: the person reads their own ledger, balance, grade and
privileges; a partner with the `points` scope asks whether one privilege applies. A ledger
entry is disputed like any item (`POST /v1/me/disputes`, `item_kind` `points_entry`)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from kaimen.api import problems
from kaimen.api.deps import AnyCaller, Person, PersonPath, Store, person_id_of
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import Rendered
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.points import standing
from kaimen.sharing import privilege_checks

router = api_router()


class EntryOut(Rendered):
    entry_id: str = Field(description="dispute it as item_kind 'points_entry' with this ref")
    rule_id: str
    entry_kind: str = Field(description="'award', or 'reversal' cancelling the entry it names")
    source: str
    event_id: str
    points: int
    period: dt.date = Field(description="the first day of the event's month")
    expires_on: dt.date | None = Field(description="the month it stops counting; none: never")
    halves_every_months: int | None
    awarded_at: dt.datetime
    reverses: str | None
    reason: str | None
    state: str | None = Field(description="'disputed', 'suppressed', 'corrected' or none")


class PrivilegeOut(Rendered):
    id: str
    grade: str
    context: str
    effect: str
    description: str


class StoredOut(Rendered):
    month: str
    balance: int
    computed_at: dt.datetime


class PointsOut(Rendered):
    rulebook: str
    base: int
    month: str = Field(description="the balance is replayed from the ledger at this month's end")
    balance: int
    grade: str
    privileges: list[PrivilegeOut]
    stored: StoredOut | None = Field(description="what the last award run stored")
    entries: list[EntryOut]


class PrivilegeCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(max_length=64, pattern=rf"^{IDENTIFIER_PATTERN}$")
    privilege_id: str = Field(max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")


class PrivilegeCheckOut(Rendered):
    person_id: str
    privilege_id: str
    context: str
    effect: str
    applies: bool


@router.get(
    "/v1/me/points",
    response_model=PointsOut,
    tags=["me"],
    responses=problems.documented(401, 403, 404, 422, s403="only the person, or off here"),
    summary="My points: ledger, balance, grade and privileges (the person)",
)
def get_my_points(ws: Store, me: Person) -> PointsOut:
    seen = standing.my_points(ws.engine, ws.profile(), me, person_id_of(me))
    return PointsOut.model_validate(seen)


@router.get(
    "/v1/people/{person_id}/points",
    response_model=PointsOut,
    tags=["people"],
    responses=problems.documented(401, 403, 404, 422),
    summary="A person's points (the person themselves, or the admin)",
)
def get_points(person_id: PersonPath, ws: Store, caller: AnyCaller) -> PointsOut:
    return PointsOut.model_validate(standing.my_points(ws.engine, ws.profile(), caller, person_id))


@router.post(
    "/v1/points/privileges/check",
    response_model=PrivilegeCheckOut,
    tags=["points"],
    responses=problems.documented(401, 403, 404, 422, 429),
    summary="Whether a grade's privilege applies to a person now (partner scope 'points')",
)
def check_privilege(body: PrivilegeCheckIn, ws: Store, caller: AnyCaller) -> PrivilegeCheckOut:
    """The answer alone: never the balance or the grade. In the person's access log. A
    partner needs the person's live `decision` consent: without it, for someone unknown and
    for a frozen file the answer is the same 404. Limited per key and per person (429 with
    Retry-After)."""
    answer = privilege_checks.check_privilege(
        ws.engine, ws.profile(), caller, body.person_id, body.privilege_id, limits=ws.limits
    )
    return PrivilegeCheckOut.model_validate(answer)
