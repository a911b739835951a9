"""The partner's console: its offers and its API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from kaimen.sharing import offering, partnering
from kaimen.web.pages.access import PartnerCaller
from kaimen.web.rendering import render

router = APIRouter()


@router.get("/partner")
def console(request: Request, caller: PartnerCaller) -> Response:
    assert caller.partner_id is not None
    engine = request.app.state.workspace.engine
    return render(
        request,
        "partner.html",
        partner_id=caller.partner_id,
        offers=offering.offers_of(engine, caller.partner_id),
        keys=partnering.keys_of(engine, caller.partner_id),
    )
