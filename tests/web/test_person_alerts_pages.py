"""The person's alerts-and-freeze page without a browser, on SQLite and PostgreSQL: freezing
on the page refuses the partner's next decision as no consent would (and the attempt is on the
page), unfreezing lets the next one through, and an alert is marked read from the page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kaimen.domain.callers import Caller
from kaimen.sharing import freezing
from tests.web import test_person_records_pages as records
from tests.web.test_person_records_pages import LENDER, Person

# The records pages' fixtures: a served app per database, a person signed in on it.
served, person = records.served, records.person


def test_the_page_is_the_persons_alone(person: Person) -> None:
    with TestClient(person.served.app) as stranger:
        response = stranger.get("/me/alerts", follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
        for path in ("/me/freeze", "/me/unfreeze", "/me/alerts/1/read"):
            refused = stranger.post(path, data={}, follow_redirects=False)
            assert refused.status_code == 303
    forged = person.client.post("/me/freeze", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert not freezing.freeze_state(person.engine, person.person_id).frozen


def test_freezing_on_the_page_refuses_partners_and_shows_the_attempt(person: Person) -> None:
    person.consents_to_decisions()
    assert person.decide() == 200
    page = person.client.get("/me/alerts")
    assert page.status_code == 200
    assert "Your file is not frozen." in page.text
    assert "A partner asked about you" in page.text

    frozen = person.post("/me/freeze", {})
    assert (frozen.status_code, frozen.headers["location"]) == (303, "/me/alerts?done=frozen")
    assert person.decide() == 404
    page = person.client.get("/me/alerts?done=frozen").text
    assert "Your file is frozen:" in page
    assert "A partner tried to reach your frozen file" in page
    assert LENDER in page

    assert person.post("/me/unfreeze", {}).status_code == 303
    assert person.decide() == 200
    assert not freezing.freeze_state(person.engine, person.person_id).frozen

    [newest, *_] = freezing.alerts_of(
        person.engine, Caller.person(person.person_id), person.person_id
    )
    read = person.post(f"/me/alerts/{newest.alert_id}/read", {})
    assert read.status_code == 303
    page = person.client.get("/me/alerts").text
    entry = re.search(rf'<li class="record alert-(\w+)" id="alert-{newest.alert_id}"', page)
    assert entry and entry.group(1) == "read"
    assert person.post("/me/alerts/999999/read", {}).status_code == 404


def test_the_page_reads_in_chinese(person: Person) -> None:
    page = person.client.get("/me/alerts", headers={"Accept-Language": "zh-CN"}).text
    assert "提醒与冻结" in page and "冻结我的档案" in page
