"""`create_app(settings)`: the FastAPI application, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from kaimen import __version__
from kaimen.api import (
    audit_routes,
    connections_routes,
    contract,
    court_routes,
    decision_routes,
    dispute_routes,
    event_routes,
    fairness_routes,
    freeze_routes,
    me_routes,
    own_data_routes,
    partner_routes,
    payment_routes,
    people_routes,
    points_routes,
    problems,
    report_routes,
    request_limits,
)
from kaimen.api.deps import check_before_invalid
from kaimen.api.observability import install as install_observability
from kaimen.config import Settings
from kaimen.web import site as web


class KaimenApp(FastAPI):
    """FastAPI with `POST /v1/decisions` answered ahead of the middleware stack when it can
    be (`decision_routes.DecisionFastPath`), everything else as FastAPI answers it."""

    decisions: decision_routes.DecisionFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.decisions is None:
            await super().__call__(scope, receive, send)
        else:
            await self.decisions(scope, receive, send)

    async def _stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


@asynccontextmanager
async def _closing_the_store(app: FastAPI) -> AsyncIterator[None]:
    """The server's life: when it stops, the store's connections are closed (on SQLite the
    last one to close deletes the write-ahead log, see `kaimen.cli.session`). For servers
    that run the app's lifespan (another ASGI server, the test client); `kaimen serve` turns
    it off and closes the store itself, which a second Ctrl-C cannot skip."""
    yield
    app.state.workspace.engine.dispose()


def create_app(settings: Settings) -> FastAPI:
    """Open the store (migrating it) and build the app around it."""
    # The limits first: a bad one stops the server before it opens the store.
    limits = settings.rate_limits()
    workspace = replace(settings.workspace(), limits=limits)
    app = KaimenApp(
        lifespan=_closing_the_store,
        title="kaimen",
        version=__version__,
        description="Credit and trust scoring that the people it scores can see, "
        "understand and contest.",
    )
    # A partner key on `POST /v1/decisions` is looked up with the decision; a request refused
    # for its body is checked first, so that its caller learns nothing from the refusal.
    problems.install(app, before_invalid=check_before_invalid)
    # First: the route partners call most, and routes are tried in order.
    app.include_router(decision_routes.router)
    # Ahead of the middleware (see `KaimenApp`); what it leaves goes through all of it.
    app.decisions = decision_routes.DecisionFastPath(
        app._stack, app, decision_routes.decision_route()
    )
    request_limits.install(app)

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    for module in (
        event_routes,
        people_routes,
        partner_routes,
        me_routes,
        freeze_routes,
        connections_routes,
        report_routes,
        own_data_routes,
        dispute_routes,
        court_routes,
        payment_routes,
        points_routes,
        fairness_routes,
        audit_routes,
    ):
        app.include_router(module.router)
    # The web app at `/`, after every API route: the API keeps its own paths.
    web.mount(app, settings, workspace)
    contract.install(app)
    # Last: its middleware must see every request, those refused before routing included.
    install_observability(app, workspace.engine, settings)
    # Resolved once: every route reaches them through `api.deps`.
    app.state.workspace = workspace
    app.state.admin_token = settings.admin_token_value()
    return app
