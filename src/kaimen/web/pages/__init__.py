"""The web app's pages, one module per role; `router` holds them all."""

from __future__ import annotations

from fastapi import APIRouter

from kaimen.web.pages import admin, partner, person, person_alerts, person_records, signing

router = APIRouter()
for module in (signing, person, person_records, person_alerts, partner, admin):
    router.include_router(module.router)
