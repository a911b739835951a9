"""Errors as RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaimen.api.route_table import allowed_methods
from kaimen.domain.errors import KaimenError, StoreUnavailable
from kaimen.domain.text import excerpt
from kaimen.operations.readiness import store_unavailable

PROBLEM = "application/problem+json"

_log = logging.getLogger("kaimen.http")


class FieldProblem(BaseModel):
    line: int
    field: str
    reason: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = []


class ProblemResponse(JSONResponse):
    """Problem details as ASCII JSON: an error may echo input that is not valid Unicode (a
    lone surrogate), which escapes cleanly but cannot be encoded as UTF-8."""

    media_type = PROBLEM

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem(
    status: int, title: str, detail: str, problem_type: str = "about:blank", **extra: Any
) -> JSONResponse:
    body = {"type": problem_type, "title": title, "status": status, "detail": detail, **extra}
    return ProblemResponse(body, status_code=status)


def refusal(error: KaimenError) -> JSONResponse:
    """The problem details a kaimen error is shown as."""
    title = error.title or HTTPStatus(error.status).phrase
    response = problem(error.status, title, error.detail, problem_type(error), **error.extra())
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    response.headers.update(error.headers())
    return response


def problem_type(error: KaimenError) -> str:
    """The URI naming the kind of problem (RFC 9457 `type`)."""
    return f"urn:kaimen:problem:{error.problem}"


DESCRIPTIONS = {
    401: "missing or unknown credentials",
    403: "this caller may not use this endpoint",
    404: "not found (or no consent: the same answer)",
    409: "conflicts with the current state",
    413: "the body is too large",
    422: "invalid input; nothing stored",
    429: "too many requests for now: retry after the seconds Retry-After gives",
    503: "the database (or the model) cannot be used right now; nothing stored; "
    "Retry-After says when to try again",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def documented(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, as problem details; `described` overrides a
    description (`s404="no score"`)."""
    return {
        status: {
            "model": Problem,
            "description": described.get(f"s{status}", DESCRIPTIONS.get(status, "error")),
            **({"headers": _RETRY_AFTER} if status == 429 else {}),
        }
        for status in statuses
    }


# The members of a validation error's context that pydantic fills from the input (an unknown
# tag, attribute or time zone); the others (expected tags, a pattern, a bound) are the schema's.
_ECHOED_CONTEXT = ("tag", "attribute", "tz_actual")


def _reason(item: Mapping[str, Any]) -> str:
    """Pydantic's message for one validation error, quoting no more of the input than a short
    prefix."""
    reason = str(item.get("msg", "invalid"))
    context = item.get("ctx") or {}
    if item.get("type") == "json_invalid" and isinstance(context.get("error"), str):
        # What is wrong with the JSON (a duplicated key, a missing comma), not only that it is.
        return f"{reason}: {excerpt(context['error'])}"
    for key in _ECHOED_CONTEXT:
        value = context.get(key)
        if isinstance(value, str) and excerpt(value) != value:
            reason = reason.replace(value, excerpt(value))
    return reason


def install(
    app: FastAPI, before_invalid: Callable[[Request], Awaitable[None]] | None = None
) -> None:
    """Map kaimen's errors and framework errors onto problem details. `before_invalid` runs
    before a validation error is shown; a kaimen error it raises is shown instead."""

    @app.exception_handler(KaimenError)
    async def _refused(_: Request, exc: KaimenError) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if before_invalid is not None:
            try:
                await before_invalid(request)
            except KaimenError as refusal:
                return await _refused(request, refusal)
        errors = []
        for item in exc.errors():
            loc = tuple(item.get("loc", ()))
            names = [p for p in loc if isinstance(p, str) and p != "body"]
            line, field = 0, names[-1] if names else "body"
            # Only a position in a batch of events is a line; a field that merely looks like a
            # number ("5", or "²", which str.isdigit accepts) is a name, never a line.
            if loc[:2] == ("body", "events") and len(loc) > 2 and isinstance(loc[2], int):
                line = loc[2] + 1
                # Events are told apart by their kind: an unknown or missing kind is an error
                # of the discriminator; any other sits at (body, events, index, kind, field),
                # followed, for a number that is neither text nor a number, by the type tried.
                discriminator = item.get("ctx", {}).get("discriminator")
                if discriminator is not None:
                    field = str(discriminator).strip("'")
                elif len(loc) > 4:
                    field = str(loc[4])
            # A field outside the schema is named by the caller: it is input too.
            errors.append({"line": line, "field": excerpt(field), "reason": _reason(item)})
        return problem(
            422, "Request invalid", "the request does not match its schema", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        response = problem(exc.status_code, title, str(exc.detail))
        # Keep what the exception asked for: Allow on a 405, WWW-Authenticate on a 401.
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(app.routes, request.scope)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.exception_handler(SQLAlchemyError)
    async def _store_failed(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not store_unavailable(exc):
            raise exc  # on to the handler of unexpected errors: a 500
        # Expected while the database is down: one line, no traceback.
        _log.warning("the store is unreachable", extra={"error": type(exc).__name__})
        return refusal(StoreUnavailable())

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Still problem details, and nothing of the error's text (it may name data).
        return problem(
            500, "Internal Server Error", "an unexpected error; the server log has the details"
        )
