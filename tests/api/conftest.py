"""An API app over a store with the four people of `events_factory` enrolled, called with
the admin's token."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.store.identity_vault import IdentityVault
from tests.ingest import events_factory as f

TOKEN = "admin-token-for-tests-0123456789"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
        admin_token=TOKEN,
    )


@pytest.fixture
def client(settings: Settings, engine: Engine, vault: IdentityVault) -> Iterator[TestClient]:
    f.enrol(engine, vault)
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    app.state.workspace.engine.dispose()
