"""`create_app(settings)`: the FastAPI application, OpenAPI at /docs."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from kaimen import __version__
from kaimen.api import problems
from kaimen.api.auth import may_read_person, require_admin
from kaimen.api.schemas import (
    EnrolmentIn,
    EnrolmentOut,
    EventBatch,
    IngestResult,
    ScoreOut,
    as_text,
)
from kaimen.config import Settings
from kaimen.enrolment import enrol_one
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.scoring.reading import score_view
from kaimen.store.database import open_store


def create_app(settings: Settings) -> FastAPI:
    """Open the store (migrating it) and build the app around it."""
    engine = open_store(settings.resolved_database_url)
    vault = settings.vault()
    admin_token = settings.admin_token_value()
    lake_root = settings.lake_root
    app = FastAPI(
        title="kaimen",
        version=__version__,
        description="Credit and trust scoring that the people it scores can see, "
        "understand and contest.",
    )
    problems.install(app)
    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": problems.Problem, "description": "missing or wrong credentials"},
        422: {"model": problems.Problem, "description": "invalid input; nothing stored"},
    }

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    @app.post(
        "/v1/events",
        response_model=IngestResult,
        tags=["events"],
        responses=responses,
        summary="Submit a batch of events (admin)",
    )
    async def post_events(
        batch: EventBatch, request: Request, actor: Annotated[str, Depends(require_admin)]
    ) -> IngestResult:
        """All or nothing: one bad event rejects the batch and the answer lists every problem.
        Replaying events already stored reports them as duplicates and changes nothing."""
        records = [
            {name: as_text(value) for name, value in event.model_dump().items()}
            for event in batch.events
        ]
        report = await run_in_threadpool(accept_events, engine, lake_root, records, actor)
        return IngestResult(total=report.total, new=report.new, duplicate=report.duplicate)

    @app.post(
        "/v1/people",
        response_model=EnrolmentOut,
        status_code=201,
        tags=["people"],
        responses={**responses, 409: {"model": problems.Problem, "description": "conflict"}},
        summary="Enrol a person (admin)",
    )
    async def post_person(
        body: EnrolmentIn, actor: Annotated[str, Depends(require_admin)]
    ) -> EnrolmentOut:
        """Enrol with phone and national ID; the same ID twice is a conflict."""
        person_id = await run_in_threadpool(
            enrol_one, engine, vault, body.phone, body.national_id, actor
        )
        return EnrolmentOut(person_id=person_id)

    @app.get(
        "/v1/people/{person_id}/score",
        response_model=ScoreOut,
        tags=["scores"],
        responses={**responses, 404: {"model": problems.Problem, "description": "no score"}},
        summary="A person's score, reasons and history (the person or the admin)",
    )
    async def get_score(
        person_id: str,
        request: Request,
        authorization: Annotated[str | None, Header(description="Bearer TOKEN")] = None,
    ) -> ScoreOut:
        """Latest score, band, dimensions, reasons and monthly history. Anyone but the
        person (or the admin) gets the same 404 as for an unknown person."""
        allowed = await run_in_threadpool(may_read_person, request, person_id, authorization)
        view = await run_in_threadpool(score_view, engine, person_id) if allowed else None
        if view is None:
            raise HTTPException(404, "no published score for this person")
        return ScoreOut.model_validate(dataclasses.asdict(view))

    app.state.engine = engine
    app.state.admin_token = admin_token
    return app
