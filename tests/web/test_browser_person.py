"""The person's pages in a real browser: enrolling with the keyboard alone, a slider moved with
the keyboard showing exactly the API's what-if for the same values, and every person's page
photographed at both widths in both languages, axe-clean (see `browsing.check_every_page`)."""

from __future__ import annotations

import functools
import itertools
import json
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from kaimen.sharing import offering, partnering
from tests.conftest import make_national_id
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
# Each enrolment in this module gets its own ID number and phone.
_fresh = itertools.count(500)


def _new_identity() -> tuple[str, str]:
    n = next(_fresh)
    return f"13700{n:06d}", make_national_id(sequence=f"{n % 1000:03d}")


@pytest.fixture(scope="module", autouse=True)
def offers(live: Live) -> Iterator[None]:
    partnering.add_partner(live.engine, "lender-browser", "Lender Browser Ltd", "admin")
    for name, minimum in (("Small loan", 400), ("Car without deposit", 900)):
        terms = offering.OfferTerms(name, "for the browser test", minimum)
        offering.publish_offer(live.engine, "lender-browser", terms, "admin")
    yield


def api_what_if(live: Live, values: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{live.base}/v1/people/{live.person_id}/whatif",
        data=json.dumps({"values": values}).encode(),
        headers={"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        loaded: dict[str, object] = json.load(response)
    return loaded


def test_enrolling_with_the_keyboard_alone_lands_on_my_page(browser: Browser, live: Live) -> None:
    watched = open_page(browser)
    page = watched.page
    page.goto(f"{live.base}/")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Start my credit journey":
            break
    else:
        pytest.fail("'Start my credit journey' cannot be reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.base}/enrol")
    phone, national_id = _new_identity()
    tab_to(page, "phone")
    page.keyboard.type("12345")
    tab_to(page, "national_id")
    page.keyboard.type(national_id)
    page.keyboard.press("Enter")
    # Refused beside the field, focused there, what was typed kept.
    error = page.locator("#phone-error")
    error.wait_for()
    assert "11-digit mainland mobile number" in (error.text_content() or "")
    assert page.evaluate("document.activeElement.id") == "phone"
    assert page.locator("#national_id").input_value() == national_id
    page.keyboard.press("Control+A")
    page.keyboard.type(phone)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.base}/me")
    assert page.locator("h1").text_content() == "No score yet"
    assert watched.problems == []


def test_moving_a_slider_shows_the_apis_what_if(browser: Browser, live: Live) -> None:
    watched = open_page(browser)
    page = watched.page
    sign_in_person(page, live)
    page.goto(f"{live.base}/me/what-if")
    sliders = page.locator("input[type=range]")
    assert sliders.count() >= 2
    moved = 0
    for index in range(sliders.count()):
        slider = sliders.nth(index)
        start = slider.input_value()
        slider.focus()
        # To the other end of its range, with the keyboard.
        page.keyboard.press("End" if start == "0" else "Home")
        if slider.input_value() == start:
            continue
        moved += 1
        labels = json.loads(slider.get_attribute("data-labels") or "[]")
        assert slider.get_attribute("aria-valuetext") == labels[int(slider.input_value())]
        result = page.locator("#whatif-result[data-new-score]")
        result.wait_for()
        page.wait_for_function(
            "(values) => { const r = document.querySelector('#whatif-result');"
            " return r && r.dataset.tried && Object.keys(JSON.parse(r.dataset.tried)).length"
            " === values; }",
            arg=moved,
        )
        tried = json.loads(result.get_attribute("data-tried") or "{}")
        api = api_what_if(live, tried)
        shown = page.locator("#whatif-result .new-score").text_content()
        assert shown == str(api["new_score"]), (tried, shown, api)
        assert page.locator("#whatif-result svg.gauge").get_attribute("data-score") == shown
    assert moved >= 2
    assert watched.problems == []


def test_the_plan_to_a_target(browser: Browser, live: Live) -> None:
    watched = open_page(browser)
    page = watched.page
    sign_in_person(page, live)
    page.goto(f"{live.base}/me/what-if")
    page.locator("#target").fill("900")
    page.locator("#target").press("Enter")
    page.locator("#plan").wait_for()
    assert page.locator(".plan-steps li").count() >= 1
    page.locator("#target").fill("12")
    page.locator("#target").press("Enter")
    assert page.locator("#target-error").text_content() == "a whole number from 350 to 950"
    assert watched.problems == []


def _visit(page: Page, live: Live, *, name: str) -> None:
    if name == "enrol":
        page.goto(f"{live.base}/enrol")
    elif name == "enrol-refused":
        page.goto(f"{live.base}/enrol")
        page.locator("#phone").fill("12345")
        page.locator("#national_id").fill("110105")
        page.locator("#national_id").press("Enter")
        page.locator("#national_id-error").wait_for()
    elif name == "no-score":
        phone, national_id = _new_identity()
        page.goto(f"{live.base}/enrol")
        page.locator("#phone").fill(phone)
        page.locator("#national_id").fill(national_id)
        page.locator("#national_id").press("Enter")
        page.wait_for_url(f"{live.base}/me")
    elif name == "me":
        sign_in_person(page, live)
        assert_not_collapsed(page)
    elif name == "what-if":
        page.goto(f"{live.base}/me/what-if")
    elif name == "what-if-moved":
        page.goto(f"{live.base}/me/what-if")
        page.locator("input[type=range]").first.focus()
        page.keyboard.press("Home")
        page.keyboard.press("End")
        page.locator("#whatif-result[data-new-score]").wait_for()
    elif name == "what-if-plan":
        page.goto(f"{live.base}/me/what-if?target=900")
        page.locator("#plan").wait_for()
    elif name == "offers":
        page.goto(f"{live.base}/me/offers")
    else:
        raise AssertionError(name)


PAGES = (
    "enrol",
    "enrol-refused",
    "no-score",
    "me",
    "what-if",
    "what-if-moved",
    "what-if-plan",
    "offers",
)


@pytest.mark.parametrize("language", list(LOCALES))
def test_every_persons_page_at_both_widths_photographed_and_accessible(
    browser: Browser, live: Live, language: str
) -> None:
    pages = {f"person-{name}": functools.partial(_visit, name=name) for name in PAGES}
    check_every_page(browser, live, language, pages)
