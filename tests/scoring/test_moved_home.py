"""A home copied elsewhere, the original deleted: the copy scores and answers what-ifs with
its own artifacts, which the registry names relative to the home."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.store import model_registry
from kaimen.store.database import open_store
from kaimen.store.tables import score_snapshots
from tests.databases import STORE_FILE
from tests.population import LAST, Population

ADMIN = "an-admin-token-of-some-length"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
SECRET = base64.b64encode(bytes(range(32))).decode()


def test_a_copied_home_scores_with_its_own_artifacts(
    scored_copy: Population, tmp_path_factory: pytest.TempPathFactory
) -> None:
    old_home = scored_copy.home
    new_home = tmp_path_factory.mktemp("moved") / "home"
    shutil.copytree(old_home, new_home)
    shutil.rmtree(old_home)
    url = (
        f"sqlite:///{new_home / STORE_FILE}"
        if scored_copy.url.startswith("sqlite")
        else scored_copy.url
    )
    engine = open_store(url)
    with engine.connect() as store:
        registered = model_registry.every(store)
        person_id = (
            store.execute(
                select(score_snapshots.c.person_id)
                .where(score_snapshots.c.month == LAST, score_snapshots.c.score.between(450, 800))
                .order_by(score_snapshots.c.person_id)
            )
            .scalars()
            .first()
        )
    engine.dispose()
    assert registered and all(not Path(r.path).is_absolute() for r in registered)
    settings = Settings(home=new_home, admin_token=ADMIN, database_url=url, secret_key=SECRET)
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            assert client.get("/readyz").status_code == 200
            plan = client.get(f"/v1/people/{person_id}/whatif?target=900", headers=AS_ADMIN)
            assert plan.status_code == 200, plan.text
            score = client.get(f"/v1/people/{person_id}/score", headers=AS_ADMIN)
            assert score.status_code == 200 and score.json()["score"] is not None
    finally:
        app.state.workspace.engine.dispose()
