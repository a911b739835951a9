"""What `/v1/...` refuses before a route sees the request: anonymous calls (401, before the
body is read) and bodies over the cap (413), whether they declare a Content-Length or
arrive in chunks without one. The web app's forms are capped the same way (413, without the
401: a form answers an anonymous visitor itself): an anonymous upload of 1.5 GB was
spooled to disk, and 300 fields of 1 MB held in memory, before the form was refused.

Plain ASGI, like the telemetry middleware: Starlette's `BaseHTTPMiddleware` would cost about
0.8 ms a request, and a check of the Content-Length header alone lets a chunked body through
(the server bounds those only loosely).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaimen.api.problems import problem

# Events come in batches; every other body is a small JSON object.
MAX_BODY_BYTES = 64 * 1024
MAX_EVENTS_BODY_BYTES = 16 * 1024 * 1024
# Disputes carry evidence files (base64): at most 5 of 2 MiB each.
EVIDENCE_PATHS = ("/v1/me/disputes", "/v1/admin/people/")
_API = "/v1/"
_DISCONNECT: Message = {"type": "http.disconnect"}


# Batches: events, a bank's payments (up to 10,000 of up to ~900 bytes each), court lists.
BATCH_PATHS = frozenset({"/v1/events", "/v1/admin/payments", "/v1/admin/court-list"})


# The web app's forms: a dispute's (its evidence files, at most 5 of 2 MiB each, as a
# multipart form); every other a few fields.
MAX_FORM_BYTES = 256 * 1024
WEB_EVIDENCE_PATHS = ("/me/disputes",)


def body_cap(path: str) -> int:
    """The most bytes a request body to `path` may hold."""
    if not path.startswith(_API):
        return MAX_EVENTS_BODY_BYTES if path.startswith(WEB_EVIDENCE_PATHS) else MAX_FORM_BYTES
    if path in BATCH_PATHS or path.startswith(EVIDENCE_PATHS):
        return MAX_EVENTS_BODY_BYTES
    return MAX_BODY_BYTES


def too_large(cap: int) -> JSONResponse:
    return problem(413, "Content Too Large", f"request bodies here are at most {cap:,} bytes")


def _refusal_before_reading(scope: Scope, cap: int, api: bool) -> JSONResponse | None:
    """The answer the headers alone call for, if any: 401 without credentials (the API's
    alone), 400 for a Content-Length that is not a number, 413 for one over the cap."""
    authorization = length = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"content-length" and length is None:
            length = value
    if api and not authorization:
        refused = problem(401, "Unauthorized", "a bearer token or API key is required")
        refused.headers["WWW-Authenticate"] = "Bearer"
        return refused
    if length is not None and not length.isdigit():  # bytes.isdigit: ASCII digits only
        return problem(400, "Bad Request", "Content-Length is not a number")
    if length is not None and int(length) > cap:
        return too_large(cap)
    return None


class _CountedBody:
    """The request body as the app reads it, counted message by message. When the count
    passes the cap and nothing has been answered yet, the 413 is sent from here and the app
    is told the client left: it never acts on a cut-off body, and whatever it answers after
    that is dropped."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        self.scope = scope
        self.cap = cap
        self.received = 0
        self.started = False
        self.cut = False
        self.answered = False
        self._receive = receive
        self._send = send

    async def receive(self) -> Message:
        if self.cut:
            return _DISCONNECT
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.cap:
                self.cut = True
                if not self.started:
                    self.answered = True
                    await too_large(self.cap)(self.scope, self._receive, self._send)
                return _DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class RequestLimits:
    """Refuse anonymous or oversized `/v1/...` requests and oversized web forms (see the
    module docstring); requests without a body (GET, HEAD) go straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(_API)
        if not api and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        cap = body_cap(scope["path"])
        refused = _refusal_before_reading(scope, cap, api)
        if refused is not None:
            await refused(scope, receive, send)
            return
        body = _CountedBody(scope, receive, send, cap)
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            # An app that fails because its body was cut off has been answered (413): the
            # failure is the refusal working, not an error to log.
            if not body.answered:
                raise


def install(app: FastAPI) -> None:
    """Add the middleware. Call it before the telemetry middleware is added, so that the
    telemetry, running first, sees these refusals too."""
    app.add_middleware(RequestLimits)
