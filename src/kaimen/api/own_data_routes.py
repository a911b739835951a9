"""Own data (the person's own token only): export everything held about me, and leave."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from kaimen.api import problems
from kaimen.api.auth import Caller, require_person
from kaimen.sharing import own_data
from kaimen.store import audit

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": problems.Problem, "description": "missing or unknown credentials"},
    403: {"model": problems.Problem, "description": "only the person, with their own token"},
}
Person = Annotated[Caller, Depends(require_person)]


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Strict: 1 or "true" must not erase a person for good.
    confirm: StrictBool = Field(description="must be true: opting out cannot be undone")

    @field_validator("confirm")
    @classmethod
    def _must_confirm(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true: opting out cannot be undone")
        return value


class OptOutOut(BaseModel):
    person_id: str
    status: Literal["opted_out"]
    rows_removed: dict[str, int] = Field(description="rows deleted per table")
    lake_events_removed: int
    lake_files_rewritten: int
    friend_links_cut: int = Field(description="others' friend links to me, emptied")
    inbox_links_redacted: int = Field(description="the same in sealed inbox records")
    inbox_links_dropped: int = Field(description="others' unsealed friend links to me")
    summary_rows_removed: int
    summary_files_rewritten: int


@router.get(
    "/v1/me/export",
    response_model=own_data.ExportDocument,
    tags=["me"],
    responses=ERRORS,
    summary="Everything held about me, as one JSON document (the person)",
)
async def get_export(request: Request, me: Person) -> own_data.ExportDocument:
    state = request.app.state
    person_id = me.person_id or ""

    def work() -> own_data.ExportDocument:
        document = own_data.export(state.engine, state.vault, state.lake_root, person_id)
        with state.engine.begin() as store:
            audit.append(store, me.actor, "person.exported", subject=person_id)
        return document

    try:
        document = await run_in_threadpool(work)
    except own_data.AlreadyOptedOut as error:
        # Their token was deleted with everything else; this only races an opt-out.
        raise HTTPException(401, str(error)) from error
    return document


@router.post(
    "/v1/me/opt-out",
    response_model=OptOutOut,
    tags=["me"],
    responses={
        **ERRORS,
        409: {"model": problems.Problem, "description": "already opted out"},
        422: {"model": problems.Problem, "description": "not confirmed; nothing removed"},
    },
    summary="Leave kaimen: remove all my data and stop scoring me, for good (the person)",
)
async def post_opt_out(body: OptOutIn, request: Request, me: Person) -> OptOutOut:
    """Deletes my identities, tokens (this one too), consents, access log, decisions, scores
    and events, in the store and in the lake; the audit log keeps that it happened, under my
    pseudonymous id. Events sent about me afterwards are refused."""
    state = request.app.state
    try:
        report = await run_in_threadpool(
            own_data.opt_out,
            state.engine,
            state.lake_root,
            me.person_id or "",
            me.actor,
            dt.datetime.now(dt.UTC),
        )
    except own_data.AlreadyOptedOut as error:
        raise HTTPException(409, str(error)) from error
    return OptOutOut(
        person_id=report.person_id,
        status="opted_out",
        rows_removed=report.rows_removed,
        lake_events_removed=report.lake_events_removed,
        lake_files_rewritten=report.lake_files_rewritten,
        friend_links_cut=report.friend_links_cut,
        inbox_links_redacted=report.inbox_links_redacted,
        inbox_links_dropped=report.inbox_links_dropped,
        summary_rows_removed=report.summary_rows_removed,
        summary_files_rewritten=report.summary_files_rewritten,
    )
