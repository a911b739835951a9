"""The analyst's and the admin's pages: the partners on the platform."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from kaimen.sharing import partnering
from kaimen.web.pages.access import AdminCaller
from kaimen.web.rendering import render

router = APIRouter()


@router.get("/admin")
def overview(request: Request, caller: AdminCaller) -> Response:
    return render(
        request, "admin.html", partners=partnering.list_partners(request.app.state.workspace.engine)
    )
