"""`create_app(settings)`: the FastAPI application, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI

from kaimen import __version__
from kaimen.api import (
    event_routes,
    me_routes,
    own_data_routes,
    partner_routes,
    people_routes,
    problems,
    report_routes,
)
from kaimen.config import Settings


def create_app(settings: Settings) -> FastAPI:
    """Open the store (migrating it) and build the app around it."""
    app = FastAPI(
        title="kaimen",
        version=__version__,
        description="Credit and trust scoring that the people it scores can see, "
        "understand and contest.",
    )
    problems.install(app)

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    for module in (
        event_routes,
        people_routes,
        partner_routes,
        me_routes,
        report_routes,
        own_data_routes,
    ):
        app.include_router(module.router)
    # Resolved once: every route reaches them through `api.deps`.
    app.state.workspace = settings.workspace()
    app.state.admin_token = settings.admin_token_value()
    return app
