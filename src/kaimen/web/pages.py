"""The pages: the welcome, signing in and out, the language switch, and the person's page.

Each handler parses its form, checks the session, calls one service and renders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden
from kaimen.domain.scores import Dimension as DimensionName
from kaimen.scoring.reading import NoScore, ScoreView, read_score
from kaimen.sharing.signing_in import SignInRefused, sign_in_with_code, sign_in_with_token
from kaimen.web.gauge import Gauge, gauge_of
from kaimen.web.languages import COOKIE as LANGUAGE_COOKIE
from kaimen.web.languages import by_code
from kaimen.web.rendering import render
from kaimen.web.sessions import CSRF_FIELD, CSRF_HEADER, Session
from kaimen.web.words import BAND_WORDS, DIMENSION_WORDS

router = APIRouter()
CODE_MAX, TOKEN_MAX = 64, 256
# The language cookie outlives sessions: it is a preference, not a credential.
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


class CsrfRefused(Forbidden):
    """A form posted without this session's CSRF token, or from another origin."""


async def checked_session(request: Request) -> Session:
    """The session of a POST whose CSRF token is the session's own (and whose Origin, when
    the browser sends one, is ours); `CsrfRefused` otherwise."""
    session: Session = request.state.session
    form = await request.form()
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not isinstance(presented, str) or not session.accepts(presented):
        raise CsrfRefused("this form has expired or did not come from this site; try again")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused("this form did not come from this site")
    return session


Checked = Annotated[Session, Depends(checked_session)]


def signed_in(request: Request) -> Caller | None:
    session: Session = request.state.session
    return None if session.person_id is None else Caller.person(session.person_id)


def local_path(target: str | None, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback`: a form's `next` must never
    send the browser elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return fallback
    return target


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@dataclass(frozen=True)
class Dimension:
    key: str
    name: str
    about: str
    value: int | None


@dataclass(frozen=True)
class PersonPage:
    view: ScoreView
    gauge: Gauge | None
    band_word: str | None
    change: int | None
    previous_month: str | None
    dimensions: tuple[Dimension, ...]
    chart_months: str  # JSON, oldest first, for the chart's data attributes
    chart_scores: str


def person_page(view: ScoreView) -> PersonPage:
    latest = view.history[0] if view.history else None
    previous = view.history[1] if len(view.history) > 1 else None
    oldest_first = list(reversed(view.history))
    return PersonPage(
        view=view,
        gauge=None if view.score is None else gauge_of(view.score),
        band_word=None if view.band is None else BAND_WORDS.get(view.band, view.band),
        change=None if latest is None else latest.change,
        previous_month=None if previous is None else previous.month,
        dimensions=tuple(
            Dimension(name.value, *DIMENSION_WORDS[name.value], view.dimensions.get(name))
            for name in DimensionName
        ),
        chart_months=json.dumps([m.month for m in oldest_first]),
        chart_scores=json.dumps([m.score for m in oldest_first]),
    )


@router.get("/")
def home(request: Request) -> Response:
    if signed_in(request) is not None:
        return see_other("/me")
    return render(request, "home.html")


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
        caller = sign_in_with_code(request.app.state.workspace.engine, code)
    except SignInRefused:
        return render(
            request, "sign_in.html", status_code=401, code=code, error="code", failed="code"
        )
    request.state.session = session.signed_in(str(caller.person_id))
    return see_other("/me")


@router.post("/sign-in/token")
def sign_in_token(
    request: Request, session: Checked, token: Annotated[str, Form(max_length=TOKEN_MAX)] = ""
) -> Response:
    state = request.app.state
    try:
        caller = sign_in_with_token(state.workspace.engine, state.admin_token, token)
    except SignInRefused:
        return render(
            request, "sign_in.html", status_code=401, code="", error="token", failed="token"
        )
    request.state.session = session.signed_in(str(caller.person_id))
    return see_other("/me")


@router.post("/sign-out")
def sign_out(request: Request, session: Checked) -> Response:
    request.state.session = session.signed_out()
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


@router.get("/me")
def me(request: Request) -> Response:
    caller = signed_in(request)
    if caller is None or caller.person_id is None:
        return see_other("/sign-in")
    try:
        view = read_score(request.app.state.workspace.engine, caller.person_id, caller)
    except NoScore:
        return render(request, "no_score.html")
    return render(request, "person.html", page=person_page(view))
