"""Reading a score over HTTP (who may) and the demo through the command line."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.api.app import create_app
from kaimen.cli import app
from kaimen.config import Settings
from kaimen.store import person_tokens
from kaimen.store.tables import score_snapshots
from tests.population import LAST, World

ADMIN = "an-admin-token-of-some-length"


def _scored_people(w: World) -> list[str]:
    with w.engine.connect() as store:
        return [
            r.person_id
            for r in store.execute(
                select(score_snapshots.c.person_id).where(
                    score_snapshots.c.month == LAST, score_snapshots.c.score.is_not(None)
                )
            )
        ][:2]


def test_only_the_person_or_the_admin_reads_a_score(world: World) -> None:
    me, someone_else = _scored_people(world)
    with world.engine.begin() as store:
        token = person_tokens.issue(store, me, dt.datetime.now(dt.UTC))
    client = TestClient(create_app(Settings(home=world.home, admin_token=ADMIN)))

    mine = client.get(f"/v1/people/{me}/score", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    body = mine.json()
    assert body["person_id"] == me and 350 <= body["score"] <= 950
    assert set(body["dimensions"]) == {
        "credit_history",
        "behaviour",
        "capacity",
        "identity",
        "connections",
    }
    assert [m["month"] for m in body["history"]] == [LAST, "2026-09"]

    theirs = client.get(
        f"/v1/people/{someone_else}/score", headers={"Authorization": f"Bearer {token}"}
    )
    unknown = client.get("/v1/people/nobody/score", headers={"Authorization": f"Bearer {token}"})
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == unknown.json()["detail"]
    assert client.get(f"/v1/people/{me}/score").status_code == 401
    # A credential that is no one's is refused as such, before any lookup of the person.
    assert (
        client.get(
            f"/v1/people/{me}/score", headers={"Authorization": "Bearer not-a-token"}
        ).status_code
        == 401
    )
    admin = client.get(
        f"/v1/people/{someone_else}/score", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert admin.status_code == 200


def test_the_demo_trains_scores_and_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--people", "600", "--no-serve", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "out-of-time AUC" in result.output
    auc = float(result.output.split("out-of-time AUC ")[1].split(",")[0])
    assert auc > 0.7
    assert "excellent" in result.output
    shown = runner.invoke(app, ["show", "S0004-00000001"])
    assert shown.exit_code == 0, shown.output
    assert "2026" in shown.output or "20" in shown.output
    again = runner.invoke(app, ["score", "--month", _last_full_month()])
    assert again.exit_code == 0 and "already published" in again.output
    bad = runner.invoke(app, ["train", "--as-of", "2026-13"])
    assert bad.exit_code == 2
    assert os.path.isdir(tmp_path / "models")


def _last_full_month() -> str:
    first = dt.date.today().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")
