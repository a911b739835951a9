"""The welcome, signing in and out (a person's one-time code; a person's token, a partner's
key or the admin token), and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from kaimen.sharing.signing_in import (
    SignInRefused,
    sign_in_with_code,
    sign_in_with_credential,
    sign_out,
)
from kaimen.web.callers import caller_of
from kaimen.web.languages import COOKIE as LANGUAGE_COOKIE
from kaimen.web.languages import by_code
from kaimen.web.pages.access import LANDING, Checked, local_path, see_other
from kaimen.web.rendering import render

router = APIRouter()
CODE_MAX, TOKEN_MAX = 64, 256
# The language cookie outlives sessions: it is a preference, not a credential.
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


@router.get("/")
def home(request: Request) -> Response:
    caller = caller_of(request)
    if caller is not None:
        return see_other(LANDING[caller.kind])
    # After leaving (`person_records.leave`): the session is gone, the page says it is done.
    return render(request, "home.html", left=request.query_params.get("left") == "1")


@router.get("/sign-in")
def sign_in_page(
    request: Request, code: Annotated[str | None, Query(max_length=CODE_MAX)] = None
) -> Response:
    return render(request, "sign_in.html", code=code or "", error=None, failed=None)


@router.post("/sign-in/code")
def sign_in_code(
    request: Request, session: Checked, code: Annotated[str, Form(max_length=CODE_MAX)] = ""
) -> Response:
    try:
        signed = sign_in_with_code(request.app.state.workspace.engine, code)
    except SignInRefused:
        return render(
            request, "sign_in.html", status_code=401, code=code, error="code", failed="code"
        )
    request.state.session = session.signed_in(signed.secret)
    request.state.caller = signed.caller
    return see_other(LANDING[signed.caller.kind])


@router.post("/sign-in/token")
def sign_in_token(
    request: Request, session: Checked, token: Annotated[str, Form(max_length=TOKEN_MAX)] = ""
) -> Response:
    state = request.app.state
    try:
        signed = sign_in_with_credential(state.workspace.engine, state.admin_token, token)
    except SignInRefused:
        return render(
            request, "sign_in.html", status_code=401, code="", error="token", failed="token"
        )
    request.state.session = session.signed_in(signed.secret)
    request.state.caller = signed.caller
    return see_other(LANDING[signed.caller.kind])


@router.post("/sign-out")
def signing_out(request: Request, session: Checked) -> Response:
    if session.secret is not None:
        sign_out(request.app.state.workspace.engine, session.secret)
    request.state.session = session.signed_out()
    request.state.caller = None
    return see_other("/")


@router.post("/language")
def choose_language(
    request: Request,
    session: Checked,
    language: Annotated[str, Form(max_length=16)],
    next_path: Annotated[str | None, Form(alias="next", max_length=2048)] = None,
) -> Response:
    chosen = by_code(language)
    response = see_other(local_path(next_path))
    if chosen is not None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen.code,
            max_age=LANGUAGE_COOKIE_SECONDS,
            path="/",
            samesite="lax",
            httponly=True,
            secure=request.url.scheme == "https",
        )
    return response
