"""The analyst's and the admin's pages in a real browser: the model card's charts draw (none
collapsed or empty) beside tables of the same figures, every page is photographed at both
widths in both languages and axe-clean, and a review is approved with the keyboard alone."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from kaimen.config import Settings
from kaimen.scoring.models import list_models
from tests.population import Populations
from tests.web.browsing import (
    ADMIN,
    LOCALES,
    VAULT_SECRET,
    Live,
    check_every_page,
    open_page,
    serve_live,
)
from tests.web.test_admin_pages import seed_queues

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(populations: Populations) -> Iterator[Live]:
    """The shared live app, with the review queues seeded through the services (in the same
    home, so with the same identity vault)."""
    for served in serve_live(populations):
        settings = Settings(
            home=served.home,
            admin_token=ADMIN,
            database_url=str(served.engine.url),
            secret_key=VAULT_SECRET,
        )
        workspace = settings.workspace()
        seed_queues(workspace)
        workspace.engine.dispose()
        yield served


def sign_in_admin(page: Page, live: Live) -> None:
    page.goto(f"{live.base}/sign-in")
    page.locator("#token").fill(ADMIN)
    page.locator("#token").press("Enter")
    page.wait_for_url(f"{live.base}/admin")


def painted(page: Page, chart_id: str) -> int:
    """Pixels a chart's canvas painted: 0 for a chart that drew nothing."""
    drawn: int = page.evaluate(
        """(id) => {
            const canvas = document.querySelector('#' + id + ' canvas');
            if (!canvas) return 0;
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
            return painted;
        }""",
        chart_id,
    )
    return drawn


def assert_charts_drawn(page: Page) -> None:
    """Every chart on the page has drawn: a canvas of a real size with pixels on it, and a
    text alternative (its name says where the figures are)."""
    ids = page.eval_on_selector_all("[data-chart]", "boxes => boxes.map(b => b.id)")
    for chart_id in ids:
        canvas = page.locator(f"#{chart_id} canvas")
        canvas.wait_for()
        box = canvas.bounding_box()
        assert box is not None and box["width"] >= 200 and box["height"] >= 150, (chart_id, box)
        assert painted(page, chart_id) > 500, f"{chart_id} drew nothing"
        label = page.locator(f"#{chart_id}").get_attribute("aria-label") or ""
        assert len(label) > 10, chart_id


def test_the_model_cards_charts_draw_beside_their_figures(browser: Browser, live: Live) -> None:
    watched = open_page(browser)
    page = watched.page
    sign_in_admin(page, live)
    page.goto(f"{live.base}/admin/model")
    ids = page.eval_on_selector_all("[data-chart]", "boxes => boxes.map(b => b.id)")
    assert ids == [
        "roc-chart",
        "ks-chart",
        "distribution-chart",
        "bad-rate-chart",
        "stability-chart",
    ]
    assert_charts_drawn(page)
    champion = next(r for r in list_models(live.engine) if r.champion)
    assert champion.metrics.out_of_time is not None
    compared = page.locator("#compare-heading + p + .table-wrap tbody tr").first
    assert champion.version in (compared.text_content() or "")
    assert f"{champion.metrics.out_of_time.auc:.3f}" in (compared.text_content() or "")
    # The tables beside the charts hold figures, not blanks.
    page.get_by_text("The curves in a table").click()
    rows = page.locator("#roc-heading ~ details tbody tr")
    assert rows.count() == 11
    assert watched.problems == []


def _ensure_admin(page: Page, live: Live, path: str) -> None:
    page.goto(f"{live.base}{path}")
    if page.url.endswith("/sign-in"):
        sign_in_admin(page, live)
        page.goto(f"{live.base}{path}")


def _visit(page: Page, live: Live, *, path: str) -> None:
    _ensure_admin(page, live, path)


def _refused_payment(page: Page, live: Live) -> None:
    _ensure_admin(page, live, "/admin/payments")
    reason = page.locator("input[name=reason]").first
    reason.press("Enter")
    page.locator(".error").first.wait_for()


PAGES = {
    "admin": functools.partial(_visit, path="/admin"),
    "admin-model": functools.partial(_visit, path="/admin/model"),
    "admin-spiral": functools.partial(_visit, path="/admin/spiral?people=2000"),
    "admin-spiral-refused": functools.partial(_visit, path="/admin/spiral?people=5&share=x"),
    "admin-identity-reviews": functools.partial(_visit, path="/admin/identity-reviews"),
    "admin-payments": functools.partial(_visit, path="/admin/payments"),
    "admin-payments-refused": _refused_payment,
    "admin-clocks": functools.partial(_visit, path="/admin/clocks"),
}


def _charts_drawn(page: Page, live: Live) -> None:
    if page.locator("[data-chart]").count():
        assert_charts_drawn(page)


@pytest.mark.parametrize("language", list(LOCALES))
def test_every_admin_page_at_both_widths_photographed_and_accessible(
    browser: Browser, live: Live, language: str
) -> None:
    check_every_page(browser, live, language, PAGES, after=_charts_drawn)


def test_a_review_approved_with_the_keyboard_alone(browser: Browser, live: Live) -> None:
    watched = open_page(browser)
    page = watched.page
    sign_in_admin(page, live)
    page.goto(f"{live.base}/admin/identity-reviews")
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent || ''")
        if focused.startswith("Approve the link"):
            break
    else:
        pytest.fail("the approve button cannot be reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.base}/admin/identity-reviews?done=approved")
    assert page.get_by_role("status").text_content() == "Approved."
    assert watched.problems == []
