"""The person's freeze of their file and their inbox of alerts.

The same service calls as `api/freeze_routes`: the page shows whether the file is frozen with
one button to change that, and the alerts newest first, each with a button to mark it read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from kaimen.sharing import freezing
from kaimen.web.pages.access import Checked, PersonCaller, own_person_id, see_other
from kaimen.web.rendering import render
from kaimen.web.words import N_

router = APIRouter()
MAX_ID = 2**63 - 1
NOTICES = ("frozen", "unfrozen")

# Each kind of alert, as the page names it.
KIND_WORDS = {
    "inquiry": N_("A partner asked about you"),
    "score_change": N_("Your score changed by 20 points or more"),
    "negative_item": N_("A new negative item on your record"),
    "court_list_match": N_("You were matched to a court listing"),
    "frozen_attempt": N_("A partner tried to reach your frozen file"),
}


@router.get("/me/alerts")
def alerts_page(
    request: Request,
    caller: PersonCaller,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    engine = request.app.state.workspace.engine
    person_id = own_person_id(caller)
    return render(
        request,
        "alerts.html",
        state=freezing.freeze_state(engine, person_id),
        alerts=freezing.alerts_of(engine, caller, person_id),
        kind_words=KIND_WORDS,
        done=done if done in NOTICES else None,
    )


@router.post("/me/freeze")
def freeze(request: Request, caller: PersonCaller, session: Checked) -> Response:
    engine = request.app.state.workspace.engine
    now = dt.datetime.now(dt.UTC)
    freezing.set_freeze(engine, own_person_id(caller), True, caller.actor, now)
    return see_other("/me/alerts?done=frozen")


@router.post("/me/unfreeze")
def unfreeze(request: Request, caller: PersonCaller, session: Checked) -> Response:
    engine = request.app.state.workspace.engine
    now = dt.datetime.now(dt.UTC)
    freezing.set_freeze(engine, own_person_id(caller), False, caller.actor, now)
    return see_other("/me/alerts?done=unfrozen")


@router.post("/me/alerts/{alert_id}/read")
def mark_read(
    request: Request,
    caller: PersonCaller,
    session: Checked,
    alert_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    engine = request.app.state.workspace.engine
    now = dt.datetime.now(dt.UTC)
    freezing.mark_alert_read(engine, own_person_id(caller), alert_id, caller.actor, now)
    return see_other(f"/me/alerts#alert-{alert_id}")
