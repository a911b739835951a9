"""CPU per `POST /v1/decisions` in this process, against the hello-world app in the same run
(the in-process counterpart of benchmarks/decisions_load.py, for A/B comparisons of the
server's own code: no HTTP parsing, no sockets, no load client on the same cores).

    .venv/bin/python benchmarks/decisions_cpu.py --backends sqlite,postgresql

The store is built as decisions_load.py builds it (its `build_store`), at `--people` people.
The app is `create_app` as `kaimen serve` makes it (its JSON log lines written to a file,
the collector frozen after start-up). Each window sends `--concurrency` requests at once,
as raw ASGI calls, for random people, `--requests` in all, and reads `time.process_time`
around it; kaimen's and hello-world's windows alternate (`--rounds` each, after a warm-up of
each), and each answer is checked (200 for a consented person, 404 otherwise). The median
window's CPU per request is reported, and the store is checked to hold exactly one decision
row and one access-log row per 200 and one access-log row per 404.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import datetime as dt
import gc
import io
import json
import logging
import pstats
import random
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from decisions_load import (
    ADMIN_URL,
    Store,
    build_store,
    count_rows,
    drop_database,
    person_id,
)
from hello_world_server import app as hello_app
from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.store.identity_vault import new_secret
from kaimen.telemetry.logs import configure_logging

ROOT = Path(__file__).resolve().parent
ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_of(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it for a keep-alive client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8714),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def call(app: ASGI, method: str, path: str, key: str, body: bytes) -> tuple[int, bytes]:
    """One request through the ASGI app, with the headers http.client sends; (status, body)."""
    headers = [
        (b"host", b"127.0.0.1:8714"),
        (b"accept-encoding", b"identity"),
        (b"content-length", b"%d" % len(body)),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
    ]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, chunks = 0, []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope_of(method, path, headers), receive, send)
    return status, b"".join(chunks)


class Load:
    """Requests for random people, `concurrency` at once; answers tallied by status."""

    def __init__(self, store: Store, people: int, offer_id: int, seed: int) -> None:
        self.store, self.people, self.offer_id = store, people, offer_id
        self.consented = set(store.consented_sample)
        self.random = random.Random(seed)
        self.statuses: dict[int, int] = {}

    def body(self) -> tuple[str, bytes]:
        person = person_id(self.store.prefix, self.random.randrange(self.people))
        return person, json.dumps({"person_id": person, "offer_id": self.offer_id}).encode()

    async def window(self, app: ASGI, requests: int, concurrency: int, checked: bool) -> float:
        """CPU seconds for `requests` requests, `concurrency` at a time."""
        bodies = [self.body() for _ in range(requests)]
        started = time.process_time()
        for first in range(0, requests, concurrency):
            chunk = bodies[first : first + concurrency]
            answers = await asyncio.gather(
                *(call(app, "POST", "/v1/decisions", self.store.key, b) for _, b in chunk)
            )
            if checked:
                for (person, _), (status, payload) in zip(chunk, answers, strict=True):
                    if status not in (200, 404) or (person in self.consented and status != 200):
                        raise SystemExit(f"{person}: {status} {payload[:200]!r}")
                    self.statuses[status] = self.statuses.get(status, 0) + 1
        return time.process_time() - started


def settings_for(store: Store, home: Path) -> Settings:
    return Settings(
        home=home,
        database_url=store.url,
        secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        admin_token=secrets.token_urlsafe(32),
        rate_limit_per_key="1000000000/minute",
        rate_limit_per_person="1000000/minute",
    )


async def measure(store: Store, options: argparse.Namespace, home: Path) -> dict[str, Any]:
    kaimen = create_app(settings_for(store, home))
    offer = json.dumps({"name": "deposit waived", "purpose": "car rental", "min_score": 650})
    status, payload = await call(kaimen, "POST", "/v1/offers", store.key, offer.encode())
    if status != 201:
        raise SystemExit(f"publishing the offer failed: {status} {payload!r}")
    load = Load(store, options.people, int(json.loads(payload)["offer_id"]), options.seed)
    gc.collect()
    gc.freeze()
    before = count_rows(store.engine)
    n, c = options.requests, options.concurrency
    await load.window(kaimen, n, c, True)  # warm-up: caches, connections, prepared plans
    await load.window(hello_app, n, c, False)
    per_request: dict[str, list[float]] = {"kaimen": [], "hello": []}
    for _ in range(options.rounds):
        per_request["kaimen"].append(await load.window(kaimen, n, c, True) / n * 1000)
        per_request["hello"].append(await load.window(hello_app, n, c, False) / n * 1000)
    profile_text = ""
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await load.window(kaimen, n, c, True)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(options.sort).print_stats(options.profile)
        profile_text = out.getvalue()
    after = count_rows(store.engine)
    approved, refused = load.statuses.get(200, 0), load.statuses.get(404, 0)
    added = {table: after[table] - before[table] for table in after}
    if added != {"decisions": approved, "access_log": approved + refused}:
        raise SystemExit(f"store mismatch: {added} for {approved} x 200 and {refused} x 404")
    kaimen.state.workspace.engine.dispose()
    median = {name: statistics.median(values) for name, values in per_request.items()}
    return {
        "backend": store.backend,
        "kaimen_cpu_ms": round(median["kaimen"], 4),
        "hello_cpu_ms": round(median["hello"], 4),
        "ratio": round(median["hello"] / median["kaimen"], 3),
        "windows_ms": {k: [round(v, 4) for v in vs] for k, vs in per_request.items()},
        "answers": load.statuses,
        "profile": profile_text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--template-people", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1_600, help="per window")
    parser.add_argument("--rounds", type=int, default=5, help="windows of each app")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    parser.add_argument("--sort", default="tottime", help="the profile's order")
    parser.add_argument("--consent-share", type=float, default=0.9)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--database-prefix", default="kaimen_cpu")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=ROOT / "work-decisions-cpu")
    options = parser.parse_args()
    # What build_store reads beyond these.
    options.secret = new_secret()
    options.min_score = 650
    work = options.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # As `kaimen serve` logs: JSON lines at INFO, here to a file.
    log_file = (work / "kaimen.log").open("w")
    results = []
    try:
        for backend in [b.strip() for b in options.backends.split(",") if b.strip()]:
            home = work / backend / "home"
            home.mkdir(parents=True)
            logging.getLogger().handlers.clear()
            store = build_store(options, backend, home)
            configure_logging("INFO", log_file)
            try:
                results.append(asyncio.run(measure(store, options, home)))
            finally:
                logging.getLogger().handlers.clear()
                store.engine.dispose()
                if store.database is not None:
                    drop_database(options.admin_url, store.database)
    finally:
        log_file.close()
        shutil.rmtree(work, ignore_errors=True)
    for result in results:
        print(result.pop("profile"), file=sys.stderr, end="")
        print(json.dumps(result))
    print(f"measured at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", file=sys.stderr)


if __name__ == "__main__":
    main()
