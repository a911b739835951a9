"""Delivering the outbox: each due message is claimed with a lease, POSTed as signed JSON to
its recipient's webhook outside any transaction, and the attempt logged.

Headers: `Kaimen-Message-Id` (the idempotency key the receiver dedupes on),
`Kaimen-Timestamp` (Unix seconds) and `Kaimen-Signature: v1=<hex HMAC-SHA256 of
"timestamp.body" under the recipient's secret>`. A 2xx answer delivers the message; anything
else (another status, a redirect, a timeout, no endpoint set) is retried with exponential
backoff and jitter, up to MAX_ATTEMPTS, after which the message is a dead letter (shown by
`kaimen sla`). Redirects are never followed and at most a short prefix of an answer is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import Engine

from kaimen.dueprocess.disputing import DISPUTE_FILED
from kaimen.dueprocess.webhooks import SECRET_KIND
from kaimen.store import audit, outbox, webhook_endpoints
from kaimen.store import disputes as dispute_rows
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.outbox import Attempt, Message

USER_AGENT = "kaimen-webhooks/1"
TIMEOUT_SECONDS = 10.0
# Longer than any attempt can take, so a lease never runs out under a live delivery.
LEASE = dt.timedelta(seconds=4 * TIMEOUT_SECONDS)
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 6 * 3600.0
MAX_ATTEMPTS = 12
PREFIX_BYTES = 200
BATCH = 100


@dataclass(frozen=True)
class DeliveryRound:
    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `timestamp.body` under `secret`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def body_of(message: Message) -> bytes:
    document = {
        "message_id": message.message_id,
        "topic": message.topic,
        "created_at": message.created_at.isoformat(),
        "payload": message.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def backoff(attempts: int, rng: random.Random) -> dt.timedelta | None:
    """The wait before the next attempt after `attempts` failures (full jitter over the upper
    half), or None when the message has had all its attempts."""
    if attempts >= MAX_ATTEMPTS:
        return None
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempts - 1))
    return dt.timedelta(seconds=ceiling * (0.5 + rng.random() / 2))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is answered as itself: an undelivered message


_OPENER = urllib.request.build_opener(_NoRedirects())


def _prefix(stream: IO[bytes] | None) -> str | None:
    if stream is None:
        return None
    return stream.read(PREFIX_BYTES).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    status: int | None
    error: str | None
    prefix: str | None
    duration_ms: int


def post(url: str, secret: str, message: Message, timeout: float) -> _Outcome:
    """One attempt: POST the signed message; never raises for what the network does."""
    body = body_of(message)
    timestamp = str(int(time.time()))
    # The URL was checked to be http(s) when it was set (webhooks.check_url).
    request = urllib.request.Request(  # noqa: S310
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Kaimen-Message-Id": message.message_id,
            "Kaimen-Timestamp": timestamp,
            "Kaimen-Signature": signature(secret, timestamp, body),
        },
    )
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    prefix: str | None = None
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
            prefix = _prefix(response)
    except urllib.error.HTTPError as refused:
        status = int(refused.code)
        prefix = _prefix(refused.fp)
        error = f"HTTP {refused.code}"
    except (urllib.error.URLError, OSError, ValueError) as failed:
        reason = getattr(failed, "reason", failed)
        error = f"{type(failed).__name__}: {reason}"
    elapsed = int((time.perf_counter() - started) * 1000)
    delivered = status is not None and 200 <= status < 300
    if status is not None and not delivered and error is None:
        error = f"HTTP {status}"
    return _Outcome(delivered, status, error, prefix, elapsed)


def deliver_due(
    engine: Engine,
    vault: IdentityVault,
    now: dt.datetime | None = None,
    owner: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
    rng: random.Random | None = None,
    limit: int = BATCH,
) -> DeliveryRound:
    """Deliver the messages due at `now` (at most `limit`). Safe to run in several workers
    at once: each message is claimed before it is sent, and marked delivered only once."""
    now = now or dt.datetime.now(dt.UTC)
    owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
    rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
    done = DeliveryRound()
    with engine.connect() as store:
        candidates = outbox.due(store, now, limit)
    for message_id in candidates:
        with engine.begin() as store:
            message = outbox.claim(store, message_id, owner, now, LEASE)
            endpoint = None if message is None else webhook_endpoints.get(store, message.recipient)
        if message is None:
            continue  # another worker has it
        if endpoint is None:
            outcome = _Outcome(False, None, f"no webhook set for {message.recipient}", None, 0)
        else:
            secret = vault.decrypt(SECRET_KIND, endpoint.secret_encrypted)
            outcome = post(endpoint.url, secret, message, timeout)
        _record(engine, message, owner, outcome, now, rng, done)
    return done


def _record(
    engine: Engine,
    message: Message,
    owner: str,
    outcome: _Outcome,
    now: dt.datetime,
    rng: random.Random,
    done: DeliveryRound,
) -> None:
    attempt = Attempt(now, outcome.status, outcome.error, outcome.duration_ms, outcome.prefix)

    # Returns what became of the message; `done` is updated only once the transaction
    # committed (a transaction retried for the audit chain runs `work` again).
    def work(store: Any) -> list[str] | None:
        outbox.record_attempt(store, message.message_id, attempt)
        if outcome.delivered:
            if not outbox.mark_delivered(store, message.message_id, owner, now):
                return None
            if message.topic == DISPUTE_FILED and message.dispute_id is not None:
                dispute_rows.mark_notified(store, message.dispute_id, now)
            audit.append(
                store,
                owner,
                "outbox.delivered",
                subject=message.recipient,
                details={"message_id": message.message_id, "topic": message.topic},
                now=now,
            )
            return done.delivered
        wait = backoff(message.attempts + 1, rng)
        error = outcome.error or "undelivered"
        outbox.mark_failed(
            store, message.message_id, owner, error, None if wait is None else now + wait, now
        )
        if wait is not None:
            return done.retrying
        audit.append(
            store,
            owner,
            "outbox.dead_letter",
            subject=message.recipient,
            details={"message_id": message.message_id, "attempts": message.attempts + 1},
            now=now,
        )
        return done.dead

    outcome_list = audit.audited_transaction(engine, work)
    if outcome_list is not None:
        outcome_list.append(message.message_id)
