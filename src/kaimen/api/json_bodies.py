"""JSON request bodies that refuse a duplicated key (`domain.json_values.DuplicateKey`), for
every route of the API. Every API router is built with `JsonBodyRoute`, whose requests parse
their bodies with `loads`; the refusal reaches the caller as FastAPI's own invalid-JSON error
(422), naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from kaimen.domain.json_values import DuplicateKey, unique_members
from kaimen.domain.text import excerpt


def loads(body: bytes | str) -> Any:
    """`json.loads`, refusing an object with a key twice (`json.JSONDecodeError` naming it,
    at most a short prefix of it)."""
    try:
        return json.loads(body, object_pairs_hook=unique_members)
    except DuplicateKey as duplicated:
        # The position is not known inside the hook; the key says where.
        raise json.JSONDecodeError(f"duplicate key {excerpt(duplicated.key)!r}", "", 0) from None


class JsonBodyRequest(Request):
    """A request whose JSON body is read with `loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JsonBodyRoute(APIRoute):
    """A route whose body, when JSON, is read with `loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        declared = _query_names(self.dependant)

        async def handled(request: Request) -> Response:
            # A query parameter the route does not declare is refused, not ignored: a caller
            # who misspells `limit` learns so instead of getting the default.
            unknown = sorted(set(request.query_params) - declared)
            if unknown:
                raise RequestValidationError(
                    [
                        {
                            "type": "extra_forbidden",
                            "loc": ("query", name),
                            "msg": "Extra inputs are not permitted",
                        }
                        for name in unknown
                    ]
                )
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return handled


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {p.alias for p in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return frozenset(names)


def api_router() -> APIRouter:
    """A router for the API's routes: every one of them is built with one (a test holds them
    to it)."""
    return APIRouter(route_class=JsonBodyRoute)
