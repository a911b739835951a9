"""The OpenAPI document as the server answers: every refusal a route can give, documented
as the problem details (`application/problem+json`) it is sent as, derived in one place
from what the route declares, so that a new route is documented by declaring its
dependencies.

- every `/v1/...` route: 400 (a Content-Length that is not a number), 401 and 413 (the
  request-limit middleware, before routing), 503 (the store out of reach);
- a route's dependencies add theirs (`deps.REFUSALS`): 403 for a caller of the wrong kind,
  404 for a person the caller may not read, 429 where partners' calls are rate limited;
- a path parameter adds 404 (nothing by that id), parameters or a body 422;
- credentials are the `bearer` security scheme (the admin's token, a person's token or a
  partner's API key), not a header parameter.

A 405 belongs to no operation (it answers a method no operation has); its `Allow` names
every method the path has (`route_table.allowed_methods`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from kaimen.api.deps import REFUSALS
from kaimen.api.problems import DESCRIPTIONS, PROBLEM, Problem
from kaimen.api.route_table import api_routes

_API = "/v1/"
SCHEME = "bearer"
# What the middleware in front of every `/v1/...` route refuses with, and the store's absence.
_EVERY_API_ROUTE = frozenset({400, 401, 413, 503})
_FASTAPI_422 = "Validation Error"
_REF_TEMPLATE = "#/components/schemas/{model}"
_PROBLEM_REF = {"$ref": _REF_TEMPLATE.format(model="Problem")}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_DESCRIPTIONS = {
    **DESCRIPTIONS,
    400: "a malformed request (a Content-Length that is not a number)",
    429: "too many requests; Retry-After says when to ask again",
    503: "the service is unavailable for now (its store out of reach); Retry-After says "
    "when to ask again",
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for dependency in dependant.dependencies:
        yield from _calls(dependency)


def refusals(route: APIRoute) -> frozenset[int]:
    """The error statuses `route` can answer with."""
    statuses = set(_EVERY_API_ROUTE) if route.path.startswith(_API) else set()
    for call in _calls(route.dependant):
        statuses |= REFUSALS.get(call, frozenset())
    if route.dependant.path_params:
        statuses.add(404)
    if _validated(route.dependant):
        statuses.add(422)
    return frozenset(statuses)


def _validated(dependant: Dependant) -> bool:
    """Whether a request can fail `dependant`'s validation: a body, a path or a query
    parameter (the Authorization header is any text, or none)."""
    return bool(dependant.body_params or dependant.path_params or dependant.query_params) or any(
        _validated(d) for d in dependant.dependencies
    )


def _authenticated(route: APIRoute) -> bool:
    return 401 in refusals(route)


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document for `app`, with every route's refusals as problem details
    and its credentials as a security scheme."""
    routes = [r for r in api_routes(app.routes) if r.include_in_schema]
    spec = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=routes,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template=_REF_TEMPLATE)
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    spec["components"]["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "the admin's token, a person's token or a partner's API key",
        }
    }
    for route in routes:
        statuses = refusals(route)
        for method in route.methods or ():
            operation = spec["paths"][route.path_format].get(method.lower())
            if operation is not None:
                _documented(operation, statuses, _authenticated(route))
    # FastAPI's validation error shape is never sent: a 422 is problem details too.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def _documented(operation: dict[str, Any], statuses: frozenset[int], authenticated: bool) -> None:
    if authenticated:
        operation["security"] = [{SCHEME: []}]
        operation["parameters"] = [
            p
            for p in operation.get("parameters", [])
            if not (p["in"] == "header" and p["name"].lower() == "authorization")
        ]
        if not operation["parameters"]:
            del operation["parameters"]
    responses: dict[str, Any] = operation["responses"]
    for code in statuses:
        responses.setdefault(str(code), {"description": _DESCRIPTIONS.get(code, "error")})
    if responses.get("422", {}).get("description") == _FASTAPI_422:
        # FastAPI documents a 422 wherever there is a parameter, the Authorization header
        # included; it is kept where validation can refuse.
        if 422 in statuses:
            responses["422"]["description"] = _DESCRIPTIONS[422]
        else:
            del responses["422"]
    for status, response in responses.items():
        if not status.isdigit() or int(status) < 400:
            continue
        response["content"] = {PROBLEM: {"schema": _PROBLEM_REF}}
        if int(status) in (429, 503):
            response["headers"] = _RETRY_AFTER
    # In order of status, as a reader looks them up.
    operation["responses"] = dict(sorted(responses.items()))


def install(app: FastAPI) -> None:
    """Serve `document(app)` as the app's OpenAPI document (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
