"""What the HTTP API tells its operators: a request id, one log line and metrics per request,
`GET /metrics` (Prometheus) and `GET /readyz`.

The middleware is plain ASGI: Starlette's `BaseHTTPMiddleware` would cost about 0.8 ms a
request. `/metrics` and `/readyz` are unauthenticated like `/healthz`: they hold no personal
data and no ids (route templates, counts, durations, fixed phrases), and the scrapers and load
balancers that call them should not have to hold the admin token, which opens everyone's data.
Keep them off the public internet at the proxy if traffic volumes are confidential.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaimen.api import problems
from kaimen.config import Settings
from kaimen.domain.errors import StoreUnavailable
from kaimen.operations.readiness import check_readiness
from kaimen.telemetry.logs import REQUEST_ID
from kaimen.telemetry.metrics import HTTP_DURATION, HTTP_REQUESTS, exposition
from kaimen.telemetry.redaction import is_clean

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes every few seconds: their lines only at DEBUG, unless they fail.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_MAX_PROBLEM_BYTES = 64 * 1024
_TITLE = re.compile(rb'"title":"([^"\\]{1,80})"')
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")

_log = logging.getLogger("kaimen.http")


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a sane token that holds nothing sensitive, else a
    new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            given: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(given) and is_clean(given):
                return given
            break
    return new_request_id()


def new_request_id() -> str:
    """32 hex digits after a letter: no run of digits in it stands at a word start, so it can
    never look like a phone or ID number and be masked in the logs."""
    return "r" + os.urandom(16).hex()  # a UUID's randomness, without building one


@dataclass
class _Answer:
    """What was sent back, as far as the log line and the metrics need it."""

    status: int = 500
    started: bool = False
    problem: bytearray | None = None
    fields: dict[str, object] = field(default_factory=dict)

    def seen(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            content_type = dict(message.get("headers", ())).get(b"content-type", b"")
            if self.status >= 400 and content_type.startswith(problems.PROBLEM.encode()):
                self.problem = bytearray()
        elif message["type"] == "http.response.body" and self.problem is not None:
            room = _MAX_PROBLEM_BYTES - len(self.problem)
            self.problem += message.get("body", b"")[: max(room, 0)]

    def refusal(self) -> dict[str, object]:
        """The problem's title and, when it has them, its reason code and number of errors;
        never its detail, which may echo what was refused."""
        if not self.problem:
            return {}
        try:
            body = json.loads(self.problem)
        except ValueError:  # cut short: the title comes first
            head = _TITLE.search(self.problem)
            return {"problem": head.group(1).decode("ascii")} if head else {}
        if not isinstance(body, dict):
            return {}
        out: dict[str, object] = {}
        if isinstance(body.get("title"), str):
            out["problem"] = body["title"][:80]
        if isinstance(body.get("reason"), str) and _CODE.fullmatch(body["reason"]):
            out["reason"] = body["reason"]
        if isinstance(body.get("errors"), list):
            out["errors"] = len(body["errors"])
        return out


class RequestTelemetry:
    """Request id (taken or made, put in the log context and echoed in X-Request-ID), the
    access log line, and the request count and latency by method, route template and status."""

    def __init__(self, app: ASGIApp, site: FastAPI) -> None:
        self.app = app
        self.site = site
        # Each series once: `labels()` takes a lock and checks its arguments on every call.
        # Bounded: route templates (or "unmatched"), a few methods, the statuses sent.
        self._series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._compiled: list[tuple[str, re.Pattern[str]]] | None = None

    def route_of(self, scope: Scope) -> str:
        """The template of the route that answered, or would have (a request refused before
        routing); never the raw path, which holds ids."""
        route = scope.get("route")
        if isinstance(route, Route):
            return route.path
        path = scope.get("path", "")
        for template, pattern in self._templates():
            if pattern.match(path):
                return template
        return "unmatched"

    def _templates(self) -> list[tuple[str, re.Pattern[str]]]:
        """Every documented route's template and the pattern its paths match. Read from the
        OpenAPI document: routers included into the app are not flat in its route list."""
        if self._compiled is None:
            self._compiled = [
                (template, compile_path(template)[0]) for template in self.site.openapi()["paths"]
            ]
        return self._compiled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.observed(self.app, scope, receive, send)

    async def observed(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """`app` answering an HTTP request, with its request id, log line and metrics (for
        an app that answers some requests ahead of this middleware)."""
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        answer = _Answer()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            answer.seen(message)
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        except Exception as error:
            _log.error(
                "unhandled error in %s %s",
                scope["method"],
                self.route_of(scope),
                exc_info=True,
            )
            if not answer.started:
                await self._render(error, scope, receive, send_with_id)
            raise
        finally:
            self._finish(scope, answer, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    async def _render(self, error: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with the app's own handler for unexpected errors, so that the 500 carries
        the request id too; the error still goes on up to the server."""
        handler = self.site.exception_handlers.get(Exception)
        if handler is None:
            return
        response = handler(Request(scope, receive), error)
        if inspect.isawaitable(response):
            response = await response
        if isinstance(response, Response):
            await response(scope, receive, send)

    def _finish(self, scope: Scope, answer: _Answer, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = self.route_of(scope)
        labels = (method, route, str(answer.status))
        series = self._series.get(labels)
        if series is None:
            series = (HTTP_REQUESTS.labels(*labels), HTTP_DURATION.labels(*labels))
            self._series[labels] = series
        series[0].inc()
        series[1].observe(seconds)
        quiet = route in QUIET_ROUTES and answer.status < 400
        level = logging.DEBUG if quiet else logging.INFO
        if _log.isEnabledFor(level):
            # The record `_log.log` would make (as it makes one where `configure_logging`
            # turned off finding the caller), handed to the handlers directly: the one line
            # of every request, and `log`'s own calls cost a fifth of it.
            record = logging.getLogRecordFactory()(
                _log.name,
                level,
                "(unknown file)",
                0,
                "%s %s %s",
                (method, route, answer.status),
                None,
                "(unknown function)",
            )
            fields = record.__dict__
            fields["method"] = method
            fields["route"] = route
            fields["status"] = answer.status
            fields["duration_ms"] = round(seconds * 1000, 1)
            if answer.problem:
                fields.update(answer.refusal())
            _log.handle(record)


class CheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    status: Literal["ready"]
    checks: list[CheckOut]


def install(app: FastAPI, engine: Engine, settings: Settings) -> None:
    """Add the request middleware, `/metrics` and `/readyz`. Call it after every other
    middleware is added: the last added runs first, and this one must see every request,
    including those refused before routing."""
    app.add_middleware(RequestTelemetry, site=app)

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=ReadyOut,
        responses={503: {"model": problems.Problem, "description": "not ready; says why"}},
        summary="Readiness: the store answers at the newest migration and the lake is there",
    )
    def ready() -> Response:
        """200 when every check passes; 503 problem details naming each failed check."""
        readiness = check_readiness(engine, settings.lake_root)
        checks = [CheckOut(name=c.name, ok=c.ok, detail=c.detail) for c in readiness.checks]
        if readiness.ready:
            return JSONResponse(ReadyOut(status="ready", checks=checks).model_dump())
        failed = "; ".join(f"{c.name}: {c.detail}" for c in readiness.failed)
        response = problems.problem(
            503,
            "Service Unavailable",
            f"not ready: {failed}",
            checks=[c.model_dump() for c in checks],
        )
        response.headers["Retry-After"] = str(StoreUnavailable.retry_after)
        return response

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "metrics"}},
        summary="Prometheus metrics: requests by route, batch steps",
    )
    def metrics() -> Response:
        """Request counts and latency by method, route template and status; batch step
        durations run in this process; and each step's last run in any kaimen process."""
        return Response(exposition(settings.step_runs), media_type=CONTENT_TYPE_LATEST)
