"""The services behind the doors, called directly on the scored population: decisions,
reads by the admin, the way up, the export and events by sender. The HTTP and CLI tests check
the doors; these check what the services do and log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.errors import KaimenError
from kaimen.scoring.reading import NoScore, read_score
from kaimen.scoring.way_up import plan_for, try_changes
from kaimen.sharing import consenting, deciding, disclosures, offering, own_data, partnering
from kaimen.sharing.feedback import SenderRefused, receive_events
from kaimen.store import audit
from kaimen.store.tables import score_snapshots
from tests.population import LAST, VAULT, Population, World

PROFILE = profiles.load()

ADMIN = Caller.admin()


@pytest.fixture(scope="module")
def world(scored_copy: Population) -> Iterator[World]:
    with scored_copy.opened() as opened:
        yield opened


@pytest.fixture(scope="module")
def people(world: World) -> list[str]:
    """Scored people of the last month, lowest score first."""
    with world.engine.connect() as store:
        rows = store.execute(
            select(score_snapshots.c.person_id)
            .where(score_snapshots.c.month == LAST, score_snapshots.c.score.is_not(None))
            .order_by(score_snapshots.c.score, score_snapshots.c.person_id)
        )
        return list(rows.scalars())


def _score(world: World, person_id: str) -> int:
    view = read_score(world.engine, person_id, Caller.person(person_id))
    assert view.score is not None
    return view.score


def _consent(world: World, person_id: str, partner: str, share: bool = False) -> None:
    now = dt.datetime.now(dt.UTC)
    request = consenting.ConsentRequest(partner, "decision", share_score=share)
    consenting.grant_consent(world.engine, person_id, request, f"person:{person_id}", now)


def test_a_decision_is_judged_stored_and_logged_under_consent(
    world: World, people: list[str]
) -> None:
    partner = "decide-bank"
    partnering.add_partner(world.engine, partner, "Bank", "admin")
    key = partnering.issue_key(world.engine, partner, ["decisions"], "admin").secret
    low, high = people[0], people[-1]
    threshold = (_score(world, low) + _score(world, high)) // 2
    offer = offering.publish_offer(
        world.engine, partner, offering.OfferTerms("Card", "a card", threshold), "p"
    )
    with pytest.raises(deciding.PersonNotFound):
        deciding.decide(world.engine, key, offer.offer_id, low)
    assert disclosures.decisions_about(world.engine, low) == []  # nothing read, nothing kept

    _consent(world, low, partner)
    _consent(world, high, partner, share=True)
    said_no = deciding.decide(world.engine, key, offer.offer_id, low)
    said_yes = deciding.decide(world.engine, key, offer.offer_id, high)
    declined, approved = said_no.decision, said_yes.decision
    assert said_no.unmet == (f"score below the offer's minimum of {threshold}",)
    assert said_yes.unmet == ()
    assert (declined.approved, approved.approved) == (False, True)
    assert declined.reasons and not approved.reasons
    assert declined.points_short == threshold - _score(world, low)
    assert (declined.score_shared, approved.score_shared) == (False, True)

    [stored] = disclosures.decisions_about(world.engine, low)
    assert (stored.decision_id, stored.approved) == (declined.decision_id, False)
    # Newest first: the decision, then the attempt before the consent, refused.
    logged, attempted = disclosures.access_log_of(world.engine, low)
    assert (logged.actor, logged.what, logged.flag) == (f"partner:{partner}", "decision", None)
    assert attempted.flag == "refused: no consent"
    assert attempted.disclosed == {"status": 404, "detail": deciding.NOT_FOUND}
    assert "score" not in logged.disclosed  # not shared: not shown, so not logged as shown
    assert "score" in disclosures.access_log_of(world.engine, high)[0].disclosed

    offering.withdraw_offer(world.engine, partner, offer.offer_id, "p")
    with pytest.raises(deciding.OfferNotFound):
        deciding.decide(world.engine, key, offer.offer_id, high)


def test_reads_by_anyone_but_the_person_are_in_their_access_log(
    world: World, people: list[str]
) -> None:
    person = people[len(people) // 2]
    before = len(disclosures.access_log_of(world.engine, person))
    own = read_score(world.engine, person, Caller.person(person))
    plan_for(world.engine, world.lake, PROFILE, person, 900, Caller.person(person))
    assert len(disclosures.access_log_of(world.engine, person)) == before

    admins = read_score(world.engine, person, ADMIN)
    assert admins == own
    plan = plan_for(world.engine, world.lake, PROFILE, person, 900, ADMIN)
    tried = try_changes(
        world.engine, world.lake, PROFILE, person, {"late_repayments_12m": 0.0}, ADMIN
    )
    log = disclosures.access_log_of(world.engine, person)
    assert [(a.what, a.actor) for a in log[:3]] == [
        ("whatif", "admin"),
        ("whatif", "admin"),
        ("score", "admin"),
    ]
    assert log[2].disclosed["score"] == own.score
    assert log[1].disclosed["target"] == plan.target == 900
    assert log[0].disclosed["tried"] == {"late_repayments_12m": 0.0}
    assert log[0].disclosed["new_score"] == tried.new_score
    with pytest.raises(NoScore) as unknown:
        read_score(world.engine, "nobody", ADMIN)
    assert unknown.value.detail == "no published score for this person"


def test_an_export_is_audited_and_logged_when_someone_else_reads_it(
    world: World, people: list[str]
) -> None:
    person = people[1]
    rows = audit.count(world.engine)
    log_before = len(disclosures.access_log_of(world.engine, person))
    # The person's own export: audited, but nobody else read anything.
    own_data.export_for(world.engine, VAULT, world.lake, person, Caller.person(person))
    assert len(disclosures.access_log_of(world.engine, person)) == log_before
    document = own_data.export_for(world.engine, VAULT, world.lake, person, Caller.admin("cli"))
    log = disclosures.access_log_of(world.engine, person)
    assert len(log) == log_before + 1
    assert (log[0].actor, log[0].what, log[0].purpose) == ("cli", "export", "own-data export")
    assert audit.count(world.engine) == rows + 2
    assert audit.verify(world.engine) == rows + 2
    assert document.events and {e["person_id"] for e in document.events} == {person}


def test_events_come_from_the_admin_or_a_partner_only(world: World, people: list[str]) -> None:
    record: dict[str, str | None] = {
        "source": "bank-x",
        "event_id": "svc-1",
        "person_id": people[2],
        "kind": "donation",
        "occurred_at": "2026-10-15T10:00:00+08:00",
        "amount": "10.00",
        "currency": "CNY",
    }
    report = receive_events(world.engine, world.lake, ADMIN, [record])
    assert (report.total, report.new) == (1, 1)
    again = receive_events(world.engine, world.lake, ADMIN, [record])
    assert (again.new, again.duplicate) == (0, 1)
    with pytest.raises(SenderRefused) as refused:
        receive_events(world.engine, world.lake, Caller.person(people[2]), [record])
    assert isinstance(refused.value, KaimenError) and refused.value.status == 403
