"""The person's records pages in a real browser: a consent granted with the keyboard alone and
revoked in one click, after which the partner's next decision over HTTP fails as the API fails
without consent; a dispute filed with evidence, stored as the API shows it; the export as a
download equal to the API's; leaving, on another person; and every page photographed at both
widths in both languages and checked (see `browsing.check_every_page`)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from kaimen.sharing import consenting, offering, partnering
from kaimen.sharing.authentication import issue_person_token
from kaimen.sharing.signing_in import issue_sign_in_code
from kaimen.store.tables import people
from tests.conftest import make_national_id
from tests.web.browsing import (
    ADMIN,
    LOCALES,
    Live,
    check_every_page,
    open_page,
    sign_in_person,
    tab_to,
)

pytestmark = pytest.mark.browser

PARTNER = "lender-browser"


def _http(live: Live, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """A request to the live server's API, as a partner or the person sends it."""
    request = urllib.request.Request(
        f"{live.base}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


@pytest.fixture(scope="module")
def lender(live: Live) -> tuple[str, int]:
    """A partner on the live server with a decisions key and an offer anyone scored meets."""
    partnering.add_partner(live.engine, PARTNER, "Lender in the browser", "admin")
    key = partnering.issue_key(live.engine, PARTNER, ["decisions", "reports"], "admin").secret
    offer = offering.publish_offer(
        live.engine, PARTNER, offering.OfferTerms("Small loan", "loan", 350), "admin"
    )
    return key, offer.offer_id


def _decide(live: Live, lender: tuple[str, int]) -> tuple[int, Any]:
    key, offer_id = lender
    body = {"person_id": live.person_id, "offer_id": offer_id}
    return _http(live, "POST", "/v1/decisions", key, body)


def test_a_consent_given_by_keyboard_and_revoked_in_one_click_stops_the_partner(
    browser: Browser, live: Live, lender: tuple[str, int]
) -> None:
    refused_without = _decide(live, lender)
    assert refused_without[0] == 404, refused_without
    watched = open_page(browser)
    page = watched.page
    sign_in_person(page, live)
    page.goto(f"{live.base}/me/consents")
    form = page.locator('form[action="/me/consents"]')
    assert form.locator("input:checked").count() == 0
    assert page.locator("#partner").input_value() == ""

    # The keyboard alone: type-ahead in the list, Space on each choice, Enter to send.
    tab_to(page, "partner")
    page.keyboard.type("Lender in the")
    assert page.locator("#partner").input_value() == PARTNER
    tab_to(page, "purpose-decision")
    page.keyboard.press("Space")
    tab_to(page, "until-revoked")
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.base}/me/consents?done=granted")
    assert page.locator(".notice").is_visible()

    assert _decide(live, lender)[0] == 200
    mine = _http(live, "GET", "/v1/me/consents", live.token)[1]
    [granted] = [c for c in mine if c["partner_id"] == PARTNER and c["live"]]
    assert (granted["purpose"], granted["share_score"], granted["expires_at"]) == (
        "decision",
        False,
        None,
    )

    page.locator(f'form[action="/me/consents/{granted["consent_id"]}/revoke"] button').click()
    page.wait_for_url(f"{live.base}/me/consents?done=revoked")
    assert page.locator(f"#consent-{granted['consent_id']} .tag-revoked").is_visible()
    # The partner's next decision fails exactly as it did before there was any consent.
    assert _decide(live, lender) == refused_without
    assert watched.problems == []
    page.context.close()


def test_a_freeze_on_the_page_stops_the_partner_until_it_is_lifted(
    browser: Browser, live: Live, lender: tuple[str, int]
) -> None:
    request = consenting.ConsentRequest(PARTNER, "decision")
    now = dt.datetime.now(dt.UTC)
    granted = consenting.grant_consent(live.engine, live.person_id, request, "test", now)
    watched = open_page(browser)
    page = watched.page
    try:
        sign_in_person(page, live)
        page.goto(f"{live.base}/me/alerts")
        page.locator('form[action="/me/freeze"] button').click()
        page.wait_for_url(f"{live.base}/me/alerts?done=frozen")
        # The partner is told what it is told about an unknown person.
        refused = _decide(live, lender)
        unknown = _http(
            live, "POST", "/v1/decisions", lender[0], {"person_id": "S9999", "offer_id": lender[1]}
        )
        assert refused == unknown and refused[0] == 404
        page.goto(f"{live.base}/me/alerts")
        assert page.locator(".alert-new").first.is_visible()
        assert page.get_by_text(PARTNER).first.is_visible()
        page.locator('form[action="/me/unfreeze"] button').click()
        page.wait_for_url(f"{live.base}/me/alerts?done=unfrozen")
        assert _decide(live, lender)[0] == 200
        assert watched.problems == []
    finally:
        page.context.close()
        consenting.revoke_consent(
            live.engine, live.person_id, granted.consent_id, "test", dt.datetime.now(dt.UTC)
        )


def test_a_dispute_filed_on_the_page_is_stored_as_the_api_shows_it(
    browser: Browser, live: Live, lender: tuple[str, int], tmp_path: Path
) -> None:
    event = {
        "source": PARTNER,
        "event_id": f"loan-{live.person_id}",
        "person_id": live.person_id,
        "kind": "loan_repayment",
        "occurred_at": "2026-10-12T08:00:00+00:00",
        "amount": "800.00",
        "currency": "CNY",
        "due_date": "2026-10-01",
        "status": "defaulted",
    }
    sent = _http(live, "POST", "/v1/events", ADMIN, {"events": [event]})
    assert sent[0] == 200, sent
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("Repaid 800 CNY on 2026-09-30, reference 55120.")
    watched = open_page(browser)
    page = watched.page
    sign_in_person(page, live)
    page.goto(f"{live.base}/me/disputes")
    item = f"event:{PARTNER}/loan-{live.person_id}"
    page.locator("#item").select_option(item)
    page.locator("#statement").fill("I repaid this loan before it was due.")
    page.locator("#evidence").set_input_files(str(receipt))
    page.get_by_role("button", name="File the dispute").click()
    page.wait_for_url(f"{live.base}/me/disputes?done=filed")

    status, mine = _http(live, "GET", "/v1/me/disputes", live.token)
    assert status == 200
    [stored] = [d for d in mine if d["item_ref"] == f"{PARTNER}/loan-{live.person_id}"]
    assert (stored["state"], stored["furnisher"], stored["statement"]) == (
        "open",
        PARTNER,
        "I repaid this loan before it was due.",
    )
    assert [e["original_name"] for e in stored["evidence"]] == ["receipt.txt"]
    assert [e["media_type"] for e in stored["evidence"]] == ["text/plain"]
    shown = page.locator(f'[data-dispute="{stored["dispute_id"]}"]')
    assert "I repaid this loan before it was due." in (shown.text_content() or "")
    assert "days left" in (shown.locator(".clock").text_content() or "")
    assert watched.problems == []
    page.context.close()


def _sign_in_as(page: Page, live: Live, person_id: str) -> None:
    page.goto(f"{live.base}/sign-in?code={issue_sign_in_code(live.engine, person_id, 'cli').code}")
    page.locator("#code").press("Enter")
    page.wait_for_url(f"{live.base}/me")


def test_a_report_a_partner_read_is_on_the_decisions_page_with_its_purpose(
    browser: Browser, live: Live, lender: tuple[str, int]
) -> None:
    now = dt.datetime.now(dt.UTC)
    request = consenting.ConsentRequest(PARTNER, "report")
    consenting.grant_consent(live.engine, live.person_id, request, "test", now)
    purpose = "tenancy application 7731"
    body = {"person_id": live.person_id, "purpose": purpose}
    status, report = _http(live, "POST", "/v1/reports", lender[0], body)
    assert status == 200, report
    watched = open_page(browser)
    page = watched.page
    sign_in_person(page, live)
    page.goto(f"{live.base}/me/decisions")
    shown = page.locator(".record.report")
    assert shown.count() == 1
    assert f"partner:{PARTNER}" in (shown.text_content() or "")
    assert purpose in (shown.text_content() or "")
    assert report["report_id"] in (shown.text_content() or "")
    assert watched.problems == []
    page.context.close()


def test_the_export_is_a_download_of_the_apis_document(browser: Browser, live: Live) -> None:
    # Someone enrolled through this server: their identity is sealed with its vault's key.
    enrolment = {"phone": "13987654321", "national_id": make_national_id("650102", "19700101")}
    status, enrolled = _http(live, "POST", "/v1/people", ADMIN, enrolment)
    assert status == 201, enrolled
    person_id = enrolled["person_id"]
    token = issue_person_token(live.engine, person_id)
    watched = open_page(browser)
    page = watched.page
    _sign_in_as(page, live, person_id)
    page.goto(f"{live.base}/me/export")
    with page.expect_download() as downloading:
        page.locator("#download").click()
    download = downloading.value
    assert download.suggested_filename == f"kaimen-{person_id}.json"
    saved = download.path()
    assert saved is not None
    mine = json.loads(Path(saved).read_text())
    status, api = _http(live, "GET", "/v1/me/export", token)
    assert status == 200
    for document in (mine, api):
        del document["exported_at"]
    assert mine == api
    assert mine["person"]["phone"] == "+8613987654321"
    assert watched.problems == []
    page.context.close()


# -- every page, photographed and checked ------------------------------------------------------

PAGES = (
    "left",
    "consents",
    "consents-refused",
    "access-log",
    "alerts",
    "decisions",
    "disputes",
    "disputes-refused",
    "points",
    "export",
    "leaving",
    "leaving-refused",
)


def _signed_in_at(page: Page, live: Live, path: str) -> None:
    page.goto(f"{live.base}{path}")
    if page.url.endswith("/sign-in"):
        sign_in_person(page, live)
        page.goto(f"{live.base}{path}")


def _visit(page: Page, live: Live, *, name: str) -> None:
    if name == "left":
        # Before signing in: the home page after leaving.
        page.goto(f"{live.base}/?left=1")
        page.locator(".notice").wait_for()
    elif name == "consents-refused":
        _signed_in_at(page, live, "/me/consents")
        page.locator('form[action="/me/consents"] button[type="submit"]').click()
        page.locator("#partner-error").wait_for()
    elif name == "disputes-refused":
        _signed_in_at(page, live, "/me/disputes")
        page.locator('form[action="/me/disputes"] button[type="submit"]').click()
        page.locator("#statement-error").wait_for()
    elif name == "leaving-refused":
        _signed_in_at(page, live, "/me/leaving")
        page.locator('form[action="/me/leaving"] button[type="submit"]').click()
        page.locator("#understood-error").wait_for()
    else:
        _signed_in_at(page, live, f"/me/{name}")
        assert page.locator(".person-nav [aria-current=page]").count() == 1


@pytest.mark.parametrize("language", list(LOCALES))
def test_every_records_page_at_both_widths_photographed_and_accessible(
    browser: Browser, live: Live, lender: tuple[str, int], language: str
) -> None:
    pages = {name: functools.partial(_visit, name=name) for name in PAGES}
    check_every_page(browser, live, language, pages)


# -- leaving, last and on another person -------------------------------------------------------


def test_leaving_with_its_confirmation_erases_and_ends_the_session(
    browser: Browser, live: Live
) -> None:
    with live.engine.connect() as store:
        other = store.execute(
            select(people.c.person_id)
            .where(people.c.status == "active", people.c.person_id != live.person_id)
            .order_by(people.c.person_id)
            .limit(1)
        ).scalar_one()
    watched = open_page(browser, width=360)
    page = watched.page
    _sign_in_as(page, live, other)
    page.goto(f"{live.base}/me/leaving")
    assert page.get_by_role("heading", name="What will be erased").is_visible()
    assert page.get_by_role("heading", name="What stays, and why").is_visible()
    # Without the confirmation nothing happens.
    page.get_by_role("button", name="Erase my data and leave").click()
    assert page.locator("#understood").get_attribute("aria-invalid") == "true"
    tab_to(page, "understood")
    page.keyboard.press("Space")
    page.get_by_role("button", name="Erase my data and leave").click()
    page.wait_for_url(f"{live.base}/?left=1")
    assert "You have left kaimen." in (page.locator(".notice").text_content() or "")
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    page.goto(f"{live.base}/me/consents")
    assert page.url == f"{live.base}/sign-in"
    with live.engine.connect() as store:
        status = store.execute(
            select(people.c.status).where(people.c.person_id == other)
        ).scalar_one()
    assert status == "opted_out"
    assert watched.problems == []
    page.context.close()
