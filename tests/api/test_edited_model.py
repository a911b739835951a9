"""The champion's artifact edited on disk: published scores are still served, what needs the
model answers 503 saying it failed its integrity check (the API, `/readyz` and the command
line), and everything computes again once the artifact is restored."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.api.app import create_app
from kaimen.cli import app as cli_app
from kaimen.config import Settings
from kaimen.features.catalogue import CATALOGUE
from kaimen.store import model_registry
from kaimen.store.tables import score_snapshots
from tests.population import LAST, Population

ADMIN = "an-admin-token-of-some-length"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
SECRET = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module")
def scored(scored_copy: Population) -> Iterator[tuple[Population, TestClient, str, Path]]:
    world = scored_copy.open()
    with world.engine.connect() as store:
        person_id = (
            store.execute(
                select(score_snapshots.c.person_id)
                .where(score_snapshots.c.month == LAST, score_snapshots.c.score.between(450, 800))
                .order_by(score_snapshots.c.person_id)
            )
            .scalars()
            .first()
        )
        champion = model_registry.champion(store)
    world.engine.dispose()
    assert person_id is not None and champion is not None
    settings = Settings(
        home=scored_copy.home, admin_token=ADMIN, database_url=scored_copy.url, secret_key=SECRET
    )
    app = create_app(settings)
    with TestClient(app) as client:
        artifact = model_registry.artifact_path(champion.path, scored_copy.home)
        yield scored_copy, client, str(person_id), artifact
    app.state.workspace.engine.dispose()


def _what_if(client: TestClient, person_id: str) -> list[tuple[int, dict[str, object]]]:
    actionable = next(name for name, feature in CATALOGUE.items() if feature.actionable)
    answers = [
        client.get(f"/v1/people/{person_id}/whatif?target=900", headers=AS_ADMIN),
        client.post(
            f"/v1/people/{person_id}/whatif",
            json={"values": {actionable: None}},
            headers=AS_ADMIN,
        ),
    ]
    return [(a.status_code, a.json()) for a in answers]


def test_an_edited_champion_is_refused_for_computation_and_scores_still_served(
    scored: tuple[Population, TestClient, str, Path],
) -> None:
    population, client, person_id, artifact = scored
    assert [status for status, _ in _what_if(client, person_id)] == [200, 200]
    original = artifact.read_bytes()
    document = json.loads(original)
    artifact.write_text(json.dumps(document, indent=1))  # the same model, other bytes
    try:
        score = client.get(f"/v1/people/{person_id}/score", headers=AS_ADMIN)
        assert score.status_code == 200 and score.json()["score"] is not None
        for status, problem in _what_if(client, person_id):
            assert status == 503, problem
            assert problem["type"] == "urn:kaimen:problem:model-integrity"
            assert "integrity check" in str(problem["detail"])
            assert str(artifact) not in json.dumps(problem)  # the path stays in the server
        refused = client.get(f"/v1/people/{person_id}/whatif?target=900", headers=AS_ADMIN)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) > 0
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = {c["name"]: c for c in ready.json()["checks"]}
        assert checks["model"] == {
            "name": "model",
            "ok": False,
            "detail": "the champion's artifact failed its integrity check",
        }
        result = CliRunner().invoke(
            cli_app,
            ["whatif", person_id, "--target", "900"],
            env={
                "KAIMEN_HOME": str(population.home),
                "KAIMEN_DATABASE_URL": population.url,
                "KAIMEN_SECRET_KEY": SECRET,
                "COLUMNS": "300",
                "NO_COLOR": "1",
            },
        )
        assert result.exit_code != 0
        assert "failed its integrity check" in result.output
        assert "Traceback" not in result.output
    finally:
        artifact.write_bytes(original)
    assert [status for status, _ in _what_if(client, person_id)] == [200, 200]
    assert client.get("/readyz").status_code == 200
