"""The person's web page with a warm server (run by hand, under the heavy-run lock):

    flock /work/heavy.lock .venv/bin/python benchmarks/web_person_page.py --requests 300

A small demo home is built in a temporary folder (`kaimen demo --people 200 --months 18
--no-serve`), `kaimen serve` (uvicorn, one process) serves it, and a person signs in with a
code from `kaimen person sign-in-code`, as a person would. After a warm-up, the person's page
(`GET /me`) and, as the ceiling, `GET /healthz` (the cheapest route through the same server
and middleware) are requested in turns over one kept-alive connection. Reported for each:
the time in the server (the page's `Server-Timing`, from the web app's guard: session,
service call and rendering) and the round trip measured by the client, median and p95; the
ratio of the page's round trip to the ceiling's. Then the page's scripts and styles, fetched
as the browser does: their total size, raw and gzipped.

Targets (issue 13): p95 under 50 ms in the server; scripts and styles under 200 KB.
Results go to benchmarks/results/web_person_page.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent
DEMO_SEED = 2026
PERSON = f"S{DEMO_SEED % 10_000:04d}-00000001"
RENDER_TARGET_MS = 50.0
ASSETS_TARGET_KB = 200.0
WARM_UP = 30


@dataclass(frozen=True)
class Figures:
    requests: int
    server_median_ms: float | None
    server_p95_ms: float | None
    round_trip_median_ms: float
    round_trip_p95_ms: float


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def kaimen(home: Path, *args: str) -> str:
    env = {**os.environ, "KAIMEN_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "kaimen", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"kaimen {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Browser:
    """One kept-alive connection with a cookie jar: enough of a browser for these pages."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes, float]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        for header in response.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response, content, elapsed


def server_ms(response: http.client.HTTPResponse) -> float | None:
    found = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing") or "")
    return float(found.group(1)) if found else None


def sign_in(browser: Browser, code: str) -> None:
    _, page, _ = browser.request("GET", "/sign-in")
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "no CSRF token on the sign-in page"
    response, _, _ = browser.request(
        "POST", "/sign-in/code", {"code": code, "csrf_token": csrf.group(1).decode()}
    )
    if response.status != 303:
        raise SystemExit(f"sign-in refused: {response.status}")


def measure(browser: Browser, requests: int) -> dict[str, Figures]:
    paths = {"person page": "/me", "ceiling: /healthz": "/healthz"}
    for _ in range(WARM_UP):
        for path in paths.values():
            browser.request("GET", path)
    server: dict[str, list[float]] = {name: [] for name in paths}
    trips: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(requests):
        for name, path in paths.items():
            response, content, elapsed = browser.request("GET", path)
            assert response.status == 200, (path, response.status)
            if path == "/me":
                assert b'class="gauge-score"' in content, "the page has no gauge"
            trips[name].append(elapsed)
            timing = server_ms(response)
            if timing is not None:
                server[name].append(timing)
    return {
        name: Figures(
            requests=requests,
            server_median_ms=statistics.median(server[name]) if server[name] else None,
            server_p95_ms=p95(server[name]) if server[name] else None,
            round_trip_median_ms=statistics.median(trips[name]),
            round_trip_p95_ms=p95(trips[name]),
        )
        for name in paths
    }


def assets(browser: Browser) -> list[dict[str, object]]:
    _, page, _ = browser.request("GET", "/me")
    html = page.decode()
    found = re.findall(r'<script src="([^"]+)"', html) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', html
    )
    sizes: list[dict[str, object]] = []
    for path in found:
        response, content, _ = browser.request("GET", path)
        assert response.status == 200, path
        sizes.append(
            {"path": path, "bytes": len(content), "gzip_bytes": len(gzip.compress(content))}
        )
    return sizes


def write(
    figures: dict[str, Figures], sizes: list[dict[str, object]], load: tuple[str, str]
) -> dict[str, object]:
    page, ceiling = figures["person page"], figures["ceiling: /healthz"]
    total = sum(int(str(s["bytes"])) for s in sizes)
    total_gzip = sum(int(str(s["gzip_bytes"])) for s in sizes)
    ratio = page.round_trip_median_ms / ceiling.round_trip_median_ms
    summary: dict[str, object] = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": load[0],
        "load_average_after": load[1],
        "figures": {name: asdict(f) for name, f in figures.items()},
        "round_trip_ratio_to_ceiling": round(ratio, 2),
        "assets": sizes,
        "assets_bytes": total,
        "assets_gzip_bytes": total_gzip,
        "render_target_ms": RENDER_TARGET_MS,
        "render_met": page.server_p95_ms is not None and page.server_p95_ms < RENDER_TARGET_MS,
        "assets_target_kb": ASSETS_TARGET_KB,
        "assets_met": total / 1000 < ASSETS_TARGET_KB,
    }
    (ROOT / "results" / "web_person_page.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# The person's web page (`GET /me`), warm server",
        "",
        f"`kaimen serve` (uvicorn, one process) over a 200-person demo home on SQLite; "
        f"{page.requests} requests each after {WARM_UP} warm-up, in turns with the ceiling, over "
        f"one kept-alive connection; {os.cpu_count()} cores; {summary['when']}; load average "
        f"before {load[0]}, after {load[1]}.",
        "",
        "| request | in the server, median | in the server, p95 | round trip, median "
        "| round trip, p95 |",
        "|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        median_text = "-" if f.server_median_ms is None else f"{f.server_median_ms:.1f} ms"
        p95_text = "-" if f.server_p95_ms is None else f"{f.server_p95_ms:.1f} ms"
        lines.append(
            f"| {name} | {median_text} | {p95_text} | "
            f"{f.round_trip_median_ms:.1f} ms | {f.round_trip_p95_ms:.1f} ms |"
        )
    lines += [
        "",
        f"The page's round trip is **{ratio:.1f}x** the ceiling's (median). Target: p95 in the "
        f"server under {RENDER_TARGET_MS:.0f} ms: "
        f"**{'met' if summary['render_met'] else 'not met'}**.",
        "",
        "| script or style | bytes | gzipped |",
        "|---|---|---|",
        *[f"| `{s['path']}` | {s['bytes']:,} | {s['gzip_bytes']:,} |" for s in sizes],
        f"| **total** | **{total:,}** | {total_gzip:,} |",
        "",
        f"Target: under {ASSETS_TARGET_KB:.0f} KB: **{'met' if summary['assets_met'] else 'not met'}**.",
    ]
    (ROOT / "results" / "web_person_page.md").write_text("\n".join(lines) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="Requests of each path.")
    args = parser.parse_args()
    before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory(prefix="kaimen-web-") as folder:
        home = Path(folder) / "home"
        print("building the demo home (200 people, 18 months)...", flush=True)
        kaimen(home, "demo", "--people", "200", "--months", "18", "--no-serve")
        port = free_port()
        code = kaimen(home, "person", "sign-in-code", PERSON).split()[0]
        env = {**os.environ, "KAIMEN_HOME": str(home), "KAIMEN_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [sys.executable, "-m", "kaimen", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            browser = Browser(port)
            sign_in(browser, code)
            figures = measure(browser, args.requests)
            sizes = assets(browser)
        finally:
            server.terminate()
            server.wait(timeout=30)
    after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    summary = write(figures, sizes, (before, after))
    for name, f in figures.items():
        print(
            f"{name}: server p95 {f.server_p95_ms} ms, round trip p95 {f.round_trip_p95_ms:.1f} ms"
        )
    print(f"assets: {summary['assets_bytes']:,} bytes ({summary['assets_gzip_bytes']:,} gzipped)")


if __name__ == "__main__":
    main()
