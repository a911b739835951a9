"""Load generator for benchmarks/decisions_load.py: POST /v1/decisions from its own process.
With `--target hello` the same requests go to the bare FastAPI hello-world app
(benchmarks/hello_world_server.py), whose answer is a constant JSON object: the ceiling.
With `--target healthz`, GET /healthz.

    KAIMEN_BENCH_KEY=kmk_... python benchmarks/decisions_load_client.py --port 8123 \
        --offer-id 1 --id-prefix S0011- --people 1000000 --out client.json

Standard library only (http.client in threads), so the client starts fast, needs no test
dependency and spends as little of the shared CPU as possible. Each of `--concurrency`
threads keeps one keep-alive connection and sends requests back to back (a closed loop) for
a random person each time. Latency is measured on the client with perf_counter_ns, from just
before the request is written to just after the whole response is read.

Phases, by when a request *completes*: warm-up (discarded), the measured window, and the
drain (requests in flight when the window closes are finished, not abandoned, so that every
decision the server stored has an answer counted here; the caller checks the store against
the totals). The parent reads `window-start` and `window-end` lines on stdout to sample CPU
use at the same moments.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import resource
import sys
import threading
import time
from array import array
from collections import Counter
from pathlib import Path

NOT_FOUND = "no such person, or no consent for this use"  # kaimen.sharing.deciding.NOT_FOUND
HELLO = b'{"message":"Hello World"}'  # what benchmarks/hello_world_server.py answers


class Worker(threading.Thread):
    """One client: one keep-alive connection, requests back to back until the deadline."""

    def __init__(self, index: int, options: argparse.Namespace, key: str, end_ns: int) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        self.options = options
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
        }
        self.end_ns = end_ns
        self.random = random.Random(options.seed * 1_000 + index)
        # Parallel arrays (cheaper than a tuple per request): completion time, latency, status.
        self.done_ns = array("q")
        self.latency_ns = array("q")
        self.status = array("h")
        self.approved = 0
        self.errors: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def connection(self) -> http.client.HTTPConnection:
        # A generous timeout: a request that times out here might still be stored by the
        # server, which would make the store/response reconciliation meaningless.
        return http.client.HTTPConnection(self.options.host, self.options.port, timeout=120)

    def run(self) -> None:
        options = self.options
        conn = self.connection()
        width = options.id_digits
        while time.perf_counter_ns() < self.end_ns:
            person = f"{options.id_prefix}{self.random.randrange(options.people):0{width}d}"
            body = json.dumps({"person_id": person, "offer_id": options.offer_id}).encode()
            started = time.perf_counter_ns()
            try:
                if options.target == "healthz":
                    conn.request("GET", "/healthz")
                else:
                    conn.request("POST", "/v1/decisions", body, self.headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                status = 0
                self.errors[type(error).__name__] += 1
                conn.close()
                conn = self.connection()
                payload = b""
            finished = time.perf_counter_ns()
            self.done_ns.append(finished)
            self.latency_ns.append(finished - started)
            self.status.append(status)
            # Cheap checks that a 200 is a real decision and a 404 is the consent/person 404
            # (not, say, "no open offer"), so the counts mean what the report says.
            if options.target == "healthz":
                continue
            if options.target == "hello":
                if status == 200 and payload != HELLO:
                    self.unexpected.append(payload[:200].decode(errors="replace"))
                continue
            if status == 200:
                decision = json.loads(payload)
                if "decision_id" not in decision:
                    self.unexpected.append(payload[:200].decode(errors="replace"))
                self.approved += bool(decision.get("approved"))
            elif status == 404 and NOT_FOUND.encode() not in payload:
                self.unexpected.append(payload[:200].decode(errors="replace"))
        conn.close()


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1] / 1e6


def summary(latencies: list[int]) -> dict[str, float | int]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 3),
        "p90_ms": round(percentile(ordered, 0.90), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
        "p99_9_ms": round(percentile(ordered, 0.999), 3),
        "max_ms": round(ordered[-1] / 1e6, 3) if ordered else float("nan"),
        "mean_ms": round(sum(ordered) / len(ordered) / 1e6, 3) if ordered else float("nan"),
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--offer-id", type=int, required=True)
    parser.add_argument("--people", type=int, required=True, help="person ids 0..people-1")
    parser.add_argument("--id-prefix", required=True, help="person id = prefix + number")
    parser.add_argument("--id-digits", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds, discarded")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--target",
        choices=("decisions", "hello", "healthz"),
        default="decisions",
        help="hello: the same requests to the bare hello-world app (the ceiling); healthz: "
        "GET /healthz",
    )
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args()
    key = os.environ.get("KAIMEN_BENCH_KEY")
    if not key and options.target == "decisions":
        raise SystemExit("KAIMEN_BENCH_KEY (the partner's API key) is not set")

    begin_ns = time.perf_counter_ns()
    window_start_ns = begin_ns + int(options.warmup * 1e9)
    window_end_ns = window_start_ns + int(options.duration * 1e9)
    workers = [Worker(i, options, key or "", window_end_ns) for i in range(options.concurrency)]
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, (window_start_ns - time.perf_counter_ns()) / 1e9))
    cpu_at_start = cpu_seconds()
    print("window-start", flush=True)
    time.sleep(max(0.0, (window_end_ns - time.perf_counter_ns()) / 1e9))
    cpu_at_end = cpu_seconds()
    print("window-end", flush=True)
    for worker in workers:
        worker.join()

    phases: dict[str, Counter[int]] = {p: Counter() for p in ("warmup", "window", "drain")}
    latencies: dict[str, list[int]] = {"all": [], "200": [], "404": []}
    for worker in workers:
        for done, latency, status in zip(
            worker.done_ns, worker.latency_ns, worker.status, strict=True
        ):
            if done < window_start_ns:
                phases["warmup"][status] += 1
                continue
            if done > window_end_ns:
                phases["drain"][status] += 1
                continue
            phases["window"][status] += 1
            latencies["all"].append(latency)
            if str(status) in latencies:
                latencies[str(status)].append(latency)
    window = phases["window"]
    totals: Counter[int] = sum(phases.values(), Counter())
    result = {
        "concurrency": options.concurrency,
        "warmup_s": options.warmup,
        "duration_s": options.duration,
        "requests_per_second": round(sum(window.values()) / options.duration, 1),
        "latency": summary(latencies["all"]),
        "latency_200": summary(latencies["200"]),
        "latency_404": summary(latencies["404"]),
        "status_window": {str(k): v for k, v in sorted(window.items())},
        "status_total": {str(k): v for k, v in sorted(totals.items())},
        "status_by_phase": {
            phase: {str(k): v for k, v in sorted(c.items())} for phase, c in phases.items()
        },
        "approved_total": sum(w.approved for w in workers),
        "errors": dict(sum((w.errors for w in workers), Counter())),
        "unexpected_bodies": [u for w in workers for u in w.unexpected][:10],
        "client_cpu_seconds_in_window": round(cpu_at_end - cpu_at_start, 2),
    }
    options.out.write_text(json.dumps(result, indent=2) + "\n")
    print("done", flush=True)


if __name__ == "__main__":
    sys.exit(main())
