"""The app's API routes as one flat list: routers included into a FastAPI app are kept as
nested branches, not flattened into `app.routes`."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def api_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """Every `APIRoute` among `routes` and the routers they include, in routing order."""
    return [
        context.original_route
        for context in iter_route_contexts(routes)
        if isinstance(context.original_route, APIRoute)
    ]


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route answers at the path of `scope`: Starlette's 405 names only
    those of the first route whose path matched, and a path served by two routes (`GET` and
    `POST /v1/offers`) has two."""
    methods: set[str] = set()
    for route in api_routes(routes):
        match, _ = route.matches(scope)
        if match != Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)
