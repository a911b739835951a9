"""The person's records pages without a browser: consents, the access log, decisions and
reports, disputes, points, the export and leaving. Each page is the person's alone (no session:
the sign-in page; a partner's or the admin's: 403), each form needs the session's CSRF token,
bad input is answered beside its field with nothing stored, and what the page does is what the
API then shows. On a fresh SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.domain.callers import Caller
from kaimen.enrolment import enrol_one
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.points import rulebooks
from kaimen.sharing import consenting, offering, partnering
from kaimen.sharing.authentication import issue_person_token
from kaimen.sharing.signing_in import issue_sign_in_code
from kaimen.store.tables import consents, dispute_evidence, disputes, people
from tests.conftest import make_national_id
from tests.databases import Server
from tests.dueprocess.world import loan_event
from tests.population import BACKENDS
from tests.web.test_web_doors import csrf_of

ADMIN = "an-admin-token-of-some-length"
LENDER = "lender-pages"
PAGES = (
    "/me/consents",
    "/me/access-log",
    "/me/decisions",
    "/me/disputes",
    "/me/points",
    "/me/export",
    "/me/export/download",
    "/me/leaving",
)
FORMS = ("/me/consents", "/me/consents/1/revoke", "/me/disputes", "/me/leaving")
_numbers = itertools.count(100)


@dataclasses.dataclass(frozen=True)
class Served:
    settings: Settings
    app: FastAPI
    key: str  # the lender's API key (decisions, reports)
    offer_id: int


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("records")
    if request.param == "sqlite":
        settings = Settings(
            home=home, admin_token=ADMIN, database_url=f"sqlite:///{home / 'kaimen.sqlite'}"
        )
        yield from _served(settings)
        return
    server: Server | None = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("KAIMEN_TEST_POSTGRES_URL is not set")
    with server.fresh() as url:
        yield from _served(Settings(home=home, admin_token=ADMIN, database_url=url))


def _served(settings: Settings) -> Iterator[Served]:
    app = create_app(settings)
    engine = app.state.workspace.engine
    partnering.add_partner(engine, LENDER, "Lender for pages", "admin")
    partnering.add_partner(engine, "other-pages", "Another lender", "admin")
    key = partnering.issue_key(engine, LENDER, ["decisions", "reports"], "admin").secret
    terms = offering.OfferTerms("Small loan", "loan", 350)
    offer = offering.publish_offer(engine, LENDER, terms, "admin")
    yield Served(settings, app, key, offer.offer_id)
    engine.dispose()


@dataclasses.dataclass
class Person:
    served: Served
    client: TestClient
    person_id: str

    @property
    def engine(self) -> Engine:
        engine: Engine = self.served.app.state.workspace.engine
        return engine

    def token(self) -> str:
        return issue_person_token(self.engine, self.person_id)

    def csrf(self, path: str = "/me/consents") -> str:
        return csrf_of(self.client.get(path).text)

    def post(self, path: str, data: dict[str, Any], **more: Any) -> Any:
        form = {"csrf_token": self.csrf(), **data}
        return self.client.post(path, data=form, follow_redirects=False, **more)

    def api(self, path: str) -> Any:
        response = self.client.get(path, headers={"Authorization": f"Bearer {self.token()}"})
        assert response.status_code == 200, response.text
        return response.json()

    def consents_to_decisions(self) -> None:
        request = consenting.ConsentRequest(LENDER, "decision")
        now = dt.datetime.now(dt.UTC)
        consenting.grant_consent(self.engine, self.person_id, request, "test", now)

    def decide(self) -> int:
        response = self.client.post(
            "/v1/decisions",
            json={"person_id": self.person_id, "offer_id": self.served.offer_id},
            headers={"Authorization": f"Bearer {self.served.key}"},
        )
        return response.status_code


def _enrolled(served: Served) -> str:
    workspace = served.app.state.workspace
    n = next(_numbers)
    return enrol_one(
        workspace.engine,
        workspace.vault,
        f"139{n:08d}",
        make_national_id(sequence=f"{n % 1000:03d}", region=f"{110101 + n // 1000}"),
        "test",
    )


@pytest.fixture
def person(served: Served) -> Iterator[Person]:
    """A newly enrolled person, signed in on a fresh client."""
    person_id = _enrolled(served)
    with TestClient(served.app) as client:
        page = client.get("/sign-in")
        code = issue_sign_in_code(served.app.state.workspace.engine, person_id, "cli").code
        signed = client.post(
            "/sign-in/code",
            data={"code": code, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        yield Person(served, client, person_id)


def _count(engine: Engine, table: Any, person_id: str) -> int:
    with engine.connect() as store:
        counted: int = store.execute(
            select(func.count()).select_from(table).where(table.c.person_id == person_id)
        ).scalar_one()
    return counted


def _beside(html: str, field: str) -> str:
    """The error shown for `field`, which must be marked invalid and described by it."""
    found = re.search(rf'<p class="error" id="{field}-error"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error beside {field}"
    assert (
        re.search(rf'id="{field}"[^>]*aria-invalid="true"', html)
        or re.search(rf'aria-invalid="true"[^>]*id="{field}"', html)
        or f'aria-describedby="{field}-error"' in html
    ), f"{field} is not marked invalid"
    return found.group(1)


# -- who may open the pages ------------------------------------------------------------------


def test_every_page_is_the_persons_alone(served: Served) -> None:
    with TestClient(served.app) as client:
        for path in PAGES:
            response = client.get(path, follow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
        for path in FORMS:
            response = client.post(path, data={}, follow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
        for credential in (served.key, ADMIN):
            client.cookies.clear()
            form = {"token": credential, "csrf_token": csrf_of(client.get("/sign-in").text)}
            assert client.post("/sign-in/token", data=form).status_code == 200
            token = csrf_of(client.get("/").text)
            for path in PAGES:
                refused = client.get(path, follow_redirects=False)
                assert refused.status_code == 403, path
                assert "This cannot be done from here" in refused.text
            for path in FORMS:
                assert client.post(path, data={"csrf_token": token}).status_code == 403, path


def test_every_form_needs_the_sessions_csrf_token_and_stores_nothing_without(
    person: Person,
) -> None:
    person.consents_to_decisions()
    before = _count(person.engine, consents, person.person_id)
    live = consenting.consents_of(person.engine, person.person_id)[0].consent_id
    grant = {"partner": LENDER, "purpose": "report", "until": "revoked"}
    for path, form in (
        ("/me/consents", grant),
        (f"/me/consents/{live}/revoke", {}),
        ("/me/disputes", {"item": f"event:{LENDER}/X", "statement": "Not mine."}),
        ("/me/leaving", {"understood": "yes"}),
    ):
        for token in (None, "forged-token", person.csrf()[:-2] + "xx"):
            data = form if token is None else {**form, "csrf_token": token}
            refused = person.client.post(path, data=data, follow_redirects=False)
            assert refused.status_code == 403, (path, token)
        cross_site = person.client.post(
            path,
            data={**form, "csrf_token": person.csrf()},
            headers={"Origin": "https://x.example"},
        )
        assert cross_site.status_code == 403
    assert _count(person.engine, consents, person.person_id) == before
    assert consenting.consents_of(person.engine, person.person_id)[0].revoked_at is None
    assert _count(person.engine, disputes, person.person_id) == 0
    with person.engine.connect() as store:
        status = store.execute(
            select(people.c.status).where(people.c.person_id == person.person_id)
        ).scalar_one()
    assert status == "active"


# -- consents --------------------------------------------------------------------------------


def test_nothing_is_chosen_for_the_person_in_the_consent_form(person: Person) -> None:
    page = person.client.get("/me/consents")
    assert page.status_code == 200
    form = page.text.split('action="/me/consents"', 1)[1].split("</form>", 1)[0]
    assert " checked" not in form
    assert re.search(r'<option value="" selected>', form)
    assert f'<option value="{LENDER}" selected' not in form
    assert "You have not given any consent." in page.text


def test_granting_and_revoking_on_the_page_is_what_the_api_and_the_partner_see(
    person: Person,
) -> None:
    assert person.decide() == 404  # no consent yet: the API's refusal
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    granted = person.post(
        "/me/consents",
        {
            "partner": LENDER,
            "purpose": "decision",
            "share_score": "yes",
            "until": "date",
            "expires_on": day,
        },
    )
    assert (granted.status_code, granted.headers["location"]) == (303, "/me/consents?done=granted")
    [shown] = person.api("/v1/me/consents")
    assert (shown["partner_id"], shown["purpose"], shown["share_score"], shown["live"]) == (
        LENDER,
        "decision",
        True,
        True,
    )
    assert shown["expires_at"].startswith(
        (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    )
    assert person.decide() == 200
    page = person.client.get("/me/consents?done=granted").text
    assert (
        "Consent granted." in page and f'action="/me/consents/{shown["consent_id"]}/revoke"' in page
    )

    revoked = person.post(f"/me/consents/{shown['consent_id']}/revoke", {})
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/me/consents?done=revoked")
    [after] = person.api("/v1/me/consents")
    assert after["revoked_at"] is not None and after["live"] is False
    assert person.decide() == 404
    page = person.client.get("/me/consents").text
    assert "tag-revoked" in page and f"/me/consents/{shown['consent_id']}/revoke" not in page
    # Twice, or someone else's: refused, as the API refuses it.
    assert person.post(f"/me/consents/{shown['consent_id']}/revoke", {}).status_code == 409
    assert person.post("/me/consents/999999/revoke", {}).status_code == 404


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"purpose": "decision", "until": "revoked"}, "partner", "Choose a partner"),
        ({"partner": "nobody", "purpose": "decision", "until": "revoked"}, "partner", "Choose"),
        ({"partner": LENDER, "until": "revoked"}, "purpose", "Choose what the partner"),
        ({"partner": LENDER, "purpose": "lending", "until": "revoked"}, "purpose", "Choose"),
        (
            {"partner": LENDER, "purpose": "report", "share_score": "yes", "until": "revoked"},
            "share_score",
            "only for a decision",
        ),
        ({"partner": LENDER, "purpose": "decision"}, "until", "how long"),
        (
            {"partner": LENDER, "purpose": "decision", "until": "date", "expires_on": "soon"},
            "expires_on",
            "as a date",
        ),
        (
            {"partner": LENDER, "purpose": "decision", "until": "date", "expires_on": "2001-01-01"},
            "expires_on",
            "already over",
        ),
        (
            {"partner": LENDER, "purpose": "decision", "until": "date", "expires_on": "2099-01-01"},
            "expires_on",
            "within ten years",
        ),
        (
            {"partner": LENDER, "purpose": "decision", "until": "date", "expires_on": "9999-12-31"},
            "expires_on",
            "within ten years",
        ),
    ],
)
def test_a_bad_consent_is_refused_beside_its_field_and_nothing_is_stored(
    person: Person, form: dict[str, str], field: str, words: str
) -> None:
    refused = person.post("/me/consents", form)
    assert refused.status_code == 422
    assert words in _beside(refused.text, field)
    assert "Traceback" not in refused.text
    assert _count(person.engine, consents, person.person_id) == 0
    # What was chosen stays chosen, so only the wrong answer needs changing.
    if form.get("partner") == LENDER:
        assert f'<option value="{LENDER}" selected>' in refused.text


def test_a_form_sending_a_field_twice_is_refused(person: Person) -> None:
    """A consent is a legal act: `partner=a&partner=b` granted it to b, and a wrong CSRF
    token passed beside a right one."""
    before = _count(person.engine, consents, person.person_id)
    token = person.csrf()
    for body in (
        f"partner={LENDER}&partner=other&purpose=decision&until=revoked&csrf_token={token}",
        f"partner={LENDER}&purpose=decision&until=revoked&csrf_token=wrong&csrf_token={token}",
    ):
        refused = person.client.post(
            "/me/consents",
            content=body.encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert refused.status_code == 422, refused.text
    assert _count(person.engine, consents, person.person_id) == before


# -- the access log, decisions and reports ---------------------------------------------------


def test_the_access_log_and_decisions_show_what_the_api_shows(person: Person) -> None:
    empty = person.client.get("/me/access-log")
    assert empty.status_code == 200 and "Nobody has read your data yet." in empty.text
    assert "No partner has asked" in person.client.get("/me/decisions").text
    person.consents_to_decisions()
    assert person.decide() == 200
    log = person.api("/v1/me/access-log")
    assert [a["actor"] for a in log] == [f"partner:{LENDER}"]
    page = person.client.get("/me/access-log").text
    assert page.count('class="record access"') == len(log)
    assert f"partner:{LENDER}" in page and log[0]["purpose"] in page
    [decided] = person.api("/v1/me/decisions")
    page = person.client.get("/me/decisions").text
    assert page.count('class="record decision"') == 1
    assert LENDER in page and f"offer {person.served.offer_id}" in page
    assert ("approved" if decided["approved"] else "declined") in page
    for reason in decided["reasons"]:
        assert reason["text"] in page
    assert "No partner has read a report about you." in page


# -- disputes --------------------------------------------------------------------------------


def _with_negative_event(person: Person, event_id: str = "L-1") -> str:
    # Event ids are the source's, unique in the module's store: named after the person.
    event_id = f"{event_id}-{person.person_id}"
    lake_root = person.served.app.state.workspace.lake_root
    accept_events(
        person.engine, lake_root, [loan_event(person.person_id, event_id, source=LENDER)], "test"
    )
    return f"event:{LENDER}/{event_id}"


def test_filing_a_dispute_on_the_page_is_stored_as_the_api_shows_it(person: Person) -> None:
    empty = person.client.get("/me/disputes")
    assert "there is nothing to dispute" in empty.text
    item = _with_negative_event(person)
    # A repayment made on time is not negative: not offered.
    accept_events(
        person.engine,
        person.served.app.state.workspace.lake_root,
        [loan_event(person.person_id, f"L-2-{person.person_id}", status="on_time", source=LENDER)],
        "test",
    )
    page = person.client.get("/me/disputes").text
    assert f'<option value="{item}"' in page and "L-2" not in page
    filed = person.post(
        "/me/disputes",
        {"item": item, "statement": "I repaid this loan on time."},
        files=[("evidence", ("receipt.txt", b"Paid 1200 CNY on 2026-08-30.", "text/plain"))],
    )
    assert (filed.status_code, filed.headers["location"]) == (303, "/me/disputes?done=filed")
    [api] = person.api("/v1/me/disputes")
    assert (api["item_kind"], f"event:{api['item_ref']}", api["state"]) == ("event", item, "open")
    assert api["statement"] == "I repaid this loan on time."
    assert [e["original_name"] for e in api["evidence"]] == ["receipt.txt"]
    shown = person.client.get("/me/disputes?done=filed").text
    assert "Dispute filed." in shown
    record = shown.split(f'data-dispute="{api["dispute_id"]}"', 1)[1].split("</li>\n", 1)[0]
    assert "I repaid this loan on time." in record and "receipt.txt" in record
    assert "Answer due" in record and re.search(r"days left: \d+", record)
    # The item is now disputed, and says so where it is chosen.
    assert re.search(rf'<option value="{re.escape(item)}"[^>]*>[^<]*\(disputed\)', shown)


def test_a_dispute_with_no_file_chosen_is_filed_without_evidence(person: Person) -> None:
    item = _with_negative_event(person)
    filed = person.post(
        "/me/disputes",
        {"item": item, "statement": "Not my loan."},
        files=[("evidence", ("", b"", "application/octet-stream"))],
    )
    assert filed.status_code == 303
    [api] = person.api("/v1/me/disputes")
    assert api["evidence"] == []


@pytest.mark.parametrize(
    ("form", "files", "field", "words"),
    [
        ({"statement": "Not mine."}, None, "item", "Choose the item"),
        ({"item": "nonsense", "statement": "Not mine."}, None, "item", "Choose the item"),
        ({"item": f"event:{LENDER}/NOPE", "statement": "Not mine."}, None, "item", "no such item"),
        ({"item": "ITEM", "statement": "   "}, None, "statement", "Say what is wrong"),
        ({"item": "ITEM", "statement": "word " * 2000}, None, "statement", "words"),
        ({"item": "ITEM", "statement": "x" * 10_001}, None, "statement", "at most 10000"),
        (
            {"item": "ITEM", "statement": "Not mine."},
            [("evidence", ("x.pdf", b"MZ\x90\x00", "application/pdf"))],
            "evidence",
            "x.pdf",
        ),
        (
            {"item": "ITEM", "statement": "Not mine."},
            [("evidence", (f"f{n}.txt", b"text", "text/plain")) for n in range(6)],
            "evidence",
            "at most 5",
        ),
    ],
)
def test_a_bad_dispute_is_refused_beside_its_field_and_nothing_is_stored(
    person: Person,
    form: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]] | None,
    field: str,
    words: str,
) -> None:
    item = _with_negative_event(person)
    data = {k: item if v == "ITEM" else v for k, v in form.items()}
    evidence_before = _evidence_rows(person.engine)
    refused = person.post("/me/disputes", data, files=files)
    assert refused.status_code == 422, refused.text
    assert words in _beside(refused.text, field)
    assert _count(person.engine, disputes, person.person_id) == 0
    assert _evidence_rows(person.engine) == evidence_before


def _evidence_rows(engine: Engine) -> int:
    with engine.connect() as store:
        counted: int = store.execute(
            select(func.count()).select_from(dispute_evidence)
        ).scalar_one()
    return counted


def test_someone_elses_item_is_answered_as_unknown(served: Served, person: Person) -> None:
    other = _enrolled(served)
    lake_root = served.app.state.workspace.lake_root
    accept_events(
        person.engine, lake_root, [loan_event(other, f"O-{other}", source=LENDER)], "test"
    )
    refused = person.post("/me/disputes", {"item": f"event:{LENDER}/O-{other}", "statement": "Hm."})
    assert refused.status_code == 422
    assert "no such item in your record" in _beside(refused.text, "item")
    assert _count(person.engine, disputes, other) == 0


# -- points ----------------------------------------------------------------------------------


def test_points_say_when_the_programme_is_off_and_why(served: Served, person: Person) -> None:
    page = person.client.get("/me/points")
    assert page.status_code == 200 and "has not started" in page.text
    eu = create_app(served.settings.model_copy(update={"profile": "eu"}))
    try:
        with TestClient(eu) as client:
            client.cookies.update(person.client.cookies)
            off = client.get("/me/points")
            assert off.status_code == 200
            assert "The points programme is off here" in off.text
            api = client.get(
                "/v1/me/points", headers={"Authorization": f"Bearer {person.token()}"}
            ).json()
            reason = api["detail"].split(": ", 1)[1]
            assert reason in off.text
    finally:
        eu.state.workspace.engine.dispose()


def test_points_show_the_balance_and_ledger_the_api_shows(served: Served, person: Person) -> None:
    engine = person.engine
    rulebooks.install(engine, served.app.state.workspace.profile(), Caller.admin(), "lawful")
    page = person.client.get("/me/points")
    api = person.api("/v1/me/points")
    assert page.status_code == 200
    assert f'<span class="balance">{api["balance"]}</span>' in page.text
    assert f"grade {api['grade']}" in page.text
    rows = page.text.count("<tr>") - 1
    assert rows == len(api["entries"]) if api["entries"] else "No entries yet." in page.text


# -- export and leaving ----------------------------------------------------------------------


def test_the_export_downloads_the_apis_document(person: Person) -> None:
    page = person.client.get("/me/export")
    assert page.status_code == 200 and 'href="/me/export/download"' in page.text
    download = person.client.get("/me/export/download")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"] == (
        f'attachment; filename="kaimen-{person.person_id}.json"'
    )
    assert download.headers["cache-control"] == "no-store"
    mine = json.loads(download.content)
    api = person.api("/v1/me/export")
    for document in (mine, api):
        del document["exported_at"]
    assert mine == api
    assert mine["person"]["person_id"] == person.person_id


def test_leaving_needs_the_box_ticked_then_erases_and_signs_out(person: Person) -> None:
    token = person.token()
    page = person.client.get("/me/leaving")
    assert "What will be erased" in page.text and "What stays, and why" in page.text
    assert " checked" not in page.text.split('action="/me/leaving"', 1)[1]
    unticked = person.post("/me/leaving", {})
    assert unticked.status_code == 422
    assert "nothing has been erased" in _beside(unticked.text, "understood")
    assert person.client.get("/me/leaving").status_code == 200
    wrong = person.post("/me/leaving", {"understood": "true"})
    assert wrong.status_code == 422

    left = person.post("/me/leaving", {"understood": "yes"})
    assert (left.status_code, left.headers["location"]) == (303, "/?left=1")
    home = person.client.get("/?left=1")
    assert "You have left kaimen." in home.text and "Sign out" not in home.text
    assert person.client.get("/me", follow_redirects=False).headers["location"] == "/sign-in"
    assert (
        person.client.get(
            "/v1/me/consents", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )
    with person.engine.connect() as store:
        status = store.execute(
            select(people.c.status).where(people.c.person_id == person.person_id)
        ).scalar_one()
    assert status == "opted_out"


def test_what_was_shown_is_written_in_its_own_characters() -> None:
    """Jinja's `tojson` wrote every non-ASCII character as an escape: a court's name read
    \\u5317\\u4eac... in the person's access log. The text stays escaped for the page."""
    from kaimen.web.rendering import shown_json

    text = shown_json({"court": "北京市朝阳区人民法院", "offer": "<script>x</script>"})
    assert "北京市朝阳区人民法院" in text and "\\u" not in text
    assert "<script>" in text  # as text: the template's autoescaping writes it as &lt;
