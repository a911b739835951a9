"""Bodies over the cap are refused (413) however they arrive, anonymous calls before their
bodies are read, and refusals repeat only a short prefix of what they refuse."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.api.app import create_app
from kaimen.api.request_limits import MAX_BODY_BYTES, MAX_EVENTS_BODY_BYTES, MAX_FORM_BYTES
from kaimen.config import Settings
from kaimen.store.identity_vault import IdentityVault
from tests.ingest import events_factory as f
from tests.live_server import serving

TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
PROBLEM = "application/problem+json"
KIB, MIB = 1024, 1024 * 1024


@pytest.fixture
def app(
    tmp_path: Path, database_url: str, engine: Engine, vault: IdentityVault
) -> Iterator[FastAPI]:
    f.enrol(engine, vault)
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key=base64.b64encode(bytes(range(32))).decode(),
        admin_token=TOKEN,
    )
    site = create_app(settings)
    yield site
    site.state.workspace.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def chunked(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST `body` in 16 KiB chunks, as a client does that does not know the length ahead."""

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * KIB):
            yield body[start : start + 16 * KIB]

    request = client.build_request("POST", path, content=chunks(), headers=headers)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    return client.send(request)


@dataclasses.dataclass
class Exchange:
    """What a raw ASGI call sent back, and how many times the app read from the client."""

    statuses: list[int]
    headers: dict[str, str]
    body: bytes
    reads: int

    def problem(self) -> dict[str, Any]:
        assert self.headers["content-type"] == PROBLEM
        answer: dict[str, Any] = json.loads(self.body)
        return answer


def call(app: FastAPI, path: str, headers: dict[str, str], chunks: list[bytes]) -> Exchange:
    """POST `chunks` one ASGI message each, straight into the app, as a server would."""
    pending = list(chunks)
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if not pending:
            return {"type": "http.disconnect"}
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    return Exchange(
        [m["status"] for m in starts],
        {k.decode(): v.decode() for k, v in starts[0]["headers"]} if starts else {},
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        reads,
    )


def events_body(count: int, **fields: str) -> bytes:
    events = [{**event, **fields} for event in f.sample_events(count)]
    return json.dumps({"events": events}).encode()


def test_a_chunked_body_over_the_cap_is_refused_with_problem_details(client: TestClient) -> None:
    events = chunked(client, "/v1/events", b"x" * (MAX_EVENTS_BODY_BYTES + 1), {**AUTH, **JSON})
    assert events.status_code == 413
    assert events.headers["content-type"] == PROBLEM
    assert events.json() == {
        "type": "about:blank",
        "title": "Content Too Large",
        "status": 413,
        "detail": "request bodies here are at most 16,777,216 bytes",
    }
    partner = json.dumps({"partner_id": "shop", "name": "x" * MAX_BODY_BYTES}).encode()
    other = chunked(client, "/v1/partners", partner, {**AUTH, **JSON})
    assert other.status_code == 413
    assert other.json()["detail"] == "request bodies here are at most 65,536 bytes"
    assert client.get("/v1/partners", headers=AUTH).json() == []
    # A decision with a partner's key is answered without FastAPI (`DecisionFastPath`), and
    # still inside the cap: valid JSON padded past it is refused, not decided.
    key = {"Authorization": f"Bearer kmk_{'0' * 16}_{'x' * 43}", **JSON}
    decision = json.dumps({"person_id": "S1", "offer_id": 1}).encode() + b" " * MAX_BODY_BYTES
    refused = chunked(client, "/v1/decisions", decision, key)
    assert refused.status_code == 413
    assert refused.json()["detail"] == "request bodies here are at most 65,536 bytes"


def test_a_chunked_body_under_the_cap_is_read_as_usual(client: TestClient) -> None:
    events = chunked(client, "/v1/events", events_body(400), {**AUTH, **JSON})
    assert events.status_code == 200, events.text
    assert events.json() == {"total": 400, "new": 400, "duplicate": 0}
    # Padded with JSON's own white space to several chunks.
    partner = json.dumps({"partner_id": "shop", "name": "Shop"}).encode() + b" " * 60_000
    added = chunked(client, "/v1/partners", partner, {**AUTH, **JSON})
    assert added.status_code == 201, added.text


def test_reading_stops_at_the_chunk_that_passes_the_cap(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The cap exactly: read to the end (and found not to be JSON).
    exact = call(app, "/v1/partners", {**AUTH, **JSON}, [b"x" * KIB] * 64)
    assert exact.statuses == [422]
    # One byte more: 413 at the 65th chunk, and the 100 KiB sent are never read in full.
    over = call(
        app, "/v1/partners", {**AUTH, **JSON}, [b"x" * KIB] * 64 + [b"x"] + [b"x" * KIB] * 35
    )
    assert (over.statuses, over.reads) == ([413], 65)
    assert over.problem()["detail"] == "request bodies here are at most 65,536 bytes"
    events = call(app, "/v1/events", {**AUTH, **JSON}, [b"x" * MIB] * 40)
    assert (events.statuses, events.reads) == ([413], 17)
    # The app's own answer to the cut-off body is dropped and nothing is logged as an error;
    # the access log still counts the refusal.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    refused = [
        r for r in caplog.records if r.name == "kaimen.http" and r.__dict__.get("status") == 413
    ]
    assert len(refused) == 2


def test_the_declared_length_is_checked_before_reading(app: FastAPI) -> None:
    declared = {**AUTH, **JSON, "content-length": str(MAX_BODY_BYTES + 1)}
    over = call(app, "/v1/partners", declared, [b"{}"])
    assert (over.statuses, over.reads) == ([413], 0)
    assert over.problem()["detail"] == "request bodies here are at most 65,536 bytes"
    events = {**AUTH, **JSON, "content-length": str(MAX_EVENTS_BODY_BYTES + 1)}
    assert call(app, "/v1/events", events, [b"{}"]).statuses == [413]
    within = {**AUTH, **JSON, "content-length": str(MAX_EVENTS_BODY_BYTES)}
    assert call(app, "/v1/events", within, [b"{}"]).statuses == [422]
    for bad in ("ten", "-1", "1e3", "\u0661"):
        odd = call(app, "/v1/partners", {**AUTH, **JSON, "content-length": bad}, [b"{}"])
        assert (odd.statuses, odd.reads) == ([400], 0), bad
        assert odd.problem()["detail"] == "Content-Length is not a number"


def test_an_anonymous_request_is_refused_before_its_body_is_read(app: FastAPI) -> None:
    for headers in (JSON, {**JSON, "content-length": "99999999999"}, {**JSON, "authorization": ""}):
        refused = call(app, "/v1/events", headers, [b"x" * MIB] * 20)
        assert (refused.statuses, refused.reads) == ([401], 0)
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.problem()["detail"] == "a bearer token or API key is required"
    # Outside /v1 nothing is asked for.
    assert call(app, "/healthz", {}, [b""]).statuses == [405]


def reasons(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


def test_a_rejected_event_repeats_only_a_short_prefix_of_its_value(client: TestClient) -> None:
    event = f.event("payment", "long-1", person_id="q" * 300, currency="\u4e2d" * 5000)
    response = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
    assert reasons(response) == {
        "person_id": "not an enrolled person: " + "q" * 40 + "\u2026",
        "currency": "not an ISO 4217 currency code: " + "\u4e2d" * 40 + "\u2026",
    }
    assert len(response.content) < 1000
    # Short values, up to the prefix's length, are repeated whole, as before.
    event = f.event("payment", "short-1", person_id="q" * 40, currency="XYZ")
    response = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
    assert reasons(response) == {
        "person_id": "not an enrolled person: " + "q" * 40,
        "currency": "not an ISO 4217 currency code: XYZ",
    }


def test_a_schema_error_repeats_only_a_short_prefix_of_its_value(client: TestClient) -> None:
    kind = {**f.event("payment", "long-2"), "kind": "k" * 5000}
    response = client.post("/v1/events", json={"events": [kind]}, headers=AUTH)
    [reason] = reasons(response).values()
    assert reason.startswith("Input tag '" + "k" * 40 + "\u2026' found using 'kind'")
    assert "payment" in reason  # the expected tags, the schema's own words, stay whole
    extra = {**f.event("payment", "long-3"), "z" * 5000: "1"}
    response = client.post("/v1/events", json={"events": [extra]}, headers=AUTH)
    assert reasons(response) == {"z" * 40 + "\u2026": "Extra inputs are not permitted"}
    for answer in (response, client.post("/v1/events", json={"events": [kind]}, headers=AUTH)):
        assert len(answer.content) < 1000
    short = {**f.event("payment", "short-2"), "kind": "nonsense"}
    response = client.post("/v1/events", json={"events": [short]}, headers=AUTH)
    [reason] = reasons(response).values()
    assert reason.startswith("Input tag 'nonsense' found")


# -- over a real socket --------------------------------------------------------------------

PORTS = {"sqlite": 8611, "postgresql": 8612}


@pytest.fixture
def served(app: FastAPI, request: pytest.FixtureRequest) -> Iterator[str]:
    """The app behind a real uvicorn server on one of this module's ports."""
    with serving(app, PORTS[request.node.callspec.params["database_url"]]) as base:
        yield base


def _raw_chunked(
    base: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """POST `body` in 16 KiB chunks of HTTP/1.1 chunked transfer coding over a plain socket,
    stopping early if the server answers (and closes) before the body is all sent."""
    host, port = base.removeprefix("http://").split(":")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Transfer-Encoding: chunked",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for start in range(0, len(body), 16 * KIB):
                chunk = body[start : start + 16 * KIB]
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the end: the answer is what the test reads
        answer = b""
        while True:
            try:
                data = connection.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answered = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if answered.get("transfer-encoding") == "chunked":
        content = _unchunked(content)
    return int(status_line.split()[1]), answered, content


def _unchunked(content: bytes) -> bytes:
    out = b""
    while content:
        size, _, rest = content.partition(b"\r\n")
        length = int(size, 16)
        if length == 0:
            break
        out += rest[:length]
        content = rest[length + 2 :]
    return out


def test_a_real_server_caps_a_chunked_body_as_it_arrives(served: str) -> None:
    partner = json.dumps({"partner_id": "shop", "name": "x" * MAX_BODY_BYTES}).encode()
    status, headers, content = _raw_chunked(served, "/v1/partners", {**AUTH, **JSON}, partner)
    assert (status, headers["content-type"]) == (413, PROBLEM)
    assert json.loads(content)["detail"] == "request bodies here are at most 65,536 bytes"
    # The decisions fast path (`KaimenApp`) hands a body without a length to the capped stack.
    key = {"Authorization": f"Bearer kmk_{'0' * 16}_{'x' * 43}", **JSON}
    decision = json.dumps({"person_id": "S1", "offer_id": 1}).encode() + b" " * MAX_BODY_BYTES
    status, headers, content = _raw_chunked(served, "/v1/decisions", key, decision)
    assert (status, headers["content-type"]) == (413, PROBLEM)
    events = b"x" * (MAX_EVENTS_BODY_BYTES + 1)
    status, _, content = _raw_chunked(served, "/v1/events", {**AUTH, **JSON}, events)
    assert status == 413
    assert json.loads(content)["detail"] == "request bodies here are at most 16,777,216 bytes"
    assert _partners(served) == []


def _partners(base: str) -> list[str]:
    asked = urllib.request.Request(f"{base}/v1/partners", headers=AUTH)
    with urllib.request.urlopen(asked, timeout=30) as answer:
        return [p["partner_id"] for p in json.loads(answer.read())]


def test_a_real_server_reads_a_chunked_body_under_the_cap(served: str) -> None:
    # Padded with JSON's own white space to several chunks.
    body = json.dumps({"partner_id": "shop", "name": "Shop"}).encode() + b" " * 60_000
    status, _, content = _raw_chunked(served, "/v1/partners", {**AUTH, **JSON}, body)
    assert status == 201, content
    assert _partners(served) == ["shop"]


def test_web_forms_are_capped_before_they_are_read(client: TestClient) -> None:
    """An anonymous upload of 1.5 GB to a sign-in form was spooled to disk, and 300 fields of
    1 MB held in memory, before the form was refused: now 413 as soon as the cap is passed,
    declared or chunked; a dispute's form takes its evidence files."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    big = b"code=" + b"x" * (MAX_FORM_BYTES + 1)
    declared = client.post("/sign-in/code", content=big, headers=form)
    assert declared.status_code == 413
    assert declared.json()["detail"] == f"request bodies here are at most {MAX_FORM_BYTES:,} bytes"
    assert chunked(client, "/sign-in/code", big, form).status_code == 413
    upload = chunked(
        client,
        "/me/disputes",
        b"x" * (MAX_EVENTS_BODY_BYTES + 1),
        {"content-type": "multipart/form-data; boundary=XYZ"},
    )
    assert upload.status_code == 413
    # Under the cap, the form is answered as it was (here: no session, no sign-in).
    small = client.post("/sign-in/code", content=b"code=ABC", headers=form, follow_redirects=False)
    assert small.status_code != 413
    assert client.get("/sign-in").status_code == 200
