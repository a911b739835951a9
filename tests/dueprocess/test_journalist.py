"""The journalist's case, end to end, on SQLite and PostgreSQL.

A court judgment is imported and matched to her, her score falls at once, a restriction
check refuses her a flight; she pays the fine with one digit of the court's account number
wrong; reconciliation matches the payment anyway, the listing is lifted on the profile's
third working day, her score recovers at once, the airline that saw the restriction is told,
and the audit log shows every step and verifies.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.dueprocess import restrictions, settlement
from kaimen.dueprocess.court_import import import_file
from kaimen.dueprocess.payment_import import import_payment_entries
from kaimen.dueprocess.rescoring import Rescoring
from kaimen.engines.embedded import ibis_connection
from kaimen.scoring.direct_reading import read_score_at
from kaimen.scoring.reading import score_view
from kaimen.scoring.way_up import way_up, what_if_start
from kaimen.sharing.own_data import export
from kaimen.sharing.reports import own_report
from kaimen.store import audit, partners, scores
from kaimen.store.tables import audit_log, court_listings, outbox_messages
from tests.population import BACKENDS, VAULT, Populations, World

CN = profiles.load("cn")
BEIJING = dt.timezone(dt.timedelta(hours=8))
CASE = "(2026)京0105执1234号"
COURT = "北京市朝阳区人民法院"
ACCOUNT = "110906558010201"
MISTYPED = "110906558010207"  # one digit wrong: the slip says ...207, the court's is ...201
AIRLINE = "sky-airways"
IMPORTED = dt.datetime(2026, 11, 5, 2, 0, tzinfo=dt.UTC)
PAID_ON = dt.date(2026, 11, 11)  # a Wednesday


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, populations: Populations) -> Iterator[World]:
    with populations.copy("scored", request.param) as population, population.opened() as w:
        yield w


def _journalist(world: World) -> tuple[str, str]:
    """(person_id, national ID) of a scored person with room to fall."""
    with (world.sim / "people.csv").open(encoding="utf-8") as handle:
        enrolled = {row["person_id"]: row["national_id"] for row in csv.DictReader(handle)}
    with world.engine.connect() as store:
        for person_id in sorted(enrolled):
            snapshot = scores.latest(store, person_id)
            if snapshot is not None and snapshot.score is not None and snapshot.score > 600:
                return person_id, enrolled[person_id]
    raise AssertionError("no scored person above 600")


def test_the_journalist_pays_with_a_mistyped_account_and_is_lifted_in_three_working_days(
    world: World, tmp_path: Path
) -> None:
    person, national_id = _journalist(world)
    rescoring = Rescoring(world.lake, CN)
    with world.engine.connect() as store:
        before = scores.latest(store, person)
    assert before is not None and before.score is not None

    # The court list arrives: the judgment is matched to her by her ID number.
    court_file = tmp_path / "court-list.csv"
    court_file.write_text(
        "name,id_number,case_number,court,amount,currency,judgment_date,status\n"
        f"李娜,{national_id},{CASE},{COURT},5000.00,CNY,2026-06-01,entered\n",
        encoding="utf-8",
    )
    imported = import_file(world.engine, VAULT, court_file, "cli", IMPORTED, rescoring)
    assert (imported.new_listings, imported.linked, imported.people_changed) == (1, 1, (person,))
    (fall,) = imported.revisions
    expected = max(350, before.score - CN.court_listing_penalty)
    assert (fall.score_before, fall.score_after, fall.cause) == (
        before.score,
        expected,
        "court_list",
    )
    with world.engine.connect() as store:
        listed = scores.latest(store, person)
    assert listed is not None and listed.score == expected
    court_reason = listed.reasons[0]
    assert court_reason.points_lost == CN.court_listing_penalty
    assert court_reason.detail == (
        f"court judgment {CASE} at {COURT}, 5,000.00 CNY unpaid since 2026-06-01"
    )
    # Her what-if starts from the score she is shown, and its plan counts the deduction.
    assert what_if_start(world.engine, world.lake, CN, person, Caller.admin()).score == expected
    target = min(expected + 40, 950)
    _, plan = way_up(world.engine, ibis_connection(), world.lake, CN, person, target)
    assert plan.score == expected
    card_after = min(max(plan.new_raw_score, 350), 950)
    assert plan.new_score == max(350, card_after - CN.court_listing_penalty)
    assert plan.reachable == (plan.new_score >= target)

    # Her own export holds the listing and how it was linked to her.
    (mine,) = export(world.engine, VAULT, world.lake, person, IMPORTED).court_listings
    assert (mine.case_number, mine.link_method, mine.status) == (CASE, "exact_id", "entered")

    # Her report shows the listing (under cn; eu withholds court listings from reports).
    (shown,) = own_report(world.engine, world.lake, person, profile=CN).court_list or ()
    assert (shown.case_number, shown.status, shown.disputed) == (CASE, "entered", False)
    assert (
        own_report(world.engine, world.lake, person, profile=profiles.load("eu")).court_list is None
    )

    # An airline asks before selling her a ticket: refused, with the case and the law.
    with world.engine.begin() as store:
        partners.add(store, AIRLINE, "Sky Airways", IMPORTED)
    airline = Caller.partner(AIRLINE, "k1", ("restrictions",))
    checked = restrictions.check_restriction(
        world.engine,
        VAULT,
        CN,
        airline.actor,
        "air_travel",
        national_id=national_id,
        now=IMPORTED + dt.timedelta(days=1),
    )
    assert checked.restricted and checked.person_id == person
    (cited,) = checked.listings
    assert (cited.case_number, cited.court, cited.judgment_date) == (
        CASE,
        COURT,
        dt.date(2026, 6, 1),
    )
    assert "Fa Shi [2015] No. 17" in cited.legal_basis
    assert not hasattr(checked, "score")

    # She pays, typing one digit of the court's account wrong.
    settlement.register_collection_account(world.engine, COURT, ACCOUNT, "cli", IMPORTED)
    paid = import_payment_entries(
        world.engine,
        VAULT,
        CN,
        [
            {
                "transaction_id": "icbc-20261111-0001",
                "payer_name": "李娜",
                "payer_id_number": national_id,
                "amount": "5000.00",
                "currency": "CNY",
                "paid_on": PAID_ON.isoformat(),
                "destination_account": MISTYPED,
                "reference": f"执行款 {CASE}",
            }
        ],
        "cli",
        dt.datetime(2026, 11, 11, 8, 0, tzinfo=dt.UTC),
    )
    assert (paid.matched, paid.review, paid.unmatched) == (1, 0, 0)
    with world.engine.connect() as store:
        assert store.execute(select(court_listings.c.status)).scalar_one() == "settled-pending"

    # Three working days after Wednesday 11 November: Thursday, Friday, Monday 16 November.
    lift_at = dt.datetime(2026, 11, 16, 0, 0, tzinfo=BEIJING)
    early = settlement.lift_due_listings(
        world.engine, CN, lift_at - dt.timedelta(seconds=1), "worker", rescoring
    )
    assert early.lifted == ()
    lifted = settlement.lift_due_listings(world.engine, CN, lift_at, "worker", rescoring)
    assert len(lifted.lifted) == 1 and lifted.people_changed == (person,)

    # Her score recovers at once, and nothing restricts her any more.
    (recovery,) = lifted.revisions
    assert (recovery.score_before, recovery.score_after) == (expected, before.score)
    with world.engine.connect() as store:
        recovered = scores.latest(store, person)
    assert recovered is not None and recovered.score == before.score
    assert recovered.reasons == before.reasons
    # Her history shows both corrections and why, whichever way it is read.
    view = score_view(world.engine, person)
    assert view is not None
    assert [(c.cause, c.score_before, c.score_after) for c in view.corrections] == [
        ("settlement", expected, before.score),
        ("court_list", before.score, expected),
    ]
    assert "lifted" in view.corrections[0].why
    url = world.engine.url.render_as_string(hide_password=False)
    assert read_score_at(url, person, Caller.person(person)) == view
    assert own_report(world.engine, world.lake, person, profile=CN).court_list == ()
    exported = export(world.engine, VAULT, world.lake, person, lift_at)
    assert [(m.status, m.case_number) for m in exported.court_listings] == [("lifted", CASE)]
    assert [c.cause for c in exported.score_corrections] == ["settlement", "court_list"]
    again = restrictions.check_restriction(
        world.engine, VAULT, CN, airline.actor, "air_travel", person_id=person, now=lift_at
    )
    assert not again.restricted

    # The airline that saw the restriction is told the listing is lifted.
    with world.engine.connect() as store:
        notices = store.execute(select(outbox_messages.c.recipient, outbox_messages.c.topic)).all()
        actions = list(
            store.execute(select(audit_log.c.action).order_by(audit_log.c.seq)).scalars()
        )
    assert (AIRLINE, "court_list.lifted") in notices
    # Every step is in the audit log, in order, and the chain verifies.
    steps = [
        "court_list.imported",
        "identity.linked",
        "scores.revised",
        "restriction.checked",
        "payments.imported",
        "court_list.lifted",
        "scores.revised",
    ]
    found = [a for a in actions if a in steps]
    assert _in_order(steps, found), found
    assert audit.verify(world.engine) > 0


def _in_order(wanted: list[str], found: list[str]) -> bool:
    position = 0
    for action in found:
        if position < len(wanted) and action == wanted[position]:
            position += 1
    return position == len(wanted)
