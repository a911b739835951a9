"""`create_app(settings)`: the FastAPI application, OpenAPI at /docs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from kaimen import __version__
from kaimen.api import me_routes, own_data_routes, partner_routes, problems, report_routes
from kaimen.api.auth import Caller, require_admin, require_reader
from kaimen.api.observability import install as install_observability
from kaimen.api.schemas import (
    ChangeOut,
    EnrolmentIn,
    EnrolmentOut,
    EventBatch,
    IngestResult,
    PlanOut,
    ScoreOut,
    WhatIfIn,
    WhatIfOut,
    as_text,
)
from kaimen.config import Settings
from kaimen.domain.errors import BatchRejected, RowError
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.domain.text import is_unicode
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_one
from kaimen.model.whatif import WhatIfRejected
from kaimen.scoring import way_up
from kaimen.scoring.reading import score_view
from kaimen.store import access_log, people
from kaimen.store.database import open_store

T = TypeVar("T")


PersonPath = Annotated[str, Path(max_length=64, pattern=rf"^{IDENTIFIER_PATTERN}$")]


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
    install_observability(app, engine, settings)
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
        responses={**responses, 403: {"model": problems.Problem, "description": "not allowed"}},
        summary="Submit a batch of events (admin, or a partner key with scope events)",
    )
    async def post_events(
        batch: EventBatch,
        request: Request,
        caller: Annotated[Caller, Depends(report_routes.require_event_sender)],
    ) -> IngestResult:
        """All or nothing: one bad event rejects the batch and the answer lists every problem.
        Replaying events already stored reports them as duplicates and changes nothing.
        A partner sends only under its own id as `source`, and only about people who gave
        it `feedback` consent."""
        records = [
            {name: as_text(value) for name, value in event.model_dump().items()}
            for event in batch.events
        ]
        # JSON can carry lone surrogates; they cannot be stored as text, so they are refused
        # here with the line, like any other bad field.
        unreadable = [
            RowError(line, name, "is not valid Unicode text")
            for line, record in enumerate(records, start=1)
            for name, value in record.items()
            if isinstance(value, str) and not is_unicode(value)
        ]
        if unreadable:
            raise BatchRejected(unreadable, "request")
        report = await run_in_threadpool(report_routes.accept_events_from, request, caller, records)
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
        person_id: PersonPath,
        request: Request,
        reader: Annotated[Caller, Depends(require_reader)],
    ) -> ScoreOut:
        """Latest score, band, dimensions, reasons and monthly history. Anyone but the
        person (or the admin) gets the same 404 as for an unknown person."""
        view = await run_in_threadpool(score_view, engine, person_id)
        if view is None:
            raise HTTPException(404, "no published score for this person")
        answer = ScoreOut.model_validate(dataclasses.asdict(view))
        if reader.kind != "person":
            await run_in_threadpool(_log_read, person_id, reader, "score", _shown(answer))
        return answer

    def _shown(answer: BaseModel) -> dict[str, Any]:
        """Everything the reader was shown, for the person's access log."""
        return answer.model_dump(mode="json", exclude={"person_id"})

    def _log_read(person_id: str, reader: Caller, what: str, disclosed: dict[str, Any]) -> None:
        with engine.begin() as store:
            # An opt-out that committed since the read has erased this person's log; writing
            # to it now would leave their data behind. The lock orders us against one.
            if people.status_of(store, person_id, lock=True) != "active":
                return
            access_log.record(
                store,
                person_id,
                reader.actor,
                "administration",
                what,
                disclosed,
                dt.datetime.now(dt.UTC),
            )

    what_if_errors = {
        **responses,
        404: {"model": problems.Problem, "description": "no score"},
        409: {"model": problems.Problem, "description": "the model cannot answer a what-if"},
    }

    def _what_if_call(call: Callable[[], T]) -> T:
        try:
            return call()
        except way_up.NoScore as error:
            raise HTTPException(404, "no published score for this person") from error
        except way_up.WhatIfUnsupported as error:
            raise HTTPException(409, str(error)) from error
        except WhatIfRejected as error:
            raise HTTPException(422, str(error)) from error

    @app.get(
        "/v1/people/{person_id}/whatif",
        response_model=PlanOut,
        tags=["scores"],
        responses=what_if_errors,
        summary="The way up: the fewest changes that reach a target (the person or the admin)",
    )
    async def get_way_up(
        person_id: PersonPath,
        request: Request,
        target: Annotated[int, Query(ge=SCORE_MIN, le=SCORE_MAX, description="score to reach")],
        reader: Annotated[Caller, Depends(require_reader)],
    ) -> PlanOut:
        """The smallest set of actionable changes (never age or identity facts) that lifts
        the latest published score to `target`, with the points each adds."""
        begin, plan = await run_in_threadpool(
            _what_if_call,
            lambda: way_up.way_up(engine, ibis_connection(), lake_root, person_id, target),
        )
        answer = PlanOut(
            person_id=person_id,
            month=begin.month,
            model_version=begin.model_version,
            score=plan.score,
            target=plan.target,
            reachable=plan.reachable,
            changes=[
                ChangeOut(description=way_up.describe(c.feature), **dataclasses.asdict(c))
                for c in plan.changes
            ],
            new_score=plan.new_score,
        )
        if reader.kind != "person":
            await run_in_threadpool(_log_read, person_id, reader, "whatif", _shown(answer))
        return answer

    @app.post(
        "/v1/people/{person_id}/whatif",
        response_model=WhatIfOut,
        tags=["scores"],
        responses=what_if_errors,
        summary="Free what-if: the score with some characteristics changed",
    )
    async def post_what_if(
        person_id: PersonPath,
        body: WhatIfIn,
        request: Request,
        reader: Annotated[Caller, Depends(require_reader)],
    ) -> WhatIfOut:
        """Scores the latest published features with the given values changed; nothing is
        stored."""
        begin, result = await run_in_threadpool(
            _what_if_call,
            lambda: way_up.free_what_if(
                engine, ibis_connection(), lake_root, person_id, body.values
            ),
        )
        answer = WhatIfOut(
            person_id=person_id,
            month=begin.month,
            model_version=begin.model_version,
            score=result.score,
            new_score=result.new_score,
            points_change=result.points_change,
        )
        if reader.kind != "person":
            shown = {**_shown(answer), "tried": body.values}
            await run_in_threadpool(_log_read, person_id, reader, "whatif", shown)
        return answer

    app.include_router(partner_routes.router)
    app.include_router(me_routes.router)
    app.include_router(report_routes.router)
    app.include_router(own_data_routes.router)
    app.state.engine = engine
    app.state.vault = vault
    app.state.lake_root = lake_root
    app.state.admin_token = admin_token
    return app
