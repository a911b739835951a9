"""The web app as one ASGI application, and `mount`, which the API's `create_app` calls to
serve it at `/` beside the API (whose paths stay the API's own)."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from kaimen.config import Settings, Workspace
from kaimen.domain.errors import KaimenError
from kaimen.web import pages
from kaimen.web.guard import Guard
from kaimen.web.pages.access import NotSignedIn
from kaimen.web.rendering import render
from kaimen.web.sessions import SessionCodec

# Paths that belong to the API: an unknown one there is the API's 404 (problem details) and a
# known one with the wrong method its 405, never a web page.
API_PREFIXES = ("/v1/", "/docs", "/redoc", "/openapi.json", "/metrics", "/healthz", "/readyz")


class WebMount(Mount):
    """A mount at `/` that leaves the API's paths alone."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KaimenError)
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return render(request, "error.html", status_code=exc.status, status=exc.status, headers=headers)


def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        return render(
            request, "error.html", status_code=405, status=405, headers=dict(exc.headers or {})
        )
    return render(request, "error.html", status_code=exc.status_code, status=exc.status_code)


def _not_signed_in(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/sign-in", status_code=303)


def _invalid(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", status_code=400, status=400)


def web_app(workspace: Workspace, admin_token: str, session_key: bytes) -> FastAPI:
    """The pages, their static files and their guard, over one workspace."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.workspace = workspace
    app.state.admin_token = admin_token
    app.add_exception_handler(KaimenError, _refused)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_middleware(Guard, codec=SessionCodec(session_key))
    app.mount("/static", StaticFiles(packages=[("kaimen.web", "static")]), name="static")
    app.include_router(pages.router)
    return app


def mount(api: FastAPI, settings: Settings, workspace: Workspace) -> None:
    """Serve the web app at `/` on `api`, after the API's own routes."""
    pages_app = web_app(workspace, settings.admin_token_value(), settings.session_key())
    api.router.routes.append(WebMount("/", app=pages_app, name="web"))
