"""What the browser tests share: Debian's Chromium driven by Playwright, the real app served by
uvicorn over a copy of the scored population (fixtures `browser` and `live` in conftest), and
the checks every page gets: photographed at phone and desktop width in both languages, no
sideways scrolling, no script or Content-Security-Policy error, and axe-core clean at both
widths and in both languages (see `AXE_WIDTH`)."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine, and_, select
from sqlalchemy.orm import aliased

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.sharing.authentication import issue_person_token
from kaimen.sharing.signing_in import issue_sign_in_code
from kaimen.store.tables import score_snapshots
from tests.live_server import serving
from tests.population import LAST, PREVIOUS, Populations

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "an-admin-token-of-some-length"
# The tests' vault key (tests.population.VAULT), as KAIMEN_SECRET_KEY spells it.
VAULT_SECRET = base64.b64encode(bytes(range(32))).decode()
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "web"
WIDTHS = {"phone": 360, "desktop": 1280}
LOCALES = {"en": "en-GB", "zh-Hans": "zh-CN"}
# axe-core checks each page at one width a language, the phone's in English and the desktop's
# in Chinese: over a test's two languages every page is checked at both widths and in both
# languages, in half the runs (axe was about 40% of these tests' time). Its script is given
# to the context once, and Chromium runs it on each new document, instead of being sent
# with every check (a tenth of a second each).
AXE_WIDTH = {"en": "phone", "zh-Hans": "desktop"}
AXE_RUN = "axe.run({resultTypes: ['violations']})"


@dataclasses.dataclass
class Live:
    base: str
    engine: Engine
    person_id: str
    token: str
    home: Path

    def code(self) -> str:
        return issue_sign_in_code(self.engine, self.person_id, "cli").code

    def api_score(self) -> dict[str, object]:
        request = urllib.request.Request(
            f"{self.base}/v1/people/{self.person_id}/score",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            loaded: dict[str, object] = json.load(response)
        return loaded


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _moved_person(engine: Engine) -> str:
    """Someone scored in both months whose score changed: the gauge shows an arrow."""
    before = aliased(score_snapshots)
    with engine.connect() as store:
        row = store.execute(
            select(score_snapshots.c.person_id)
            .join(
                before,
                and_(
                    before.c.person_id == score_snapshots.c.person_id,
                    before.c.month == PREVIOUS,
                ),
            )
            .where(
                score_snapshots.c.month == LAST,
                score_snapshots.c.score.between(560, 690),
                before.c.score.is_not(None),
                before.c.score != score_snapshots.c.score,
            )
            .order_by(score_snapshots.c.person_id)
            .limit(1)
        ).first()
    assert row is not None, "no scored person whose score moved"
    return str(row.person_id)


def serve_live(populations: Populations) -> Iterator[Live]:
    with populations.copy("scored", "sqlite") as population:
        # The population's identities are sealed with the tests' vault key: the server needs
        # it to read them back (an export, a court-list match).
        settings = Settings(
            home=population.home,
            admin_token=ADMIN,
            database_url=population.url,
            secret_key=VAULT_SECRET,
        )
        app = create_app(settings)
        engine = app.state.workspace.engine
        person_id = _moved_person(engine)
        token = issue_person_token(engine, person_id)
        try:
            with serving(app, _free_port()) as base:
                yield Live(base, engine, person_id, token, population.home)
        finally:
            engine.dispose()


def launch_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@dataclasses.dataclass
class Watched:
    """A page, and what went wrong in it: script errors and Content-Security-Policy refusals."""

    page: Page
    problems: list[str]


def open_page(
    browser: Browser, language: str = "en", width: int = 1280, axe: bool = False
) -> Watched:
    """A page in a new context; with `axe`, axe-core is loaded in every document it opens."""
    context = browser.new_context(
        locale=LOCALES[language], viewport={"width": width, "height": 800}
    )
    if axe:
        context.add_init_script(AXE_SCRIPT)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return Watched(page, problems)


def sign_in_person(page: Page, live: Live) -> None:
    page.goto(f"{live.base}/sign-in?code={live.code()}")
    page.locator("#code").press("Enter")
    page.wait_for_url(f"{live.base}/me")


def tab_to(page: Page, element_id: str, presses: int = 60) -> None:
    """Move the focus to `#element_id` with the Tab key alone (fails when it cannot be reached)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    pytest.fail(f"#{element_id} cannot be reached with Tab")


def chart_pixels(page: Page) -> int:
    """Pixels the history chart painted: 0 for a chart that drew nothing."""
    drawn: int = page.evaluate(
        """() => {
            const canvas = document.querySelector('#history-chart canvas');
            if (!canvas) return 0;
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
            return painted;
        }"""
    )
    return drawn


def assert_not_collapsed(page: Page) -> None:
    gauge = page.locator("svg.gauge").bounding_box()
    assert gauge is not None and gauge["width"] >= 150 and gauge["height"] >= 80, gauge
    score = page.locator("svg.gauge .gauge-score").text_content() or ""
    assert score.strip().isdigit(), f"empty gauge: {score!r}"
    page.locator("#history-chart canvas").wait_for()
    chart = page.locator("#history-chart canvas").bounding_box()
    assert chart is not None and chart["width"] >= 200 and chart["height"] >= 150, chart
    assert chart_pixels(page) > 500, "the history chart drew nothing"


Visit = Callable[[Page, Live], None]


def check_every_page(
    browser: Browser, live: Live, language: str, pages: dict[str, Visit], after: Visit | None = None
) -> None:
    """Visit each page at both widths in `language`: photographed, no sideways scroll, no
    script or policy error, and at `AXE_WIDTH`'s width no axe-core violation (all reported
    together)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, str] = {}
    for width_name, width in WIDTHS.items():
        checked = AXE_WIDTH[language] == width_name
        watched = open_page(browser, language, width, axe=checked)
        page = watched.page
        for name, visit in pages.items():
            visit(page, live)
            assert page.locator("html").get_attribute("lang") == language
            if after is not None:
                after(page, live)
            overflow = page.evaluate(
                "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways at {width}px"
            page.screenshot(
                path=str(ARTIFACTS / f"{name}-{language}-{width_name}.png"), full_page=True
            )
            if not checked:
                continue
            results = AxeResults(page.evaluate(AXE_RUN))
            if results.violations_count:
                found[f"{name} {language} {width}px"] = results.generate_report()
        assert watched.problems == [], watched.problems
        page.context.close()
    assert found == {}, "\n".join(f"{where}:\n{report}" for where, report in found.items())
