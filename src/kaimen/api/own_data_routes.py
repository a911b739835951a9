"""Own data (the person's own token only): export everything held about me, and leave."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from kaimen.api import problems
from kaimen.api.deps import Person, Store, person_id_of
from kaimen.api.json_bodies import api_router
from kaimen.sharing import own_data

router = api_router()
ERRORS = problems.documented(401, 403, s403="only the person, with their own token")


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
def get_export(ws: Store, me: Person) -> own_data.ExportDocument:
    return own_data.export_for(ws.engine, ws.vault, ws.lake_root, person_id_of(me), me)


@router.post(
    "/v1/me/opt-out",
    response_model=OptOutOut,
    tags=["me"],
    responses={
        **ERRORS,
        **problems.documented(
            409, 422, s409="already opted out", s422="not confirmed; nothing removed"
        ),
    },
    summary="Leave kaimen: remove all my data and stop scoring me, for good (the person)",
)
def post_opt_out(body: OptOutIn, ws: Store, me: Person) -> OptOutOut:
    """Deletes my identities, tokens (this one too), consents, access log, decisions, scores
    and events, in the store and in the lake; the audit log keeps that it happened, under my
    pseudonymous id. Events sent about me afterwards are refused."""
    report = own_data.opt_out(
        ws.engine,
        ws.lake_root,
        person_id_of(me),
        me.actor,
        dt.datetime.now(dt.UTC),
        ws.profile(),
        ws.evidence_dir,
    )
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
