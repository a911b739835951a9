"""The API's operations doors: request ids, access log lines, `/metrics` and `/readyz`."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, select

from kaimen.api import observability
from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.scoring.batch import score_month
from kaimen.scoring.training import train
from kaimen.simulate.run import simulate
from kaimen.store.database import open_store
from kaimen.store.tables import score_snapshots
from kaimen.telemetry.logs import configure_logging
from kaimen.telemetry.steps import keep_last_runs_in

ADMIN = "an-admin-token-of-some-length"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
LAST = "2026-10"
SCORE_ROUTE = "/v1/people/{person_id}/score"


@dataclasses.dataclass
class Site:
    settings: Settings
    engine: Engine
    client: TestClient
    people: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A small trained and scored population behind the API (SQLite)."""
    home = tmp_path_factory.mktemp("observability")
    settings = Settings(
        home=home,
        admin_token=ADMIN,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
    )
    engine = open_store(settings.resolved_database_url)
    simulate(300, 24, 11, home / "sim", LAST)
    enrol_file(engine, settings.vault(), home / "sim" / "people.csv", "test", now=NOW)
    ingest_file(engine, settings.lake_root, home / "sim" / "events.parquet", "test", now=NOW)
    train(engine, ibis_connection(), settings.lake_root, home / "models", LAST, "test", now=NOW)
    score_month(engine, ibis_connection(), settings.lake_root, LAST, "test", now=NOW)
    with engine.connect() as store:
        scored = store.execute(
            select(score_snapshots.c.person_id)
            .where(score_snapshots.c.score.is_not(None))
            .order_by(score_snapshots.c.person_id)
            .limit(3)
        ).scalars()
        people = list(scored)
    yield Site(settings, engine, TestClient(create_app(settings)), people)
    engine.dispose()


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG and above while the test runs, as JSON lines."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO, logger: str = "kaimen.http") -> list[dict[str, object]]:
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [r for r in records if r["logger"] == logger]


def _samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    return samples.get(("kaimen_http_requests_total", frozenset(labels.items())), 0.0)


# -- request ids --------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b:c_d"])
def test_a_sane_request_id_is_kept_and_echoed(site: Site, given: str) -> None:
    response = site.client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    [None, "", "13800138000", "11010519491231002X", "has space", "x" * 65, "Bearer-" + "Ab1" * 12],
)
def test_anything_else_gets_a_new_request_id(site: Site, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = site.client.get("/healthz", headers=headers).headers["x-request-id"]
    second = site.client.get("/healthz", headers=headers).headers["x-request-id"]
    assert re.fullmatch(r"r[0-9a-f]{32}", first)
    assert first != second


def test_one_access_line_per_request_with_the_route_template_and_request_id(
    site: Site, access_log: io.StringIO
) -> None:
    person = site.people[0]
    response = site.client.get(f"/v1/people/{person}/score", headers=AS_ADMIN)
    assert response.status_code == 200
    (line,) = _lines(access_log)
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["level"], line["method"], line["route"], line["status"]) == (
        "INFO",
        "GET",
        SCORE_ROUTE,
        200,
    )
    assert line["message"] == f"GET {SCORE_ROUTE} 200"
    assert isinstance(line["duration_ms"], float)


def test_what_is_logged_while_answering_carries_the_request_id(
    site: Site, access_log: io.StringIO
) -> None:
    response = site.client.post(
        "/v1/partners", json={"partner_id": "bike-share", "name": "Bikes"}, headers=AS_ADMIN
    )
    assert response.status_code == 201, response.text
    (audit,) = _lines(access_log, "kaimen.store.audit")
    (line,) = _lines(access_log)
    assert (audit["action"], audit["subject"], audit["actor"]) == (
        "partner.added",
        "bike-share",
        "admin",
    )
    assert audit["request_id"] == line["request_id"] == response.headers["x-request-id"]


def test_probes_log_at_debug_only(site: Site, access_log: io.StringIO) -> None:
    site.client.get("/healthz")
    site.client.get("/metrics")
    assert [line["level"] for line in _lines(access_log)] == ["DEBUG", "DEBUG"]


def test_a_refusal_logs_its_title_and_reason_code_never_the_value(
    site: Site, access_log: io.StringIO
) -> None:
    bad_id = "11010519491231002Y"
    response = site.client.post(
        "/v1/people", json={"phone": "+8613800138000", "national_id": bad_id}, headers=AS_ADMIN
    )
    assert response.status_code == 422
    (line,) = _lines(access_log)
    assert (line["problem"], line["reason"], line["status"]) == (
        "Identity rejected",
        response.json()["reason"],
        422,
    )
    assert "detail" not in line
    assert bad_id not in access_log.getvalue() and "13800138000" not in access_log.getvalue()


def test_an_unexpected_error_is_logged_and_its_500_carries_the_request_id(
    site: Site, access_log: io.StringIO
) -> None:
    app = create_app(site.settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("went wrong near +8613800138000")

    # Routes added after create_app come after the web app's mount at `/`: put it first.
    app.router.routes.insert(0, app.router.routes.pop())

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"
    assert response.json()["title"] == "Internal Server Error"
    error, line = _lines(access_log)
    assert (error["level"], error["error"], error["request_id"]) == (
        "ERROR",
        "RuntimeError",
        "boom-1",
    )
    assert "[phone]" in str(error["traceback"])
    assert (line["route"], line["status"], line["problem"]) == (
        "/boom",
        500,
        "Internal Server Error",
    )
    assert "13800138000" not in access_log.getvalue()


# -- /metrics -------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_never_by_id(site: Site) -> None:
    before = _samples(site.client)
    for person in site.people[:2]:
        assert site.client.get(f"/v1/people/{person}/score", headers=AS_ADMIN).status_code == 200
    assert site.client.get(f"/v1/people/{site.people[2]}/score").status_code == 401
    assert site.client.get(f"/no/such/{site.people[2]}").status_code == 404
    after = _samples(site.client)
    ok = {"method": "GET", "route": SCORE_ROUTE, "status": "200"}
    assert _requests(after, **ok) == _requests(before, **ok) + 2
    refused = {**ok, "status": "401"}
    assert _requests(after, **refused) == _requests(before, **refused) + 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _requests(after, **unmatched) == _requests(before, **unmatched) + 1
    latency = ("kaimen_http_request_duration_seconds_count", frozenset(ok.items()))
    assert after[latency] == before.get(latency, 0) + 2
    text = site.client.get("/metrics").text
    assert not any(person in text for person in site.people)


def test_batch_step_durations_appear_after_a_scoring_run(site: Site) -> None:
    steps = ("score", "summarise", "features_and_scores", "publish")
    before = _samples(site.client)
    keep_last_runs_in(site.settings.step_runs)
    try:
        report = score_month(
            site.engine, ibis_connection(), site.settings.lake_root, "2026-09", "test", now=NOW
        )
    finally:
        keep_last_runs_in(None)
    assert report.scored > 0
    after = _samples(site.client)
    for step in steps:
        count = ("kaimen_batch_step_duration_seconds_count", frozenset({("step", step)}))
        assert after[count] == before.get(count, 0) + 1, step
        total = ("kaimen_batch_step_duration_seconds_sum", frozenset({("step", step)}))
        assert after[total] > before.get(total, 0), step
        last = ("kaimen_batch_step_last_duration_seconds", frozenset({("step", step)}))
        assert after[last] > 0, step
        success = ("kaimen_batch_step_last_success_timestamp_seconds", frozenset({("step", step)}))
        assert after[success] > NOW.timestamp(), step


# -- /readyz --------------------------------------------------------------------------------


def test_ready_when_the_store_and_the_lake_are(site: Site) -> None:
    response = site.client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert [(c["name"], c["ok"]) for c in body["checks"]] == [
        ("store", True),
        ("schema", True),
        ("lake", True),
        ("model", True),
    ]


def test_not_ready_when_the_lake_root_is_gone(site: Site) -> None:
    lake = site.settings.lake_root
    moved = lake.with_name("lake-away")
    lake.rename(moved)
    try:
        response = site.client.get("/readyz")
    finally:
        moved.rename(lake)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "not ready: lake: the lake root does not exist"
    assert [c["name"] for c in body["checks"] if not c["ok"]] == ["lake"]
    assert str(lake) not in response.text
    assert site.client.get("/readyz").status_code == 200


def test_not_ready_when_the_database_is_unreachable(site: Site, tmp_path: Path) -> None:
    app = FastAPI()
    unreachable = create_engine("postgresql+psycopg://kaimen@127.0.0.1:1/kaimen")
    observability.install(app, unreachable, Settings(home=tmp_path))
    site.settings.lake_root.mkdir(exist_ok=True)
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"].startswith("not ready: store: unreachable; schema: not checked")
    assert "127.0.0.1" not in response.text and "kaimen@" not in response.text
