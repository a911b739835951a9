"""The web app's door without a browser: what every page sends (CSP, cookies), CSRF refusals,
sign-in codes and tokens, languages, error pages, and the API's own paths left alone. On a
fresh SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.api.app import create_app
from kaimen.cli import app as cli_app
from kaimen.config import Settings
from kaimen.domain.scores import BANDS, Dimension
from kaimen.enrolment import enrol_one
from kaimen.sharing import partnering
from kaimen.sharing.authentication import issue_person_token
from kaimen.sharing.signing_in import CODE_LIFETIME, issue_sign_in_code
from kaimen.store.tables import audit_log
from kaimen.web import languages
from kaimen.web.guard import CONTENT_SECURITY_POLICY
from kaimen.web.words import BAND_WORDS, DIMENSION_WORDS
from tests.conftest import make_national_id
from tests.databases import Server
from tests.population import BACKENDS

ADMIN = "an-admin-token-of-some-length"
WEB = Path(__file__).parents[2] / "src" / "kaimen" / "web"


@dataclasses.dataclass
class Site:
    settings: Settings
    client: TestClient
    person_id: str

    def code(self, now: dt.datetime | None = None) -> str:
        engine = self.client.app.state.workspace.engine  # type: ignore[attr-defined]
        return issue_sign_in_code(engine, self.person_id, "cli", now).code


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, FastAPI, str]]:
    """One app over one store per backend for the module (creating an app migrates its store):
    each test gets its own browser, a fresh client with no cookies."""
    home = tmp_path_factory.mktemp("web")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'kaimen.sqlite'}"
        settings = Settings(home=home, admin_token=ADMIN, database_url=url)
        yield from _served(settings)
        return
    server: Server | None = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("KAIMEN_TEST_POSTGRES_URL is not set")
    with server.fresh() as url:
        yield from _served(Settings(home=home, admin_token=ADMIN, database_url=url))


def _served(settings: Settings) -> Iterator[tuple[Settings, FastAPI, str]]:
    app = create_app(settings)
    workspace = app.state.workspace
    person_id = enrol_one(workspace.engine, workspace.vault, "13800138000", make_national_id(), "t")
    yield settings, app, person_id
    workspace.engine.dispose()


@pytest.fixture
def site(served: tuple[Settings, FastAPI, str]) -> Iterator[Site]:
    settings, app, person_id = served
    with TestClient(app) as client:
        yield Site(settings, client, person_id)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(site: Site, code: str) -> TestClient:
    page = site.client.get("/sign-in")
    return site.client.post(  # type: ignore[return-value]
        "/sign-in/code",
        data={"code": code, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


# -- what every page sends --------------------------------------------------------------------


def test_opening_the_address_shows_the_app_not_a_json_404(site: Site) -> None:
    response = site.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Your score, at a glance</h1>" in response.text


@pytest.mark.parametrize("path", ["/", "/sign-in", "/no-such-page"])
def test_every_page_has_a_strict_content_security_policy(site: Site, path: str) -> None:
    response = site.client.get(path)
    policy = response.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    # Nothing on the page needs 'unsafe-inline': no inline script, no style attribute.
    assert "<script>" not in response.text and not re.search(
        r"<script(?![^>]*\bsrc=)", response.text
    )
    assert " style=" not in response.text and "<style" not in response.text


def test_the_session_cookie_is_httponly_and_samesite_lax_and_secure_over_https(
    site: Site,
) -> None:
    plain = site.client.get("/")
    cookie = plain.headers["set-cookie"]
    assert cookie.startswith("kaimen_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie
    with TestClient(site.client.app, base_url="https://testserver") as tls:
        secure = tls.get("/").headers["set-cookie"]
    assert "HttpOnly" in secure and "SameSite=lax" in secure and "Secure" in secure


def test_a_forged_session_cookie_is_ignored(site: Site) -> None:
    site.client.cookies.set("kaimen_session", "eyJjc3JmIjoieCIsInBlcnNvbl9pZCI6IngifQ.forged")
    response = site.client.get("/me", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"


# -- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/sign-in/code", {"code": "ABCDEFGHJK"}),
        ("/sign-in/token", {"token": "whatever"}),
        ("/sign-out", {}),
        ("/language", {"language": "zh-Hans"}),
    ],
)
def test_every_form_is_refused_without_the_sessions_csrf_token(
    site: Site, path: str, form: dict[str, str]
) -> None:
    token = csrf_of(site.client.get("/sign-in").text)
    missing = site.client.post(path, data=form, follow_redirects=False)
    wrong = site.client.post(path, data={**form, "csrf_token": token[:-2] + "xx"})
    other = TestClient(site.client.app)
    other_token = csrf_of(other.get("/sign-in").text)
    foreign = site.client.post(path, data={**form, "csrf_token": other_token})
    cross_site = site.client.post(
        path, data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    for refused in (missing, wrong, foreign, cross_site):
        assert refused.status_code == 403, refused.text
        assert "text/html" in refused.headers["content-type"]
        assert "Traceback" not in refused.text
        assert "This cannot be done from here" in refused.text
    assert "kaimen_lang" not in site.client.cookies


def test_a_code_without_csrf_is_not_used_up(site: Site) -> None:
    code = site.code()
    assert site.client.post("/sign-in/code", data={"code": code}).status_code == 403
    assert sign_in(site, code).status_code == 303


# -- signing in and out ---------------------------------------------------------------------


def test_sign_in_with_a_code_reaches_the_persons_page_and_renews_the_csrf_token(
    site: Site,
) -> None:
    before = csrf_of(site.client.get("/sign-in").text)
    response = sign_in(site, site.code())
    assert response.status_code == 303 and response.headers["location"] == "/me"
    page = site.client.get("/me")
    assert page.status_code == 200
    # Enrolled but not scored yet: said plainly.
    assert "No score yet" in page.text
    assert csrf_of(page.text) != before
    assert site.client.get("/", follow_redirects=False).headers["location"] == "/me"
    engine = site.client.app.state.workspace.engine  # type: ignore[attr-defined]
    with engine.connect() as store:
        actions = [r.action for r in store.execute(select(audit_log.c.action))]
    assert "sign_in_code.issued" in actions and "person.signed_in" in actions


@pytest.mark.parametrize("bad", ["", "NOT-A-CODE", "ABCDEFGHJK", "x" * 64])
def test_a_bad_code_is_refused_beside_its_field(site: Site, bad: str) -> None:
    response = sign_in(site, bad)
    assert response.status_code == 401
    assert "This sign-in code is not valid" in response.text
    assert 'aria-invalid="true"' in response.text
    assert site.client.get("/me", follow_redirects=False).status_code == 303


def test_a_code_is_single_use_and_short_lived(site: Site) -> None:
    code = site.code()
    assert sign_in(site, code).status_code == 303
    site.client.cookies.clear()
    assert sign_in(site, code).status_code == 401
    stale = site.code(dt.datetime.now(dt.UTC) - CODE_LIFETIME - dt.timedelta(seconds=1))
    assert sign_in(site, stale).status_code == 401


def test_a_code_is_read_whatever_the_case_and_separators(site: Site) -> None:
    code = site.code()
    assert sign_in(site, f" {code[:5].lower()}-{code[5:]} ").status_code == 303


def sign_in_with(site: Site, credential: str) -> TestClient:
    form = {"token": credential, "csrf_token": csrf_of(site.client.get("/sign-in").text)}
    return site.client.post(  # type: ignore[return-value]
        "/sign-in/token", data=form, follow_redirects=False
    )


def a_partner(site: Site, name: str) -> str:
    """A new partner with one live key; the key."""
    engine = site.client.app.state.workspace.engine  # type: ignore[attr-defined]
    partnering.add_partner(engine, name, f"{name} Ltd", "admin")
    return partnering.issue_key(engine, name, ["decisions"], "admin").secret


def test_a_token_or_key_signs_each_role_in_to_its_own_pages(site: Site) -> None:
    engine = site.client.app.state.workspace.engine  # type: ignore[attr-defined]
    token = issue_person_token(engine, site.person_id)
    key = a_partner(site, "lender-tokens")
    for refused in ("kmk_nope_nope", token + "x", ADMIN + "x", key[:-1]):
        response = sign_in_with(site, refused)
        assert response.status_code == 401
        assert "not a live token or key" in response.text and 'aria-invalid="true"' in response.text
    for credential, landing, other in (
        (token, "/me", "/partner"),
        (key, "/partner", "/admin"),
        (ADMIN, "/admin", "/me"),
    ):
        site.client.cookies.clear()
        response = sign_in_with(site, credential)
        assert response.status_code == 303 and response.headers["location"] == landing
        assert site.client.get(landing).status_code == 200
        # Another role's page is refused, not shown.
        assert site.client.get(other, follow_redirects=False).status_code == 403
    console = site.client.get("/admin")
    assert "lender-tokens" in console.text
    with engine.connect() as store:
        actions = {r.action for r in store.execute(select(audit_log.c.action))}
    assert {"person.signed_in", "partner.signed_in", "admin.signed_in"} <= actions


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    sign_in(site, site.code())
    stolen = site.client.cookies.get("kaimen_session")
    token = csrf_of(site.client.get("/me").text)
    response = site.client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert site.client.get("/me", follow_redirects=False).headers["location"] == "/sign-in"
    # A copy of the cookie taken before signing out opens nothing either.
    site.client.cookies.clear()
    site.client.cookies.set("kaimen_session", str(stolen))
    assert site.client.get("/me", follow_redirects=False).headers["location"] == "/sign-in"


def test_a_revoked_key_ends_the_partners_session_at_once(site: Site) -> None:
    engine = site.client.app.state.workspace.engine  # type: ignore[attr-defined]
    key = a_partner(site, "lender-revoked")
    assert sign_in_with(site, key).status_code == 303
    assert site.client.get("/partner").status_code == 200
    key_id = partnering.keys_of(engine, "lender-revoked")[0].key_id
    partnering.revoke_key(engine, key_id, "admin")
    assert site.client.get("/partner", follow_redirects=False).headers["location"] == "/sign-in"


def test_the_cli_prints_a_code_and_its_link(site: Site) -> None:
    env = {
        "KAIMEN_HOME": str(site.settings.home),
        "KAIMEN_DATABASE_URL": site.settings.resolved_database_url,
        "KAIMEN_ADMIN_TOKEN": ADMIN,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    args = ["person", "sign-in-code", site.person_id, "--base-url", "http://127.0.0.1:8750/"]
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 0, result.output
    code = result.stdout.split()[0]
    assert re.fullmatch(r"[A-Z2-9]{10}", code)
    assert f"http://127.0.0.1:8750/sign-in?code={code}" in result.stdout
    assert sign_in(site, code).status_code == 303
    unknown = CliRunner().invoke(cli_app, ["person", "sign-in-code", "p-nobody"], env=env)
    assert unknown.exit_code != 0 and "not an enrolled person" in unknown.output


# -- languages ------------------------------------------------------------------------------


def test_the_browsers_language_by_default_and_the_switch_after(site: Site) -> None:
    chinese = site.client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-Hans">' in chinese.text and "您的评分，一目了然" in chinese.text
    english = site.client.get("/", headers={"Accept-Language": "fr, en-GB;q=0.8"})
    assert '<html lang="en">' in english.text
    token = csrf_of(english.text)
    switched = site.client.post(
        "/language",
        data={"language": "zh-Hans", "next": "/sign-in", "csrf_token": token},
        follow_redirects=False,
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/sign-in"
    assert "HttpOnly" in switched.headers["set-cookie"]
    page = site.client.get("/sign-in", headers={"Accept-Language": "en"})
    assert '<html lang="zh-Hans">' in page.text and "使用登录码" in page.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_the_switch_never_sends_the_browser_elsewhere(site: Site, target: str) -> None:
    token = csrf_of(site.client.get("/").text)
    response = site.client.post(
        "/language",
        data={"language": "en", "next": target, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_every_message_on_the_pages_has_a_chinese_translation() -> None:
    """Extracted as `make messages` extracts them: a new English message without its Chinese
    fails here, and so does a translation that drops or renames a placeholder."""
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(WEB),
            method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    }
    with (WEB / "locales" / "zh_Hans" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id and m.string and not m.fuzzy}
    assert extracted, "nothing extracted"
    assert sorted(extracted - translated.keys()) == []
    placeholder = re.compile(r"%\(\w+\)s")
    for english in extracted:
        assert sorted(placeholder.findall(english)) == sorted(
            placeholder.findall(translated[str(english)])
        ), english


def test_every_band_and_dimension_has_its_words_and_colour() -> None:
    assert set(BAND_WORDS) == {b.name for b in BANDS}
    assert set(DIMENSION_WORDS) == {d.value for d in Dimension}
    css = (WEB / "static" / "app.css").read_text()
    for band in BANDS:
        assert f".band-{band.name.replace(' ', '-')} {{ --band: {band.colour}; }}" in css


def test_accept_language_ranking() -> None:
    assert languages.from_accept_language("en;q=0.4, zh-TW;q=0.8").code == "zh-Hans"
    assert languages.from_accept_language("zh;q=0, en").code == "en"
    assert languages.from_accept_language("de, fr").code == "en"
    assert languages.from_accept_language("zh;q=abc, en").code == "en"
    assert languages.from_accept_language(None).code == "en"


# -- errors and the API's paths -------------------------------------------------------------


def test_error_pages_are_pages_without_tracebacks(site: Site) -> None:
    missing = site.client.get("/no-such-page")
    assert missing.status_code == 404 and "This page does not exist" in missing.text
    wrong_method = site.client.delete("/sign-in")
    assert wrong_method.status_code == 405 and "text/html" in wrong_method.headers["content-type"]
    too_long = site.client.get("/sign-in", params={"code": "x" * 500})
    assert too_long.status_code == 400 and "Traceback" not in too_long.text


def test_the_apis_paths_stay_the_apis(site: Site) -> None:
    unknown = site.client.get("/v1/no-such-thing")
    assert unknown.headers["content-type"] == "application/problem+json"
    wrong_method = site.client.get("/v1/decisions", headers={"Authorization": f"Bearer {ADMIN}"})
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
    assert site.client.get("/healthz").json() == {"status": "ok"}
    assert site.client.get("/openapi.json").status_code == 200
