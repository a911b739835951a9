"""The web app in a real browser: signing in with the keyboard, the gauge against the API,
the language switch, and the first pages photographed and checked (see `browsing`)."""

from __future__ import annotations

import functools

import pytest
from playwright.sync_api import Browser, Page

from tests.web.browsing import (
    LOCALES,
    Live,
    assert_not_collapsed,
    check_every_page,
    open_page,
    sign_in_person,
    tab_to,
)

pytestmark = pytest.mark.browser


def test_keyboard_sign_in_and_the_gauge_equals_the_api(browser: Browser, live: Live) -> None:
    watched = open_page(browser)
    page = watched.page
    page.goto(f"{live.base}/sign-in")
    # Keyboard alone: Tab to the code's field, type, Enter.
    tab_to(page, "code", presses=20)
    page.keyboard.type(live.code())
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.base}/me")

    api = live.api_score()
    gauge = page.locator("svg.gauge")
    assert gauge.get_attribute("data-score") == str(api["score"])
    assert page.locator("svg.gauge .gauge-score").text_content() == str(api["score"])
    assert gauge.get_attribute("data-colour") == api["colour"]
    assert page.locator("svg.gauge .gauge-current").get_attribute("stroke") == api["colour"]
    assert page.locator(".band-name").text_content() == api["band"]
    history = api["history"]
    assert isinstance(history, list) and history[0]["change"]
    arrow = "▲" if history[0]["change"] > 0 else "▼"
    assert arrow in (page.locator(".change").text_content() or "")
    assert str(abs(history[0]["change"])) in (page.locator(".change").text_content() or "")
    assert_not_collapsed(page)
    assert watched.problems == []


def test_switching_to_chinese_shows_chinese(browser: Browser, live: Live) -> None:
    watched = open_page(browser, "en")
    page = watched.page
    sign_in_person(page, live)
    assert page.locator("h1").text_content() == "My score"
    page.get_by_role("button", name="中文").click()
    page.wait_for_url(f"{live.base}/me")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.locator("h1").text_content() == "我的评分"
    assert page.get_by_role("button", name="退出").is_visible()
    # The switch holds on the next page, whatever the browser asks for.
    page.goto(f"{live.base}/sign-in")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert watched.problems == []


PAGES = ("home", "sign-in", "sign-in-refused", "me", "not-found")


def _visit(page: Page, live: Live, *, name: str) -> None:
    if name == "home":
        page.goto(f"{live.base}/")
    elif name == "sign-in":
        page.goto(f"{live.base}/sign-in")
    elif name == "sign-in-refused":
        page.goto(f"{live.base}/sign-in")
        page.locator("#code").fill("WRONGCODE2")
        page.locator("#code").press("Enter")
        page.locator("#code-error").wait_for()
    elif name == "me":
        sign_in_person(page, live)
    else:
        page.goto(f"{live.base}/no-such-page")


def _on_the_persons_page(page: Page, live: Live) -> None:
    if page.url.endswith("/me"):
        assert_not_collapsed(page)


@pytest.mark.parametrize("language", list(LOCALES))
def test_every_page_at_both_widths_photographed_and_accessible(
    browser: Browser, live: Live, language: str
) -> None:
    pages = {name: functools.partial(_visit, name=name) for name in PAGES}
    check_every_page(browser, live, language, pages, after=_on_the_persons_page)
