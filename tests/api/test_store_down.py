"""The database goes away under a running server and comes back: every route answers 503
with Retry-After meanwhile (never 500), `/healthz` stays 200, `/readyz` says the store is
unreachable, and everything answers again without a restart.

On PostgreSQL the database is closed to connections and its backends terminated; on SQLite
the store's file (with its WAL) is moved out of reach, as an unmounted volume would be."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import requests
from fastapi import FastAPI
from sqlalchemy import Engine, make_url

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.store.identity_vault import IdentityVault
from tests.api.conftest import TOKEN
from tests.api.live import served
from tests.conftest import make_national_id
from tests.ingest import events_factory as f

PORT = 8632
UNKNOWN_KEY = f"kmk_{'0' * 16}_{'A' * 43}"


class Caller:
    """Requests to the live server; a browser's cookies for the web pages."""

    def __init__(self) -> None:
        self.base = f"http://127.0.0.1:{PORT}"
        self.client = requests.Session()

    def ask(
        self, method: str, path: str, body: object = None, token: str = TOKEN
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {token}"}
        response = self.client.request(
            method,
            self.base + path,
            json=body,
            headers=headers if token else None,
            allow_redirects=False,
            timeout=60,
        )
        lowered = {name.lower(): value for name, value in response.headers.items()}
        return response.status_code, lowered, response.content

    def sign_in_on_the_web(self) -> None:
        page = self.client.get(self.base + "/sign-in", timeout=60).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        signed = self.client.post(
            self.base + "/sign-in/token",
            data={"csrf_token": csrf.group(1), "token": TOKEN},
            headers={"Origin": self.base},
            allow_redirects=False,
            timeout=60,
        )
        assert signed.status_code == 303, signed.text[:300]


def _example(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    return "1" if schema.get("type") == "integer" else "p1"


def _every_operation(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every documented operation, its path parameters filled in."""
    operations = []
    for template, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            path = template
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", _example(parameter))
            operations.append((method.upper(), path))
    return operations


def _unavailable(answer: tuple[int, dict[str, str], bytes], what: str) -> None:
    status, headers, content = answer
    assert status == 503, (what, status, content[:300])
    assert int(headers["retry-after"]) > 0, what
    assert headers["content-type"].startswith("application/problem+json"), what
    problem = json.loads(content)
    assert problem["status"] == 503 and "database" in problem["detail"], what


@contextmanager
def _postgres_down(url: str) -> Iterator[None]:
    """The database closed to new connections and its open ones terminated, then opened."""
    name = make_url(url).database
    admin = os.environ["KAIMEN_TEST_POSTGRES_URL"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@contextmanager
def _sqlite_down(url: str) -> Iterator[None]:
    """The store's files moved where the server does not look, then moved back."""
    store = Path(make_url(url).database or "")
    files = [Path(f"{store}{suffix}") for suffix in ("", "-wal", "-shm")]
    moved = [(file, file.with_name(file.name + ".away")) for file in files if file.exists()]
    for file, away in moved:
        file.rename(away)
    try:
        yield
    finally:
        for file, away in moved:
            away.rename(file)


def _fault(url: str) -> Callable[[str], Any]:
    return _postgres_down if url.startswith("postgresql") else _sqlite_down


def test_every_route_answers_503_while_the_store_is_down_and_recovers(
    settings: Settings, engine: Engine, vault: IdentityVault, database_url: str
) -> None:
    people = f.enrol(engine, vault)
    engine.dispose()  # the server's connections only: the fault must reach all of them
    settings.lake_root.mkdir(parents=True)  # ready but for the store
    app = create_app(settings)
    operations = _every_operation(app)
    person_score = f"/v1/people/{people[0]}/score"
    try:
        with served(app, PORT) as log:
            caller = Caller()
            caller.sign_in_on_the_web()
            assert caller.ask("GET", "/admin", token="")[0] == 200
            assert caller.ask("GET", person_score)[0] in (200, 404)  # a pool in use
            decision = {"person_id": people[0], "offer_id": 1}
            # The decisions' own connections in use too.
            assert caller.ask("POST", "/v1/decisions", decision, token=UNKNOWN_KEY)[0] == 401
            ready = caller.ask("GET", "/readyz")
            assert ready[0] == 200, ready
            with _fault(database_url)(database_url):
                _unavailable(caller.ask("GET", person_score), "score")
                enrolment = {"phone": "13912345678", "national_id": make_national_id()}
                _unavailable(caller.ask("POST", "/v1/people", enrolment), "enrolment")
                _unavailable(
                    caller.ask("POST", "/v1/decisions", decision, token=UNKNOWN_KEY),
                    "decision",
                )
                for method, path in operations:
                    status, headers, content = caller.ask(
                        method, path, {} if method in ("POST", "PUT", "PATCH") else None
                    )
                    assert status < 500 or status == 503, (method, path, status, content[:300])
                    if status == 503:
                        assert int(headers["retry-after"]) > 0, (method, path)
                assert caller.ask("GET", "/healthz")[0] == 200
                status, _, content = caller.ask("GET", "/readyz")
                assert status == 503
                checks = {c["name"]: c for c in json.loads(content)["checks"]}
                assert checks["store"] == {"name": "store", "ok": False, "detail": "unreachable"}
                # The web app: a plain page, in the person's language, nothing else.
                status, headers, page = caller.ask("GET", "/admin", token="")
                assert status == 503, page[:300]
                assert headers["content-type"].startswith("text/html")
                assert int(headers["retry-after"]) > 0
                assert b"briefly unavailable" in page and b"Traceback" not in page
            # Back: the same server answers, no restart.
            assert caller.ask("GET", "/readyz")[0] == 200
            assert caller.ask("GET", person_score)[0] in (200, 404)
            assert caller.ask("POST", "/v1/people", enrolment)[0] == 201
            decided = caller.ask("POST", "/v1/decisions", decision, token=UNKNOWN_KEY)
            assert decided[0] == 401, decided
            assert caller.ask("GET", "/admin", token="")[0] == 200
    finally:
        app.state.workspace.engine.dispose()
    # Expected while the store is down: warnings, never an error with its traceback.
    assert not [r for r in log.records if r.levelname == "ERROR"], log.text
    assert "Traceback" not in log.text
