"""Webhook delivery against a real local HTTP server: a receiver that fails (500) and then
recovers gets the message exactly once by its id, with a signature that verifies; every
attempt is in the delivery log; two deliverers at once never deliver a message twice; a
message that never gets through becomes a dead letter on the clocks. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kaimen.dueprocess import clocks, outbox_delivery, webhooks
from kaimen.dueprocess.outbox_delivery import deliver_due
from kaimen.store import disputes as dispute_rows
from kaimen.store import outbox
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.partners import UnknownPartner
from tests.dueprocess.world import LENDER, NOW, World, make_world

VAULT = IdentityVault(bytes(range(32)))
PORTS = iter(range(18610, 18690))


@dataclass
class Receiver:
    """What the partner's endpoint saw, and how it should answer next."""

    failures_left: int = 0
    delay: float = 0.0
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delivered_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _server(receiver: Receiver) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = dict(self.headers.items())
            threading.Event().wait(receiver.delay)
            with receiver.lock:
                receiver.seen.append((headers, body))
                failing = receiver.failures_left > 0
                if failing:
                    receiver.failures_left -= 1
                else:
                    receiver.delivered_ids.append(headers["Kaimen-Message-Id"])
            self.send_response(500 if failing else 204)
            self.end_headers()
            if failing:
                self.wfile.write(b"")

        def log_message(self, *args: object) -> None:
            pass

    for port in PORTS:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{port}/kaimen-hooks"
    raise RuntimeError("no free port in 18610-18689")


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    server, url = _server(state)
    yield state, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    return make_world(engine, tmp_path)


def _verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(
        secret.encode(), headers["Kaimen-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(headers["Kaimen-Signature"], f"v1={expected}")


def test_a_failing_endpoint_that_recovers_gets_the_message_exactly_once(
    world: World, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    made = webhooks.set_webhook(world.engine, VAULT, LENDER, url, "admin", NOW)
    d = world.file("alice", "L-1").dispute
    state.failures_left = 1
    rng = random.Random(7)
    first = deliver_due(world.engine, VAULT, NOW, rng=rng)
    assert first.delivered == [] and len(first.retrying) == 1
    [message_id] = first.retrying
    with world.engine.connect() as store:
        waiting = outbox.get(store, message_id)
    assert waiting is not None and waiting.attempts == 1 and waiting.last_error == "HTTP 500"
    # Backoff: not due again at once, due after the wait.
    assert deliver_due(world.engine, VAULT, NOW, rng=rng).delivered == []
    later = waiting.next_attempt_at
    assert NOW + dt.timedelta(seconds=15) <= later <= NOW + dt.timedelta(seconds=30)
    second = deliver_due(world.engine, VAULT, later, rng=rng)
    assert second.delivered == [message_id]
    # Nothing more is sent, however often the worker runs.
    assert deliver_due(world.engine, VAULT, later + dt.timedelta(days=1)).delivered == []
    assert state.delivered_ids == [message_id]
    assert len(state.seen) == 2
    for headers, body in state.seen:
        assert headers["Kaimen-Message-Id"] == message_id
        assert _verifies(made.secret, headers, body)
        assert not _verifies("another secret", headers, body)
    document = json.loads(state.seen[-1][1])
    assert document["payload"]["dispute_id"] == d.dispute_id
    with world.engine.connect() as store:
        log = outbox.attempts_of(store, message_id)
        notified = dispute_rows.get(store, d.dispute_id)
    assert [a.status_code for a in log] == [500, 204]
    assert log[0].error == "HTTP 500" and log[1].error is None
    assert all(a.duration_ms >= 0 for a in log)
    # The furnisher is told: its notice clock stops.
    assert notified is not None and notified.furnisher_notified_at == later


def test_two_deliverers_at_once_never_deliver_a_message_twice(
    world: World, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    state.delay = 0.05
    webhooks.set_webhook(world.engine, VAULT, LENDER, url, "admin", NOW)
    for event_id in ("L-1", "L-2"):
        world.file("alice", event_id)
    results: list[outbox_delivery.DeliveryRound] = []

    failures: list[BaseException] = []

    def deliver(owner: str) -> None:
        try:
            results.append(deliver_due(world.engine, VAULT, NOW, owner=owner))
        except BaseException as error:  # a thread's exception is otherwise lost
            failures.append(error)

    threads = [threading.Thread(target=deliver, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    delivered = [m for r in results for m in r.delivered]
    assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == 2
    assert sorted(state.delivered_ids) == sorted(delivered)
    assert len(state.seen) == 2


def test_a_message_that_never_gets_through_becomes_a_dead_letter(world: World) -> None:
    # No endpoint set: every attempt fails, backoff grows to the cap, then it gives up.
    world.file("alice", "L-1")
    at = NOW
    for _ in range(outbox_delivery.MAX_ATTEMPTS):
        done = deliver_due(world.engine, VAULT, at, rng=random.Random(1))
        at += dt.timedelta(seconds=outbox_delivery.MAX_DELAY_SECONDS + 1)
    assert len(done.dead) == 1
    view = clocks.sla_view(world.engine, world.profile, at)
    assert view.outbox.dead == 1 and view.outbox.pending == 0
    dead = [i for i in view.items if i.source == "dead_letter"]
    assert len(dead) == 1 and dead[0].overdue and "no webhook set" in dead[0].detail
    assert {i.source for i in view.items} >= {"dispute", "furnisher_notice", "dead_letter"}


def test_only_http_urls_of_known_recipients(world: World) -> None:
    for url in ("file:///etc/passwd", "ftp://x.example/", "http://user:pw@x.example/", "http://"):
        with pytest.raises(webhooks.WebhookRejected):
            webhooks.set_webhook(world.engine, VAULT, LENDER, url, "admin", NOW)
    with pytest.raises(UnknownPartner):
        webhooks.set_webhook(world.engine, VAULT, "nobody-co", "https://x.example/h", "admin", NOW)
    assert webhooks.set_webhook(world.engine, VAULT, "court", "https://c.example/h", "a", NOW)


def test_a_redirect_is_not_followed(world: World) -> None:
    hits: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    for port in PORTS:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Redirecting)
            break
        except OSError:
            continue
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        webhooks.set_webhook(world.engine, VAULT, LENDER, url, "admin", NOW)
        world.file("alice", "L-1")
        done = deliver_due(world.engine, VAULT, NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert done.delivered == [] and len(done.retrying) == 1
    assert hits == ["/hook"]
    with world.engine.connect() as store:
        [attempt] = outbox.attempts_of(store, done.retrying[0])
    assert attempt.status_code == 307
