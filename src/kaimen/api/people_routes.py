"""People: enrolment (the admin), and a person's score and what-if (the person or the admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from kaimen.api import problems
from kaimen.api.deps import Admin, PersonPath, Reader, Store
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import (
    EnrolmentIn,
    EnrolmentOut,
    PlanOut,
    ScoreOut,
    WhatIfIn,
    WhatIfOut,
)
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.enrolment import enrol_one
from kaimen.scoring.reading import read_score
from kaimen.scoring.way_up import plan_for, try_changes

router = api_router()
WHAT_IF_ERRORS = problems.documented(
    401, 404, 409, 422, s404="no score", s409="the model cannot answer a what-if"
)


@router.post(
    "/v1/people",
    response_model=EnrolmentOut,
    status_code=201,
    tags=["people"],
    responses=problems.documented(401, 403, 409, 422),
    summary="Enrol a person (admin)",
)
def post_person(body: EnrolmentIn, ws: Store, admin: Admin) -> EnrolmentOut:
    """Enrol with phone, national ID and optionally a name; the same ID twice is a
    conflict."""
    person_id = enrol_one(
        ws.engine, ws.vault, body.phone, body.national_id, admin.actor, name=body.name
    )
    return EnrolmentOut(person_id=person_id)


@router.get(
    "/v1/people/{person_id}/score",
    response_model=ScoreOut,
    tags=["scores"],
    responses=problems.documented(401, 404, 422, s404="no score"),
    summary="A person's score, reasons and history (the person or the admin)",
)
def get_score(person_id: PersonPath, ws: Store, reader: Reader) -> ScoreOut:
    """Latest score, band, dimensions, reasons and monthly history. Anyone but the
    person (or the admin) gets the same 404 as for an unknown person."""
    view = read_score(ws.engine, person_id, reader)
    return ScoreOut.model_validate(view)


@router.get(
    "/v1/people/{person_id}/whatif",
    response_model=PlanOut,
    tags=["scores"],
    responses=WHAT_IF_ERRORS,
    summary="The way up: the fewest changes that reach a target (the person or the admin)",
)
def get_way_up(
    person_id: PersonPath,
    target: Annotated[int, Query(ge=SCORE_MIN, le=SCORE_MAX, description="score to reach")],
    ws: Store,
    reader: Reader,
) -> PlanOut:
    """The smallest set of actionable changes (never age or identity facts) that lifts
    the latest published score to `target`, with the points each adds."""
    plan = plan_for(ws.engine, ws.lake_root, ws.profile(), person_id, target, reader, ws.backend())
    return PlanOut.model_validate(plan)


@router.post(
    "/v1/people/{person_id}/whatif",
    response_model=WhatIfOut,
    tags=["scores"],
    responses=WHAT_IF_ERRORS,
    summary="Free what-if: the score with some characteristics changed",
)
def post_what_if(person_id: PersonPath, body: WhatIfIn, ws: Store, reader: Reader) -> WhatIfOut:
    """Scores the latest published features with the given values changed; nothing is
    stored."""
    tried = try_changes(
        ws.engine, ws.lake_root, ws.profile(), person_id, body.values, reader, ws.backend()
    )
    return WhatIfOut.model_validate(tried)
