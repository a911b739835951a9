"""The person's pages without a browser, on a copy of the scored population on SQLite and on
PostgreSQL: enrolment (the API's rules and words, nothing stored on a refusal, signed in on
success), the score page's reasons and what moved each month (in English the API's own text,
in Chinese every sentence translated), the what-if and the plan (the API's answers), the offers
(the API's list), and each page's door: no session, another role, CSRF."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.domain.errors import EnrolmentConflict, IdentityRejected
from kaimen.domain.scores import BANDS
from kaimen.enrolment import enrol_one
from kaimen.features.catalogue import CATALOGUE
from kaimen.sharing import offering, partnering
from kaimen.sharing.authentication import issue_person_token
from kaimen.sharing.signing_in import SELF_ENROLMENT, issue_sign_in_code
from kaimen.store.tables import audit_log, people, score_snapshots
from kaimen.web.person_words import CATALOGUE_WORDS, ENROLMENT_MESSAGES, bin_label
from tests.conftest import make_national_id
from tests.population import LAST, Population

ADMIN = "an-admin-token-of-some-length"
PO = Path(__file__).parents[2] / "src/kaimen/web/locales/zh_Hans/LC_MESSAGES/messages.po"
PERSON_PAGES = ["/me", "/me/what-if", "/me/offers"]
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@dataclasses.dataclass
class Site:
    engine: Engine
    app: Any
    person_id: str
    token: str
    partner_key: str

    def client(self, language: str = "en") -> TestClient:
        client = TestClient(self.app)
        client.cookies.set("kaimen_lang", language)
        return client

    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def signed_in(self, language: str = "en") -> TestClient:
        client = self.client(language)
        code = issue_sign_in_code(self.engine, self.person_id, "cli").code
        response = client.post(
            "/sign-in/code",
            data={"code": code, "csrf_token": csrf_of(client.get("/sign-in").text)},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/me"
        return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def text_of(page: str) -> str:
    """What a reader sees: tags, scripts and the gauge's drawing removed."""
    page = re.sub(r"<(script|svg|head)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def site(scored_copy: Population) -> Iterator[Site]:
    settings = Settings(home=scored_copy.home, admin_token=ADMIN, database_url=scored_copy.url)
    app = create_app(settings)
    engine = app.state.workspace.engine
    with engine.connect() as store:
        person_id = store.execute(
            select(score_snapshots.c.person_id)
            .where(score_snapshots.c.month == LAST, score_snapshots.c.score.between(560, 690))
            .order_by(score_snapshots.c.person_id)
        ).first()[0]  # type: ignore[index]
    partnering.add_partner(engine, "lender-web", "Lender Web Ltd", "admin")
    key = partnering.issue_key(engine, "lender-web", ["decisions"], "admin").secret
    terms = [
        offering.OfferTerms("Small loan", "a first loan", 400),
        offering.OfferTerms("Car without deposit", "car rental", 900),
        offering.OfferTerms("Card", "a credit card", 400, None, {"capacity": 100}),
        offering.OfferTerms("Flat", "a lease", 400, "excellent"),
    ]
    for offer in terms:
        offering.publish_offer(engine, "lender-web", offer, "admin")
    yield Site(engine, app, str(person_id), issue_person_token(engine, str(person_id)), key)
    engine.dispose()


def _people(engine: Engine) -> int:
    with engine.connect() as store:
        return int(store.execute(select(func.count()).select_from(people)).scalar_one())


# -- enrolment ----------------------------------------------------------------------------


def enrol(client: TestClient, phone: str, national_id: str) -> Any:
    token = csrf_of(client.get("/enrol").text)
    return client.post(
        "/enrol",
        data={"phone": phone, "national_id": national_id, "csrf_token": token},
        follow_redirects=False,
    )


def api_and_page(client: TestClient, phone: str, national_id: str) -> tuple[Any, Any]:
    """The API's answer to an enrolment (the admin's route), then the page's to the same."""
    api = client.post(
        "/v1/people",
        json={"phone": phone, "national_id": national_id},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    return api, enrol(client, phone, national_id)


def test_the_home_page_starts_the_credit_journey(site: Site) -> None:
    home = site.client().get("/")
    assert '<a class="button" href="/enrol">Start my credit journey</a>' in home.text
    page = site.client().get("/enrol")
    assert page.status_code == 200
    assert '<label for="phone">' in page.text and '<label for="national_id">' in page.text


def test_a_missing_static_file_is_the_sites_own_404(site: Site) -> None:
    """It was a 500 without the security headers (the error page found no session)."""
    for path in ("/static/nope.css", "/static/", "/static/vendor"):
        missing = site.client().get(path)
        assert missing.status_code == 404, path
        assert "Content-Security-Policy" in missing.headers
        assert "<html" in missing.text


def test_enrolling_signs_the_person_in_and_says_what_happens_next(site: Site) -> None:
    client = site.client()
    before = _people(site.engine)
    response = enrol(client, "139 1234 5678", make_national_id(sequence="401"))
    assert response.status_code == 303 and response.headers["location"] == "/me"
    assert _people(site.engine) == before + 1
    page = client.get("/me")
    assert "No score yet" in page.text and "What happens next" in page.text
    with site.engine.connect() as store:
        rows = store.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.subject, audit_log.c.details)
            .order_by(audit_log.c.seq.desc())
            .limit(2)
        ).all()
    signed, enrolled = rows
    assert enrolled.action == "people.enrolled" and enrolled.actor == SELF_ENROLMENT
    assert signed.action == "person.signed_in" and signed.subject == enrolled.subject
    assert signed.actor == f"person:{enrolled.subject}"
    assert json.loads(signed.details)["with"] == "enrolment"
    # Nothing to try yet, and every offer still closed.
    assert "No score yet" in client.get("/me/what-if").text
    offers = text_of(client.get("/me/offers").text)
    assert "No offer is open to you yet." in offers and "You have no score yet." in offers
    # Signed in: the enrolment page sends the person to their own.
    assert client.get("/enrol", follow_redirects=False).headers["location"] == "/me"


def _wrong_check_digit() -> str:
    right = make_national_id()
    return right[:-1] + ("1" if right[-1] != "1" else "2")


# Each a refusal the API gives: the form shows the same words beside the same field.
REFUSED = [
    ("13800138000", "11010519900307123", "national_id"),  # format
    ("13800138000", "990101199003071234", "national_id"),  # region
    ("13800138000", make_national_id(birth="19901332"), "national_id"),  # birth date
    ("13800138000", _wrong_check_digit(), "national_id"),
    ("12345", make_national_id(sequence="402"), "phone"),
    ("+8612345678901", make_national_id(sequence="403"), "phone"),
    ("", "", "national_id"),
]


@pytest.mark.parametrize(("phone", "national_id", "field"), REFUSED)
def test_a_refusal_shows_the_apis_words_beside_its_field_and_stores_nothing(
    site: Site, phone: str, national_id: str, field: str
) -> None:
    client = site.client()
    before = _people(site.engine)
    api, response = api_and_page(client, phone, national_id)
    assert api.status_code == response.status_code == 422
    error = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', response.text)
    assert error and html.unescape(error.group(1)) == api.json()["detail"]
    assert f'id="{field}"' in response.text
    field_tag = re.search(rf'<input id="{field}"[^>]*>', response.text, flags=re.S)
    assert field_tag and 'aria-invalid="true"' in field_tag.group(0)
    assert f"{field}-error" in field_tag.group(0)
    assert _people(site.engine) == before
    # What was typed stays in the form.
    assert f'value="{html.escape(phone)}"' in response.text
    assert client.get("/me", follow_redirects=False).headers["location"] == "/sign-in"


def test_an_enrolled_id_is_a_conflict_with_the_apis_words_and_a_way_to_sign_in(
    site: Site,
) -> None:
    national_id = make_national_id(sequence="404")
    assert enrol(site.client(), "13912345604", national_id).status_code == 303
    before = _people(site.engine)
    for phone in ("13912345604", "13912345699"):
        client = site.client()
        api, response = api_and_page(client, phone, national_id)
        assert api.status_code == response.status_code == 409
        assert f'id="national_id-error">{api.json()["detail"]}</p>' in response.text
        assert '<a href="/sign-in">sign in instead</a>' in response.text
    taken_phone = enrol(site.client(), "13912345604", make_national_id(sequence="405"))
    assert taken_phone.status_code == 409
    assert 'id="phone-error">already enrolled for another person</p>' in taken_phone.text
    assert _people(site.engine) == before


def test_an_over_long_field_is_refused_beside_it(site: Site) -> None:
    response = enrol(site.client(), "1" * 33, make_national_id(sequence="406"))
    assert response.status_code == 422
    assert 'id="phone-error">at most 32 characters</p>' in response.text


def test_enrolment_refusals_are_in_chinese_on_the_chinese_page(site: Site) -> None:
    response = enrol(site.client("zh-Hans"), "12345", make_national_id(sequence="407"))
    error = re.search(r'id="phone-error">([^<]+)<', response.text)
    assert error and CHINESE.search(error.group(1)), error


def test_every_enrolment_refusal_has_its_words_on_the_page(site: Site) -> None:
    """Each message enrolment refuses with (set off through the service itself) is one the
    page's catalogue holds, translated: a new or reworded one fails here."""
    workspace = site.app.state.workspace
    said: set[str] = set()
    taken = make_national_id(sequence="408")
    enrol_one(site.engine, workspace.vault, "13912345608", taken, "test")
    for phone, national_id in [(p, n) for p, n, _ in REFUSED] + [
        ("13912345608", taken),
        ("13912345600", taken),
        ("13912345608", make_national_id(sequence="409")),
    ]:
        with pytest.raises((IdentityRejected, EnrolmentConflict)) as refused:
            enrol_one(site.engine, workspace.vault, phone, national_id, "test")
        assert isinstance(refused.value, IdentityRejected | EnrolmentConflict)
        said.add(refused.value.message)
    assert said == set(ENROLMENT_MESSAGES)
    chinese = _catalogue()
    assert all(CHINESE.search(chinese[message]) for message in ENROLMENT_MESSAGES)


# -- reasons in plain words, in both languages -------------------------------------------------


def _catalogue() -> dict[str, str]:
    with PO.open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id and m.string}


def test_every_reason_and_characteristic_has_a_chinese_sentence() -> None:
    """The catalogue's reason templates and descriptions are the one definition: the page's
    list of them is exactly theirs, and each has Chinese keeping its `{value...}` field."""
    defined = {f.reason for f in CATALOGUE.values()} | {f.description for f in CATALOGUE.values()}
    assert set(CATALOGUE_WORDS) == defined
    chinese = _catalogue()
    field = re.compile(r"\{[^}]*\}")
    for english in defined:
        assert english in chinese, english
        assert CHINESE.search(chinese[english]), english
        assert sorted(field.findall(english)) == sorted(field.findall(chinese[english])), english


def test_the_reasons_are_the_apis_in_english_and_chinese_sentences_in_chinese(
    site: Site,
) -> None:
    api = site.client().get(f"/v1/people/{site.person_id}/score", headers=site.api()).json()
    assert api["reasons"], "the person has no reasons to show"
    english = site.signed_in("en").get("/me").text
    chinese = site.signed_in("zh-Hans").get("/me").text
    for reason in api["reasons"]:
        assert f"<span>{html.escape(reason['text'])}</span>" in english
        assert reason["text"] not in chinese
    shown = re.findall(r'<ol class="reasons">(.*?)</ol>', chinese, flags=re.S)
    sentences = re.findall(r"<li><span>([^<]+)</span>", shown[0])
    assert len(sentences) == len(api["reasons"])
    assert all(CHINESE.search(s) and "{" not in s for s in sentences), sentences


def test_what_moved_each_month_is_the_apis_history(site: Site) -> None:
    api = site.client().get(f"/v1/people/{site.person_id}/score", headers=site.api()).json()
    moved = [month for month in api["history"] if month["why"]]
    assert moved, "no month moved"
    english = site.signed_in("en").get("/me").text
    chinese = site.signed_in("zh-Hans").get("/me").text
    for month in moved:
        for why in month["why"]:
            assert f"<li>{html.escape(why)}</li>" in english
            assert why not in chinese
    rows = re.findall(r'<ul class="moved">(.*?)</ul>', chinese, flags=re.S)
    assert len(rows) == len(moved)
    assert all(CHINESE.search(row) for row in rows)


def test_the_gauge_says_the_points_to_the_next_band_and_the_change(site: Site) -> None:
    api = site.client().get(f"/v1/people/{site.person_id}/score", headers=site.api()).json()
    page = text_of(site.signed_in().get("/me").text)
    above = [b for b in BANDS if b.low > api["score"]]
    assert f"{above[0].low - api['score']} points to the next band, {above[0].name}" in page
    change = api["history"][0]["change"]
    assert f"{'Up' if change > 0 else 'Down'} {abs(change)} points since" in page


# -- what-if and the plan -----------------------------------------------------------------


def _sliders(page: str) -> dict[str, tuple[int, list[str]]]:
    """Each slider's field, its value and its labels."""
    found = {}
    for tag in re.findall(r'<input type="range"[^>]*>', page, flags=re.S):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="(\d+)"', tag)
        labels = re.search(r'data-labels="([^"]+)"', tag)
        assert name and value and labels
        found[name.group(1)] = (int(value.group(1)), json.loads(html.unescape(labels.group(1))))
    return found


def test_the_sliders_are_the_actionable_characteristics_with_labels(site: Site) -> None:
    page = site.signed_in().get("/me/what-if")
    assert page.status_code == 200
    sliders = _sliders(page.text)
    assert sliders and all(CATALOGUE[name[4:]].actionable for name in sliders)
    for name, (value, labels) in sliders.items():
        assert f'<label for="{name}">' in page.text
        assert 0 <= value < len(labels)
    chinese = site.signed_in("zh-Hans").get("/me/what-if").text
    for name, (_, labels) in _sliders(chinese).items():
        assert all("or more" not in label and "or less" not in label for label in labels), name


def test_a_what_if_on_the_page_is_the_apis_for_the_same_values(site: Site) -> None:
    client = site.signed_in()
    page = client.get("/me/what-if").text
    sliders = _sliders(page)
    # Every slider to its far left, then its far right: each answer is the API's.
    for end in ("low", "high"):
        form = {
            name: str(0 if end == "low" else len(labels) - 1)
            for name, (_, labels) in sliders.items()
        }
        answer = client.post(
            "/me/what-if",
            data={**form, "csrf_token": csrf_of(page)},
            headers={"HX-Request": "true"},
        )
        assert answer.status_code == 200 and "<html" not in answer.text
        tried = re.search(r'data-tried="([^"]*)"', answer.text)
        new_score = re.search(r'data-new-score="(\d+)"', answer.text)
        assert tried and new_score
        values = json.loads(html.unescape(tried.group(1)))
        api = client.post(
            f"/v1/people/{site.person_id}/whatif", json={"values": values}, headers=site.api()
        )
        assert api.status_code == 200, api.text
        assert int(new_score.group(1)) == api.json()["new_score"]
        assert f'<span class="new-score">{api.json()["new_score"]}</span>' in answer.text
    # Without the script, the whole page comes back with the answer.
    whole = client.post("/me/what-if", data={**form, "csrf_token": csrf_of(page)})
    assert whole.status_code == 200 and "<html" in whole.text and "data-new-score" in whole.text


@pytest.mark.parametrize("bad", ["99", "-1", "x", "1.5"])
def test_a_what_if_choice_not_on_the_page_is_refused(site: Site, bad: str) -> None:
    client = site.signed_in()
    page = client.get("/me/what-if").text
    name = next(iter(_sliders(page)))
    response = client.post("/me/what-if", data={name: bad, "csrf_token": csrf_of(page)})
    assert response.status_code == 400 and "Traceback" not in response.text


def test_the_plan_to_a_target_is_the_apis(site: Site) -> None:
    client = site.signed_in()
    api = client.get(
        f"/v1/people/{site.person_id}/whatif", params={"target": 800}, headers=site.api()
    ).json()
    page = text_of(client.get("/me/what-if", params={"target": "800"}).text)
    assert api["changes"]
    for change in api["changes"]:
        assert change["description"] in page
        assert f"(+{change['points_added']} points)" in page
        assert bin_label(change["new_label"], str) in page
    assert f"Your score would then be {api['new_score']}." in page


@pytest.mark.parametrize("target", ["abc", "349", "951", "８００"])
def test_a_target_out_of_range_is_refused_beside_its_field(site: Site, target: str) -> None:
    response = site.signed_in().get("/me/what-if", params={"target": target})
    assert response.status_code == 422
    assert 'id="target-error">a whole number from 350 to 950</p>' in response.text
    assert 'aria-invalid="true"' in response.text


# -- offers -------------------------------------------------------------------------------


def test_the_offers_page_is_the_apis_list(site: Site) -> None:
    client = site.signed_in()
    api = client.get("/v1/me/offers", headers=site.api())
    assert api.status_code == 200, api.text
    offers = {o["name"]: o for o in api.json()}
    score = client.get(f"/v1/people/{site.person_id}/score", headers=site.api()).json()["score"]
    assert offers["Small loan"]["unlocked"] and offers["Small loan"]["points_needed"] == 0
    car = offers["Car without deposit"]
    assert not car["unlocked"] and car["points_needed"] == 900 - score
    assert offers["Flat"]["required_score"] == next(b.low for b in BANDS if b.name == "excellent")
    assert offers["Card"]["dimensions_short"] == {"capacity": 100}
    page = client.get("/me/offers").text
    unlocked, locked = text_of(page).split("Not yet")
    assert "Small loan" in unlocked and "Car without deposit" in locked
    assert f"{900 - score} more points needed." in locked
    assert "Capacity sub-score below the offer's minimum of 100." in locked
    assert (
        client.get("/v1/me/offers", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 403
    )


# -- each page's door -----------------------------------------------------------------------


@pytest.mark.parametrize("path", PERSON_PAGES)
def test_each_page_sends_no_session_to_sign_in_and_refuses_other_roles(
    site: Site, path: str
) -> None:
    assert site.client().get(path, follow_redirects=False).headers["location"] == "/sign-in"
    for credential in (site.partner_key, ADMIN):
        client = site.client()
        signed = client.post(
            "/sign-in/token",
            data={"token": credential, "csrf_token": csrf_of(client.get("/sign-in").text)},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        assert client.get(path, follow_redirects=False).status_code == 403
        if path == "/me/what-if":
            form = {"csrf_token": csrf_of(client.get("/sign-in").text)}
            assert client.post(path, data=form, follow_redirects=False).status_code == 403
        # Enrolling is for someone not signed in.
        assert client.get("/enrol", follow_redirects=False).status_code == 303


def test_the_what_if_without_a_session_is_sent_to_sign_in(site: Site) -> None:
    client = site.client()
    token = csrf_of(client.get("/enrol").text)
    response = client.post("/me/what-if", data={"csrf_token": token}, follow_redirects=False)
    assert response.headers["location"] == "/sign-in"


@pytest.mark.parametrize("path", ["/enrol", "/me/what-if"])
def test_every_post_is_refused_without_the_sessions_csrf_token(site: Site, path: str) -> None:
    client = site.signed_in() if path != "/enrol" else site.client()
    before = _people(site.engine)
    form = {"phone": "13912345610", "national_id": make_national_id(sequence="410")}
    other = site.client()
    foreign = csrf_of(other.get("/enrol").text)
    for data, headers in (
        (form, {}),
        ({**form, "csrf_token": foreign}, {}),
        (
            {**form, "csrf_token": csrf_of(client.get("/sign-in").text)},
            {"Origin": "https://x.example"},
        ),
    ):
        refused = client.post(path, data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403 and "This cannot be done from here" in refused.text
    assert _people(site.engine) == before


@pytest.mark.parametrize("path", ["/enrol", *PERSON_PAGES])
def test_every_page_has_chinese_and_no_inline_script_or_style(site: Site, path: str) -> None:
    client = site.signed_in("zh-Hans") if path != "/enrol" else site.client("zh-Hans")
    page = client.get(path).text
    assert '<html lang="zh-Hans">' in page and CHINESE.search(text_of(page))
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page and "<style" not in page
