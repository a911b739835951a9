"""The analyst's and the admin's pages without a browser, over the scored population on
SQLite and PostgreSQL: only the admin's session opens them (no session: the sign-in page; a
person's or a partner's: 403), every form needs the session's CSRF token, and each page
shows what the service behind the API or the command gives: the model card's figures, the
spiral sandbox, the review queues (acted on from the page) and the clocks."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from kaimen.api.app import create_app
from kaimen.config import Settings, Workspace
from kaimen.domain import profiles
from kaimen.dueprocess import identity_links
from kaimen.dueprocess.court_import import import_entries
from kaimen.dueprocess.payment_import import import_payment_entries
from kaimen.dueprocess.settlement import register_collection_account, review_queue
from kaimen.enrolment import enrol_one
from kaimen.scoring.model_room import model_room
from kaimen.scoring.models import list_models
from kaimen.scoring.monitoring import monitor
from kaimen.sharing import partnering
from kaimen.sharing.signing_in import issue_sign_in_code
from kaimen.simulate.spiral import SpiralSettings, run_spiral
from kaimen.store.tables import audit_log, link_reviews, payments
from kaimen.store.tables import identity_links as link_rows
from tests.conftest import make_national_id
from tests.population import LAST, Population

ADMIN = "an-admin-token-of-some-length"
ID_PAID = make_national_id(birth="19800202", sequence="211")
ID_MASKED = make_national_id(birth="19920101", sequence="212")
COURT = "北京市朝阳区人民法院"
ACCOUNT = "6222021001123456789"
CASE_PAID = "(2025)京0105执1234号"
CASE_MASKED = "(2025)京0105执5678号"

GETS = (
    "/admin",
    "/admin/model",
    "/admin/spiral",
    "/admin/identity-reviews",
    "/admin/payments",
    "/admin/clocks",
)


@dataclasses.dataclass(frozen=True)
class Seeded:
    """What `seed_queues` put in: people, their listings and the payments waiting."""

    paid_person: str
    masked_person: str
    paid_listing: str
    masked_listing: str


def seed_queues(workspace: Workspace) -> Seeded:
    """A candidate identity link waiting for review and two payments waiting (one with a
    candidate listing, one unmatched), put in through the services the API calls."""
    engine, vault = workspace.engine, workspace.vault
    paid = enrol_one(engine, vault, "13800138211", ID_PAID, "tester")
    masked = enrol_one(engine, vault, "13800138212", ID_MASKED, "tester")
    listing = {"court": COURT, "amount": "5000.00", "judgment_date": "2025-03-01"}
    import_entries(
        engine,
        vault,
        [
            {**listing, "name": "王记者", "id_number": ID_PAID, "case_number": CASE_PAID},
            {
                **listing,
                "name": "李四光",
                "id_number": ID_MASKED[:6] + "********" + ID_MASKED[14:],
                "case_number": CASE_MASKED,
            },
        ],
        "tester",
    )
    (masked_listing,) = identity_links.listings_to_resolve(engine, vault).column("listing_id")
    identity_links.apply_matches(
        engine, [], [identity_links.Candidate(str(masked_listing), masked, 0.7)], "matcher"
    )
    register_collection_account(engine, COURT, ACCOUNT, "tester")
    payment = {"currency": "CNY", "paid_on": "2026-09-30"}
    import_payment_entries(
        engine,
        vault,
        workspace.profile(),
        [
            {
                **payment,
                "transaction_id": "T-1",
                "payer_name": "王记者",
                "payer_id_number": ID_PAID,
                "amount": "5000",
                "destination_account": ACCOUNT,
                "reference": "court fine",
            },
            {
                **payment,
                "transaction_id": "T-2",
                "payer_name": None,
                "payer_id_number": None,
                "amount": "12.00",
                "destination_account": "999",
                "reference": "a gift",
            },
        ],
        "tester",
    )
    with engine.connect() as store:
        paid_listing = store.execute(
            select(link_rows.c.listing_id).where(link_rows.c.person_id == paid)
        ).scalar_one()
    return Seeded(paid, masked, str(paid_listing), str(masked_listing))


@dataclasses.dataclass
class Room:
    client: TestClient
    workspace: Workspace
    population: Population
    seeded: Seeded

    @property
    def engine(self) -> Engine:
        return self.workspace.engine


@pytest.fixture(scope="module")
def served(scored_copy: Population) -> Iterator[tuple[TestClient, Workspace, Seeded]]:
    settings = Settings(home=scored_copy.home, admin_token=ADMIN, database_url=scored_copy.url)
    app = create_app(settings)
    workspace: Workspace = app.state.workspace
    seeded = seed_queues(workspace)
    with TestClient(app) as client:
        yield client, workspace, seeded
    workspace.engine.dispose()


@pytest.fixture
def room(served: tuple[TestClient, Workspace, Seeded], scored_copy: Population) -> Iterator[Room]:
    client, workspace, seeded = served
    client.cookies.clear()
    yield Room(client, workspace, scored_copy, seeded)
    client.cookies.clear()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> None:
    page = client.get("/sign-in")
    done = client.post(
        "/sign-in/token",
        data={"token": token, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_a_new_admin_token_ends_the_sessions_opened_with_the_old_one(
    room: Room, scored_copy: Population
) -> None:
    """After a leak the token is changed: the sessions opened with the old one went on
    (pages read, payments rejected) where signing in with it was refused."""
    sign_in(room.client, ADMIN)
    assert room.client.get("/admin", follow_redirects=False).status_code == 200
    rotated = Settings(
        home=scored_copy.home, admin_token=ADMIN + "-rotated", database_url=scored_copy.url
    )
    app = create_app(rotated)
    try:
        with TestClient(app) as other:
            other.cookies.update(room.client.cookies)
            moved = other.get("/admin", follow_redirects=False)
            assert moved.status_code == 303 and moved.headers["location"] == "/sign-in"
            sign_in(other, ADMIN + "-rotated")
            assert other.get("/admin", follow_redirects=False).status_code == 200
    finally:
        app.state.workspace.engine.dispose()
    # Under the token it was opened with, the session holds.
    assert room.client.get("/admin", follow_redirects=False).status_code == 200


def post(room: Room, path: str, **form: str) -> object:
    """A form posted from the admin's own page, with its CSRF token."""
    token = csrf_of(room.client.get("/admin").text)
    return room.client.post(path, data={**form, "csrf_token": token}, follow_redirects=False)


def _posts(room: Room) -> list[tuple[str, dict[str, str]]]:
    review_id = _pending_review(room)
    payment_id = _waiting_payment(room, "review")
    return [
        (f"/admin/identity-reviews/{review_id}/approve", {}),
        (f"/admin/identity-reviews/{review_id}/reject", {}),
        (f"/admin/payments/{payment_id}/approve", {}),
        (f"/admin/payments/{payment_id}/reject", {"reason": "not ours"}),
        ("/admin/model/promote", {"version": list_models(room.engine)[0].version}),
    ]


def _pending_review(room: Room) -> int:
    with room.engine.connect() as store:
        return int(
            store.execute(
                select(link_reviews.c.review_id).where(link_reviews.c.state == "pending")
            ).scalar_one()
        )


def _waiting_payment(room: Room, state: str) -> str:
    with room.engine.connect() as store:
        return str(
            store.execute(
                select(payments.c.payment_id).where(payments.c.state == state)
            ).scalar_one()
        )


def _audit_rows(room: Room) -> int:
    with room.engine.connect() as store:
        return len(store.execute(select(audit_log.c.seq)).all())


# -- who may open them ------------------------------------------------------------------------


def test_without_a_session_every_page_and_form_goes_to_sign_in(room: Room) -> None:
    for path in GETS:
        response = room.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/sign-in"
    before = _audit_rows(room)
    for path, form in _posts(room):
        token = csrf_of(room.client.get("/sign-in").text)
        response = room.client.post(
            path, data={**form, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    assert _audit_rows(room) == before


def test_a_persons_or_a_partners_session_gets_403_everywhere(room: Room) -> None:
    partnering.add_partner(room.engine, "shop-admin-test", "Shop", "admin")
    key = partnering.issue_key(room.engine, "shop-admin-test", ["decisions"], "admin").secret
    code = issue_sign_in_code(room.engine, room.seeded.paid_person, "cli").code
    for how in ("person", "partner"):
        room.client.cookies.clear()
        if how == "person":
            page = room.client.get("/sign-in")
            room.client.post(
                "/sign-in/code",
                data={"code": code, "csrf_token": csrf_of(page.text)},
                follow_redirects=False,
            )
        else:
            sign_in(room.client, key)
        for path in GETS:
            response = room.client.get(path, follow_redirects=False)
            assert response.status_code == 403, (how, path)
            assert "Traceback" not in response.text
        before = _audit_rows(room)
        for path, form in _posts(room):
            token = csrf_of(room.client.get("/sign-in").text)
            response = room.client.post(path, data={**form, "csrf_token": token})
            assert response.status_code == 403, (how, path)
        assert _audit_rows(room) == before


def test_every_admin_form_is_refused_without_the_sessions_csrf_token(room: Room) -> None:
    sign_in(room.client, ADMIN)
    before = _audit_rows(room)
    for path, form in _posts(room):
        missing = room.client.post(path, data=form, follow_redirects=False)
        wrong = room.client.post(path, data={**form, "csrf_token": "x" * 43})
        cross_site = room.client.post(
            path,
            data={**form, "csrf_token": csrf_of(room.client.get("/admin").text)},
            headers={"Origin": "https://evil.example"},
        )
        for refused in (missing, wrong, cross_site):
            assert refused.status_code == 403, (path, refused.status_code)
            assert "This cannot be done from here" in refused.text
    assert _audit_rows(room) == before
    assert _pending_review(room) > 0


# -- the model card --------------------------------------------------------------------------


def test_the_model_card_shows_the_registrys_figures_and_curves_that_agree(room: Room) -> None:
    sign_in(room.client, ADMIN)
    page = room.client.get("/admin/model")
    assert page.status_code == 200
    records = {r.version: r for r in list_models(room.engine)}
    champion = next(r for r in records.values() if r.champion)
    oot = champion.metrics.out_of_time
    assert oot is not None
    assert champion.version in page.text and f"{oot.auc:.3f}" in page.text
    for chart in ("roc-chart", "ks-chart", "distribution-chart", "bad-rate-chart"):
        assert f'id="{chart}"' in page.text and "data-chart=" in page.text
    ws = room.workspace
    made = model_room(ws.engine, ws.backend(), ws.lake_root, ws.model_cards_dir)
    assert made.curves is not None
    # The curves are rebuilt from the lake; they must give the figures training recorded.
    for curve in made.curves.roc:
        recorded = records[curve.version].metrics.out_of_time
        assert recorded is not None
        assert curve.area == pytest.approx(recorded.auc, abs=1e-4)
    assert made.curves.ks.ks == pytest.approx(oot.ks, abs=1e-4)
    assert made.curves.rows == oot.rows
    assert made.distribution is not None and made.distribution.month == LAST
    assert sum(b.people for b in made.distribution.bins) == made.distribution.scored
    assert [m.month for m in made.stability][-1] == LAST


def test_stability_by_month_is_what_kaimen_monitor_measures(room: Room) -> None:
    ws = room.workspace
    report = monitor(ws.engine, ws.backend(), ws.lake_root, LAST, ws.model_cards_dir, "tester")
    made = model_room(ws.engine, ws.backend(), ws.lake_root, ws.model_cards_dir)
    score = report.card.stability.score
    assert not hasattr(score, "unavailable")
    assert made.stability[-1].psi == pytest.approx(score.psi)  # type: ignore[union-attr]
    assert made.card is not None and made.card.month == LAST
    sign_in(room.client, ADMIN)
    page = room.client.get("/admin/model").text
    # The card's characteristics are on the page, each with its PSI.
    for item in report.card.stability.measured[1:3]:
        assert f"<code>{item.item}</code></th><td>{item.psi:.4f}" in page


def test_promoting_the_challenger_from_the_page(room: Room) -> None:
    sign_in(room.client, ADMIN)
    records = list_models(room.engine)
    champion = next(r for r in records if r.champion)
    challenger = next(r for r in records if not r.champion)
    moved = post(room, "/admin/model/promote", version=challenger.version)
    assert moved.status_code == 303  # type: ignore[attr-defined]
    assert next(r for r in list_models(room.engine) if r.champion).version == challenger.version
    page = room.client.get("/admin/model?done=promoted").text
    assert "The model is the champion now." in page
    unknown = post(room, "/admin/model/promote", version="no-such-model")
    assert unknown.status_code == 404  # type: ignore[attr-defined]
    post(room, "/admin/model/promote", version=champion.version)
    assert next(r for r in list_models(room.engine) if r.champion).version == champion.version


# -- the spiral sandbox -----------------------------------------------------------------------


def test_the_spiral_sandbox_on_the_page_is_the_commands(room: Room) -> None:
    sign_in(room.client, ADMIN)
    page = room.client.get("/admin/spiral?seed=3&people=500&months=6")
    assert page.status_code == 200
    report = run_spiral(SpiralSettings(seed=3, people=500, months=6), profiles.load("cn"))
    assert report.listed_person in page.text
    unbounded, bounded = report.unbounded, report.bounded
    line = (
        f"{unbounded.before.listed_score:,} → {unbounded.after.listed_score:,}</td>"
        f"<td>{bounded.before.listed_score:,} → {bounded.after.listed_score:,}"
    )
    assert line in page.text
    for chart in ("spiral-listed-score", "spiral-isolated"):
        assert f'id="{chart}"' in page.text


@pytest.mark.parametrize(
    ("query", "field"),
    [("people=lots", "people"), ("people=5", "people"), ("share=0.9", "share"),
     ("months=61", "months"), ("tie_value=0", "tie_value"), ("seed=-1", "seed"),
     ("people=%D9%A3%D9%A0%D9%A0", "people"), ("people=1_000", "people")],
)  # fmt: skip
def test_bad_sandbox_settings_are_named_beside_their_field(
    room: Room, query: str, field: str
) -> None:
    sign_in(room.client, ADMIN)
    page = room.client.get(f"/admin/spiral?{query}")
    assert page.status_code == 400
    assert f'id="spiral-{field}-error"' in page.text
    assert re.search(rf'id="spiral-{field}"[^>]*aria-invalid="true"', page.text)
    assert "Side by side" not in page.text


# -- the queues and the clocks ----------------------------------------------------------------


def test_the_identity_review_queue_approved_from_the_page(room: Room) -> None:
    sign_in(room.client, ADMIN)
    page = room.client.get("/admin/identity-reviews")
    review_id = _pending_review(room)
    assert f"/admin/identity-reviews/{review_id}/approve" in page.text
    assert room.seeded.masked_person in page.text and "李四光" in page.text
    done = post(room, f"/admin/identity-reviews/{review_id}/approve")
    assert done.status_code == 303  # type: ignore[attr-defined]
    with room.engine.connect() as store:
        link = store.execute(
            select(link_rows).where(link_rows.c.listing_id == room.seeded.masked_listing)
        ).one()
    assert link.person_id == room.seeded.masked_person and link.method == "review"
    after = room.client.get("/admin/identity-reviews?done=approved").text
    assert "Approved." in after and "No candidate is waiting for review." in after
    again = post(room, f"/admin/identity-reviews/{review_id}/reject")
    assert again.status_code == 409  # type: ignore[attr-defined]


def test_the_payments_queue_needs_a_reason_to_reject_and_approves(room: Room) -> None:
    sign_in(room.client, ADMIN)
    page = room.client.get("/admin/payments")
    stray = _waiting_payment(room, "unmatched")
    candidate = _waiting_payment(room, "review")
    assert stray in page.text and candidate in page.text and CASE_PAID in page.text
    refused = post(room, f"/admin/payments/{stray}/reject", reason="  ")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert f'id="reason-{stray}-error"' in text
    assert re.search(rf'id="reason-{stray}"[^>]*aria-invalid="true"', text)
    assert _waiting_payment(room, "unmatched") == stray
    assert post(room, f"/admin/payments/{stray}/reject", reason="a gift").status_code == 303  # type: ignore[attr-defined]
    approved = post(room, f"/admin/payments/{candidate}/approve")
    assert approved.status_code == 303  # type: ignore[attr-defined]
    ws = room.workspace
    assert review_queue(ws.engine, ws.vault, "tester").items == ()
    with room.engine.connect() as store:
        states = dict(store.execute(select(payments.c.payment_id, payments.c.state)).all())
    assert states[stray] == "rejected" and states[candidate] != "review"
    after = room.client.get("/admin/payments?done=approved").text
    assert "Approved." in after and "No payment is waiting for review." in after


def test_the_clocks_list_every_running_deadline(room: Room) -> None:
    sign_in(room.client, ADMIN)
    page = room.client.get("/admin/clocks")
    assert page.status_code == 200
    from kaimen.dueprocess.clocks import sla_view

    view = sla_view(room.engine, room.workspace.profile())
    for item in view.items:
        assert f"<code>{item.ref}</code>" in page.text
    assert f"{view.overdue} overdue of {len(view.items)}" in page.text
