"""What wraps every web request: its session and language in, the security headers and the
session cookie out, and a plain error page (never a traceback) for anything unexpected."""

from __future__ import annotations

import logging
import time

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from kaimen.domain.errors import StoreUnavailable
from kaimen.operations.readiness import store_unavailable
from kaimen.web.languages import COOKIE as LANGUAGE_COOKIE
from kaimen.web.languages import chosen
from kaimen.web.rendering import render
from kaimen.web.sessions import Session, SessionCodec

_log = logging.getLogger(__name__)

# Scripts and styles from our own origin only: no inline script, no style attribute, no
# eval; no frames, no plugins, forms post only to us.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A sign-in link carries its code in the query: it must not leave in a Referer.
    "Referrer-Policy": "same-origin",
}
STATIC = "/static/"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


class Guard(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        super().__init__(app)
        self.codec = codec

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith(STATIC):
            # No session is read for a static file, but a missing one is answered with the
            # site's own 404 page, which is drawn for a visitor (it was a 500 without this).
            request.state.session = Session.fresh()
            request.state.language = chosen(
                request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
            )
            response = await call_next(request)
            response.headers.update(SECURITY_HEADERS)
            return response
        started = time.perf_counter()
        held = self.codec.read(request)
        request.state.session = held or Session.fresh()
        request.state.language = chosen(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        try:
            response = await call_next(request)
        except Exception as error:
            # The error page must render even when the store cannot be reached.
            request.state.caller = None
            if store_unavailable(error):
                # Expected while the database is down: one line, no traceback.
                _log.warning("web page: the store is unreachable: %s", request.url.path)
                response = render(
                    request,
                    "error.html",
                    status_code=503,
                    status=503,
                    headers={"Retry-After": str(StoreUnavailable.retry_after)},
                )
            else:
                # The log has the details; the person gets a page that names none of them.
                _log.exception("web page failed: %s %s", request.method, request.url.path)
                response = render(request, "error.html", status_code=500, status=500)
        session: Session = request.state.session
        if session != held:
            self.codec.write(response, session, secure=is_https(request))
        response.headers.update(SECURITY_HEADERS)
        # The page's time in the server, for the browser's developer tools and the benchmark.
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"page;dur={elapsed_ms:.1f}"
        return response
