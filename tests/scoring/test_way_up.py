"""The way up and free what-if on a simulated population, through the API and the CLI."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.api.app import create_app
from kaimen.cli import app
from kaimen.config import Settings
from kaimen.domain import profiles
from kaimen.domain.scores import SCORE_MAX
from kaimen.engines.embedded import ibis_connection
from kaimen.features.catalogue import CATALOGUE, DOMAINS
from kaimen.model.card_scorer import CardScorer
from kaimen.model.whatif import WhatIfRejected, apply
from kaimen.scoring import way_up
from kaimen.store import person_tokens
from kaimen.store.tables import score_snapshots
from tests.population import LAST, World

PROFILE = profiles.load()

ADMIN = "an-admin-token-of-some-length"


def _scored(w: World) -> list[tuple[str, int]]:
    with w.engine.connect() as store:
        rows = store.execute(
            select(score_snapshots.c.person_id, score_snapshots.c.score)
            .where(score_snapshots.c.month == LAST, score_snapshots.c.score.is_not(None))
            .order_by(score_snapshots.c.score)
        ).all()
    return [(r.person_id, r.score) for r in rows]


def test_the_start_is_the_published_score(world: World) -> None:
    scored = _scored(world)
    for person_id, score in scored[:: max(1, len(scored) // 40)]:
        begin = way_up.start(world.engine, ibis_connection(), world.lake, PROFILE, person_id)
        raw = CardScorer(begin.card).raw(begin.values)
        card_score = min(max(raw, 350), 950)
        # Nobody here is listed or counts friends: publication leaves the card's score.
        assert (begin.month, card_score, begin.published.of(card_score)) == (LAST, score, score)


def test_the_plan_reaches_the_target_with_actionable_changes_only(world: World) -> None:
    scored = _scored(world)
    reached = 0
    for person_id, score in scored[: len(scored) // 2 : max(1, len(scored) // 60)]:
        target = min(score + 60, SCORE_MAX)
        begin, plan = way_up.way_up(
            world.engine, ibis_connection(), world.lake, PROFILE, person_id, target
        )
        assert plan.score == score
        for change in plan.changes:
            assert CATALOGUE[change.feature].actionable
            assert change.feature not in ("age_years", "history_months")
        after = CardScorer(begin.card).raw(apply(begin.values, plan.changes))
        assert after == plan.new_raw_score
        if plan.reachable:
            reached += 1
            assert after >= target
        else:
            assert after < target
    assert reached > 0


def test_unknown_people_and_thin_files_have_no_way_up(world: World) -> None:
    with pytest.raises(way_up.NoScore, match="no published score for nobody"):
        way_up.way_up(world.engine, ibis_connection(), world.lake, PROFILE, "nobody", 650)
    with world.engine.connect() as store:
        thin = store.execute(
            select(score_snapshots.c.person_id).where(
                score_snapshots.c.month == LAST, score_snapshots.c.thin_file.is_(True)
            )
        ).first()
    if thin is not None:
        with pytest.raises(way_up.NoScore, match="thin file"):
            way_up.way_up(world.engine, ibis_connection(), world.lake, PROFILE, thin.person_id, 650)


def test_the_api_answers_the_person_and_the_admin_only(world: World) -> None:
    # Unclipped scores, so points added show in the score one for one.
    (me, my_score), (someone_else, _) = [p for p in _scored(world) if 400 < p[1] < 600][:2]
    with world.engine.begin() as store:
        token = person_tokens.issue(store, me, dt.datetime.now(dt.UTC))
    client = TestClient(create_app(Settings(home=world.home, admin_token=ADMIN)))
    mine = {"Authorization": f"Bearer {token}"}

    response = client.get(f"/v1/people/{me}/whatif", params={"target": 700}, headers=mine)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["score"] == my_score and body["target"] == 700 and body["month"] == LAST
    assert body["changes"] and all(c["points_added"] > 0 for c in body["changes"])
    assert body["new_score"] == my_score + sum(c["points_added"] for c in body["changes"])
    assert body["reachable"] == (body["new_score"] >= 700)

    theirs = client.get(f"/v1/people/{someone_else}/whatif?target=700", headers=mine)
    unknown = client.get("/v1/people/nobody/whatif?target=700", headers=mine)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == unknown.json()["detail"]
    assert client.get(f"/v1/people/{me}/whatif?target=700").status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.get(f"/v1/people/{someone_else}/whatif?target=700", headers=admin).is_success
    assert client.get(f"/v1/people/{me}/whatif?target=951", headers=mine).status_code == 422
    assert client.get(f"/v1/people/{me}/whatif", headers=mine).status_code == 422

    begin = way_up.start(world.engine, ibis_connection(), world.lake, PROFILE, me)
    name = begin.card.names[0]
    free = client.post(f"/v1/people/{me}/whatif", json={"values": {name: None}}, headers=mine)
    assert free.status_code == 200, free.text
    expected = CardScorer(begin.card).raw({**begin.values, name: math.nan})
    assert free.json()["new_score"] == min(max(expected, 350), 950)
    refused = client.post(
        f"/v1/people/{me}/whatif", json={"values": {"shoe_size": 3}}, headers=mine
    )
    # Not a characteristic at all: the schema refuses it, naming it.
    assert refused.status_code == 422 and "shoe_size" in refused.text
    extra = client.post(
        f"/v1/people/{me}/whatif", json={"values": {name: 1}, "score": 950}, headers=mine
    )
    assert extra.status_code == 422
    assert (
        client.post(f"/v1/people/{me}/whatif", json={"values": {}}, headers=mine).status_code == 422
    )


def test_the_cli_shows_the_way_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(world.home))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    (me, score), *_ = _scored(world)
    runner = CliRunner()
    result = runner.invoke(app, ["whatif", me, "--target", str(min(score + 50, 950))])
    assert result.exit_code == 0, result.output
    assert f"{score} now" in result.output and "points" in result.output
    begin = way_up.start(world.engine, ibis_connection(), world.lake, PROFILE, me)
    name = begin.card.names[0]
    result = runner.invoke(app, ["whatif", me, "--set", f"{name}=0"])
    assert result.exit_code == 0, result.output
    assert "now" in result.output
    result = runner.invoke(app, ["whatif", me, "--set", "shoe_size=3"])
    assert result.exit_code == 1 and "not on the card: shoe_size" in result.output
    result = runner.invoke(app, ["whatif", me])
    assert result.exit_code == 2 and "either --target" in result.output
    result = runner.invoke(app, ["whatif", me, "--target", "2000"])
    assert result.exit_code == 1 and "between 350 and 950" in result.output
    with pytest.raises(WhatIfRejected):
        way_up.free_what_if(
            world.engine, ibis_connection(), world.lake, PROFILE, me, {name: math.inf}
        )


def test_a_what_if_outside_a_characteristics_domain_is_refused(world: World) -> None:
    me = _scored(world)[0][0]
    card = way_up.start(world.engine, ibis_connection(), world.lake, PROFILE, me).card
    names = [c.name for c in card.characteristics if c.kind != "categorical" and c.name in DOMAINS]
    assert names
    client = TestClient(create_app(Settings(home=world.home, admin_token=ADMIN)))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for name in names:
        high = DOMAINS[name].high
        for value in (1e308, -1, high + 1):
            refused = client.post(
                f"/v1/people/{me}/whatif", json={"values": {name: value}}, headers=admin
            )
            assert refused.status_code == 422, (name, value, refused.text)
            assert refused.json()["detail"].startswith(f"{name}: between "), refused.text
        tried = client.post(f"/v1/people/{me}/whatif", json={"values": {name: high}}, headers=admin)
        assert tried.status_code == 200, tried.text
