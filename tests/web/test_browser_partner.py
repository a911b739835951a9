"""The partner's console in a real browser over the scored population: signing in with a key
using the keyboard, the count of who would qualify following the threshold as it is typed
(and equal to the service's), a dispute a person filed through the API answered from the
console, a key issued and shown once, the session's own key revoked (signing out), and every
console page photographed and checked at both widths in both languages (see `browsing`)."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from kaimen.sharing import offering, partnering
from tests.web.browsing import Live, check_every_page, open_page

pytestmark = pytest.mark.browser
PARTNER = "web-lender"
SCOPES = ["decisions", "disputes", "feedback"]


@dataclasses.dataclass
class Partner:
    key: str
    offer_id: int


def call(live: Live, method: str, path: str, credential: str, body: object) -> dict[str, object]:
    """The API, as a partner's or a person's program calls it."""
    request = urllib.request.Request(
        f"{live.base}{path}",
        method=method,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            loaded: dict[str, object] = json.load(response)
    except urllib.error.HTTPError as refused:
        pytest.fail(f"{method} {path}: {refused.code} {refused.read()!r}")
    return loaded


@pytest.fixture(scope="module")
def partner(live: Live) -> Iterator[Partner]:
    """A partner with a key and an offer, the person's consents to it, and one decision."""
    partnering.add_partner(live.engine, PARTNER, "Web Lender", "admin")
    key = partnering.issue_key(live.engine, PARTNER, SCOPES, "admin").secret
    offer = call(
        live,
        "POST",
        "/v1/offers",
        key,
        {"name": "Starter card", "purpose": "a first credit card", "min_score": 600},
    )
    for purpose in ("decision", "feedback"):
        call(
            live, "POST", "/v1/me/consents", live.token, {"partner_id": PARTNER, "purpose": purpose}
        )
    call(
        live,
        "POST",
        "/v1/decisions",
        key,
        {"person_id": live.person_id, "offer_id": offer["offer_id"]},
    )
    # One dispute stays open for the pages to show.
    file_a_dispute(live, key, "bike-web-0")
    yield Partner(key, int(str(offer["offer_id"])))


def file_a_dispute(live: Live, key: str, reference: str) -> dict[str, object]:
    """The partner reports a damaged bike through the API; the person disputes it there."""
    sent = call(
        live,
        "POST",
        "/v1/feedback",
        key,
        {
            "kind": "rental",
            "person_id": live.person_id,
            "reference": reference,
            "outcome": "damaged_unpaid",
            "item": "bike",
            "deposit": "waived",
            "occurred_at": "2026-11-20T10:00:00+00:00",
        },
    )
    assert sent["received"] == "new"
    return call(
        live,
        "POST",
        "/v1/me/disputes",
        live.token,
        {
            "item_kind": "event",
            "item_ref": f"{PARTNER}/{reference}",
            "statement": "I returned the bike undamaged at the station.",
        },
    )


def sign_in_partner(page: Page, live: Live, key: str) -> None:
    page.goto(f"{live.base}/sign-in")
    page.locator("#token").fill(key)
    page.locator("#token").press("Enter")
    page.wait_for_url(f"{live.base}/partner")


def test_keyboard_sign_in_and_the_count_follows_the_threshold(
    browser: Browser, live: Live, partner: Partner
) -> None:
    watched = open_page(browser)
    page = watched.page
    page.goto(f"{live.base}/sign-in")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "token":
            break
    else:
        pytest.fail("the key's field cannot be reached with Tab")
    page.keyboard.type(partner.key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.base}/partner")
    page.goto(f"{live.base}/partner/offers/{partner.offer_id}")
    reach = page.locator("#reach")
    expected = offering.reach(live.engine, offering.Thresholds(600)).people
    assert expected is not None
    expect(reach).to_contain_text(f"{expected:,}")
    # Typing a new threshold updates the count before anything is saved.
    page.locator("#offer-min_score").fill("700")
    at_700 = offering.reach(live.engine, offering.Thresholds(700)).people
    assert at_700 is not None and at_700 != expected
    expect(reach).to_contain_text(f"{at_700:,}")
    page.locator("#offer-min_score").fill("940")
    assert offering.reach(live.engine, offering.Thresholds(940)).people is None
    expect(reach).to_contain_text("Fewer than 10")
    # A connections minimum is refused as it is typed, in the service's words.
    page.locator("#offer-min_score").fill("600")
    page.locator("#offer-min_connections").fill("20")
    expect(reach).to_contain_text("may not require a connections sub-score")
    # Saving it is refused beside the field; nothing stored.
    page.get_by_role("button", name="Save the thresholds").click()
    error = page.locator("#offer-min_connections-error")
    expect(error).to_contain_text("may not require a connections sub-score")
    assert page.locator("#offer-min_connections").get_attribute("aria-invalid") == "true"
    assert offering.offers_of(live.engine, PARTNER)[0].min_dimensions == {}
    # With the keyboard alone: clear it, set 650 and save.
    page.locator("#offer-min_connections").fill("")
    page.locator("#offer-min_score").fill("650")
    page.locator("#offer-min_score").press("Enter")
    page.wait_for_url(f"{live.base}/partner/offers")
    assert offering.offers_of(live.engine, PARTNER)[0].min_score == 650
    assert watched.problems == []


def test_a_dispute_filed_through_the_api_is_answered_in_the_console(
    browser: Browser, live: Live, partner: Partner
) -> None:
    filed = file_a_dispute(live, partner.key, "bike-web-1")
    dispute_id = str(filed["dispute_id"])
    watched = open_page(browser)
    page = watched.page
    sign_in_partner(page, live, partner.key)
    page.get_by_role("link", name="Disputes", exact=True).click()
    row = page.locator("tr", has_text="bike-web-1")
    expect(row).to_be_visible()
    due = str(filed["answer_due_at"])
    assert row.locator("time").nth(1).get_attribute("datetime", timeout=5000)[:19] == due[:19]
    row.get_by_role("link", name=re.compile("Answer")).click()
    page.wait_for_url(f"{live.base}/partner/disputes/{dispute_id}")
    expect(page.locator(".statement")).to_have_text("I returned the bike undamaged at the station.")
    page.get_by_label(re.compile("^Deleted")).check()
    page.get_by_role("button", name="Send the answer").click()
    page.wait_for_url(f"{live.base}/partner/disputes/{dispute_id}")
    expect(page.get_by_role("heading", name="Answered")).to_be_visible()
    request = urllib.request.Request(
        f"{live.base}/v1/me/disputes", headers={"Authorization": f"Bearer {live.token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        states = {d["dispute_id"]: d["state"] for d in json.load(response)}
    assert states[dispute_id] == "deleted"
    assert watched.problems == []


def test_a_key_is_shown_once_and_revoking_the_sessions_key_signs_out(
    browser: Browser, live: Live, partner: Partner
) -> None:
    own = partnering.issue_key(live.engine, PARTNER, ["feedback"], "admin")
    watched = open_page(browser)
    page = watched.page
    sign_in_partner(page, live, own.secret)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("feedback").check()
    page.get_by_role("button", name="Issue the key").click()
    expect(page.get_by_text("Copy it now")).to_be_visible()
    shown = page.locator("#new-key").input_value()
    assert shown.startswith("kmk_")
    page.reload()
    assert shown not in page.content()
    page.goto(f"{live.base}/partner/keys/{own.key.key_id}/revoke")
    expect(page.get_by_text("revoking it signs you out")).to_be_visible()
    page.get_by_role("button", name="Yes, revoke it").click()
    page.wait_for_url(f"{live.base}/sign-in")
    page.goto(f"{live.base}/partner")
    page.wait_for_url(f"{live.base}/sign-in")
    assert watched.problems == []


def _visit(page: Page, live: Live, *, name: str, partner: Partner) -> None:
    base = f"{live.base}/partner"
    if name == "partner-overview":
        sign_in_partner(page, live, partner.key)
    elif name == "partner-offers":
        page.goto(f"{base}/offers")
    elif name == "partner-offer-new-refused":
        page.goto(f"{base}/offers/new")
        page.locator("#offer-min_score").fill("200")
        page.get_by_role("button", name=re.compile("Publish the offer|发布产品")).click()
        page.locator("#offer-min_score-error").wait_for()
    elif name == "partner-offer-thresholds":
        page.goto(f"{base}/offers/{partner.offer_id}")
        page.locator("#reach .reach-count").wait_for()
    elif name == "partner-withdraw-confirm":
        page.goto(f"{base}/offers/{partner.offer_id}/withdraw")
    elif name == "partner-decisions":
        page.goto(f"{base}/decisions")
    elif name == "partner-feedback-refused":
        page.goto(f"{base}/feedback")
        page.locator("#loan-person_id").fill("nobody-here")
        page.locator("#loan-reference").fill("loan-x")
        page.get_by_role("button", name=re.compile("Send the loan's outcome|发送贷款结果")).click()
        page.locator("#loan-amount-error").wait_for()
    elif name == "partner-disputes":
        page.goto(f"{base}/disputes")
    elif name == "partner-dispute":
        page.goto(f"{base}/disputes")
        page.locator("table.data a").first.click()
        page.locator(".statement").wait_for()
    elif name == "partner-keys-issued":
        page.goto(f"{base}/keys")
        page.locator("#scope-feedback").check()
        page.get_by_role("button", name=re.compile("Issue the key|签发此密钥")).click()
        page.locator("#new-key").wait_for()
    elif name == "partner-revoke-confirm":
        key_id = partner.key.split("_")[1]
        page.goto(f"{base}/keys/{key_id}/revoke")


PAGES = (
    "partner-overview",
    "partner-offers",
    "partner-offer-new-refused",
    "partner-offer-thresholds",
    "partner-withdraw-confirm",
    "partner-decisions",
    "partner-feedback-refused",
    "partner-disputes",
    "partner-dispute",
    "partner-keys-issued",
    "partner-revoke-confirm",
)


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
def test_every_console_page_at_both_widths_in_both_languages(
    browser: Browser, live: Live, partner: Partner, language: str
) -> None:
    check_every_page(
        browser,
        live,
        language,
        {name: functools.partial(_visit, name=name, partner=partner) for name in PAGES},
    )


def test_a_page_the_key_may_not_use_says_so(browser: Browser, live: Live) -> None:
    feedback_only = partnering.issue_key(live.engine, PARTNER, ["feedback"], "admin").secret

    def overview(page: Page, live: Live) -> None:
        sign_in_partner(page, live, feedback_only)

    def offers(page: Page, live: Live) -> None:
        page.goto(f"{live.base}/partner/offers")

    check_every_page(
        browser, live, "en", {"partner-feedback-key": overview, "partner-not-with-this-key": offers}
    )
