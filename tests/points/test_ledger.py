"""The points ledger on SQLite and PostgreSQL: the award run over a month of lake events,
caps, idempotence, the stored balance equal to a replay of the ledger after expiries and
decay, the person's own reading, a privilege check, and a deduction disputed and reversed."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import ibis
import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.disputes import Answer, DisputeRejected, ItemRef, ItemState
from kaimen.domain.errors import Forbidden, Rejected
from kaimen.domain.profiles import Profile
from kaimen.domain.rulebook import RulebookRefused
from kaimen.dueprocess import answering, disputing
from kaimen.engines.embedded import ibis_connection
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.points import awarding, rulebooks, standing
from kaimen.points.rulebooks import ProgrammeOff
from kaimen.store import points_ledger as ledger
from kaimen.store.tables import audit_log, points_ledger
from tests.store.score_rows import enrol

ADMIN = Caller.admin()
NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
LANDLORD = "landlord-a"


def rent(person: str, event_id: str, day: str, status: str) -> dict[str, str | None]:
    return {
        "source": LANDLORD,
        "event_id": event_id,
        "person_id": person,
        "kind": "rent_payment",
        "occurred_at": f"{day}T09:00:00+00:00",
        "amount": "3000.00",
        "currency": "CNY",
        "due_date": day,
        # Late rent is paid the month after; rent on time, on the day.
        "paid_date": {"defaulted": None, "late": "2026-03-01"}.get(status, day),
        "status": status,
    }


def rental(person: str, event_id: str, day: str, outcome: str) -> dict[str, str | None]:
    return {
        "source": "bikes",
        "event_id": event_id,
        "person_id": person,
        "kind": "rental",
        "occurred_at": f"{day}T09:00:00+00:00",
        "partner": "bikes",
        "item": "bike",
        "deposit": "waived",
        "outcome": outcome,
    }


EVENTS = [
    rent("ann", "R-1", "2026-01-05", "on_time"),
    # Two on-time payments in a month: the cap (5 a month) awards only one.
    rent("ann", "R-1b", "2026-01-20", "on_time"),
    rent("ben", "R-2", "2026-01-05", "late"),
    rent("ben", "R-3", "2026-01-06", "late"),
    # A third late payment the same month is past the cap (30 a month).
    rent("ben", "R-4", "2026-01-07", "late"),
    *(rental("ann", f"B-{i}", "2026-01-10", "returned") for i in range(7)),
    rental("cat", "B-9", "2026-01-11", "damaged"),
    # Another month: not this run's.
    rent("ann", "R-5", "2026-02-05", "on_time"),
]


class Points:
    def __init__(self, engine: Engine, tmp_path: Path, profile: Profile) -> None:
        self.engine = engine
        self.lake_root = tmp_path / "lake"
        self.evidence = tmp_path / "evidence"
        self.profile = profile
        self.backend: ibis.BaseBackend = ibis_connection()

    def award(self, month: str, now: dt.datetime = NOW) -> awarding.AwardReport:
        return awarding.award_month(
            self.engine, self.backend, self.lake_root, self.profile, ADMIN, month, now
        )

    def entries(self, person: str) -> list[ledger.Entry]:
        with self.engine.connect() as store:
            return ledger.entries_of(store, person)

    def stored(self, person: str) -> ledger.StoredBalance:
        with self.engine.connect() as store:
            found = ledger.stored_balance(store, person)
        assert found is not None
        return found

    def dispute(self, person: str, entry_id: str, statement: str) -> disputing.Filed:
        return disputing.file_dispute(
            self.engine,
            self.lake_root,
            self.evidence,
            self.profile,
            Caller.person(person),
            person,
            ItemRef.points_entry(entry_id),
            statement,
            now=NOW,
        )

    def count(self) -> int:
        with self.engine.connect() as store:
            return int(store.execute(select(func.count()).select_from(points_ledger)).scalar_one())


def make_points(engine: Engine, tmp_path: Path, profile: str = "cn") -> Points:
    enrol(engine, "ann", "ben", "cat", "dan")
    points = Points(engine, tmp_path, profiles.load(profile))
    accept_events(engine, points.lake_root, EVENTS, "admin", NOW)
    if points.profile.points_programme.allowed:
        rulebooks.install(engine, points.profile, ADMIN, "lawful", NOW)
    return points


@pytest.fixture
def points(engine: Engine, tmp_path: Path) -> Points:
    return make_points(engine, tmp_path)


def months_between(first: dt.date, month: str) -> int:
    year, number = (int(p) for p in month.split("-"))
    return (year - first.year) * 12 + number - first.month


def replay_by_hand(entries: list[ledger.Entry], month: str, base: int, disputed: bool) -> int:
    """The balance at the end of `month`, entry by entry: the tests' own reading of the
    rules (an entry counts from its month until the month it expires, halving every so
    many months toward zero), to hold the vectorised replay to."""
    total = base
    for e in entries:
        age = months_between(e.period, month)
        ended = e.expires_on is not None and months_between(e.expires_on, month) >= 0
        if age < 0 or ended or (e.state is ItemState.DISPUTED and not disputed):
            continue
        halvings = age // e.halves_every_months if e.halves_every_months else 0
        value = abs(e.points) >> halvings
        total += value if e.points > 0 else -value
    return total


def test_a_month_is_awarded_within_caps_and_once(points: Points) -> None:
    report = points.award("2026-01")
    by_person = {
        p: [(e.rule_id, e.event_id, e.points) for e in points.entries(p)]
        for p in ("ann", "ben", "cat", "dan")
    }
    # ann: one on-time rent (cap 5 a month), five of seven returned rentals (cap 10 at 2 each).
    assert sorted(by_person["ann"]) == sorted(
        [("rent_paid_on_time", "R-1", 5)] + [("rental_returned", f"B-{i}", 2) for i in range(5)]
    )
    assert by_person["ben"] == [("rent_paid_late", "R-2", -15), ("rent_paid_late", "R-3", -15)]
    assert by_person["cat"] == [("rental_damaged_or_unpaid", "B-9", -25)]
    assert by_person["dan"] == []
    # An award is named by its key, the same on every engine and every run.
    key = f"award/rent_paid_on_time/{LANDLORD}/R-1"
    assert points.entries("ann")[0].entry_id == hashlib.md5(key.encode()).hexdigest()
    assert (report.entries, report.points, report.people) == (9, 15 - 30 - 25, 3)
    assert {p: points.stored(p).balance for p in ("ann", "ben", "cat")} == {
        "ann": 1015,
        "ben": 970,
        "cat": 975,
    }
    # Running the month again adds nothing; so does running it a third time.
    again = points.award("2026-01", NOW + dt.timedelta(hours=1))
    assert (again.entries, points.count()) == (0, 9)
    # A late event of January only adds its own award, within what the cap has left.
    accept_events(
        points.engine,
        points.lake_root,
        [
            rent("ben", "R-late", "2026-01-28", "late"),
            rental("dan", "B-d", "2026-01-28", "returned"),
        ],
        "admin",
        NOW,
    )
    late = points.award("2026-01", NOW + dt.timedelta(hours=2))
    assert late.entries == 1 and [e.event_id for e in points.entries("dan")] == ["B-d"]
    assert len(points.entries("ben")) == 2


def test_the_stored_balance_equals_a_replay_after_expiries(points: Points) -> None:
    points.award("2026-01")
    points.award("2026-02")
    base = 1000
    # Month by month past every expiry (rentals returned end after 12 months, late rent
    # after 24, damage after 24), with decay halving deductions on the way.
    for month in (
        "2026-03",
        "2026-07",
        "2027-01",
        "2027-02",
        "2027-07",
        "2028-01",
        "2028-02",
        "2029-03",
    ):
        # Awarded as that month ends (a month that has not begun is refused).
        year, number = (int(part) for part in month.split("-"))
        points.award(month, dt.datetime(year, number, 28, 12, 0, tzinfo=dt.UTC))
        for person in ("ann", "ben", "cat"):
            entries = points.entries(person)
            stored = points.stored(person)
            assert stored.month == month
            assert stored.balance == replay_by_hand(entries, month, base, False), (person, month)
    # By 2029 every entry has expired: everyone is back at the base.
    assert {p: points.stored(p).balance for p in ("ann", "ben", "cat")} == {
        "ann": base,
        "ben": base,
        "cat": base,
    }
    # And on the way, decay and expiry did move them: ben's -30 halved after 6 months.
    with points.engine.connect() as store:
        assert standing.balance_now(store, points.profile, "ben", base, "2026-07") == 1000 - 14
        # ann in January 2027: her rentals (+10) expired, January's rent (+5) halved after
        # 12 months, February's (+5) not yet; in February 2027 both rents are halved.
        assert standing.balance_now(store, points.profile, "ann", base, "2026-12") == 1000 + 20
        assert standing.balance_now(store, points.profile, "ann", base, "2027-01") == 1000 + 2 + 5
        assert standing.balance_now(store, points.profile, "ann", base, "2027-02") == 1000 + 2 + 2


def test_the_person_reads_their_ledger_balance_grade_and_privileges(points: Points) -> None:
    points.award("2026-01")
    seen = standing.my_points(
        points.engine,
        points.profile,
        Caller.person("ben"),
        "ben",
        dt.datetime(2026, 1, 31, tzinfo=dt.UTC),
    )
    assert (seen.rulebook, seen.balance, seen.grade, seen.month) == ("tenants", 970, "C", "2026-01")
    assert seen.privileges == ()
    assert [e.points for e in seen.entries] == [-15, -15]
    ann = standing.my_points(
        points.engine, points.profile, ADMIN, "ann", dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    )
    assert (ann.balance, ann.grade) == (1015, "B")
    assert [p.id for p in ann.privileges] == ["rental_deposit_halved"]
    with pytest.raises(Forbidden):
        standing.my_points(points.engine, points.profile, Caller.person("ann"), "ben")


def test_a_disputed_deduction_stops_counting_and_an_upheld_dispute_reverses_it(
    points: Points,
) -> None:
    points.award("2026-01")
    first = points.entries("ben")[0]
    filed = points.dispute(
        "ben", first.entry_id, "I paid that rent on time; the landlord's system dated it wrongly."
    )
    # cn: a disputed item does not count while pending; the stored balance follows at once.
    assert points.stored("ben").balance == 985
    # The clock rules stay as they are: 20 days under cn, kaimen itself answers.
    assert filed.dispute.furnisher == "kaimen"
    assert filed.dispute.answer_due_at == dt.datetime(2026, 11, 22, 16, 0, tzinfo=dt.UTC)
    answering.answer_dispute(
        points.engine,
        points.lake_root,
        points.profile,
        ADMIN,
        filed.dispute.dispute_id,
        Answer.DELETED,
        now=NOW + dt.timedelta(days=3),
    )
    entries = points.entries("ben")
    reversal = entries[-1]
    assert (reversal.entry_kind, reversal.reverses, reversal.points) == (
        "reversal",
        first.entry_id,
        15,
    )
    assert (reversal.period, reversal.expires_on) == (first.period, first.expires_on)
    # The original is untouched; the balance counts neither.
    assert [e.points for e in entries] == [-15, -15, 15]
    assert points.stored("ben").balance == 985
    assert points.stored("ben").balance == replay_by_hand(
        entries, points.stored("ben").month, 1000, False
    )
    # A cancelled deduction is no longer negative: it cannot be disputed again.
    with pytest.raises(DisputeRejected, match="not a negative item"):
        points.dispute("ben", first.entry_id, "again")


def test_under_us_a_disputed_entry_still_counts(engine: Engine, tmp_path: Path) -> None:
    points = make_points(engine, tmp_path, "us")
    points.award("2026-01")
    first = points.entries("ben")[0]
    points.dispute("ben", first.entry_id, "Not mine.")
    assert points.stored("ben").balance == 970


def test_under_eu_the_programme_is_off_and_says_why(engine: Engine, tmp_path: Path) -> None:
    points = make_points(engine, tmp_path, "eu")
    why = points.profile.points_programme.off_because
    assert why is not None and "AI Act" in why
    with pytest.raises(ProgrammeOff, match="AI Act"):
        points.award("2026-01")
    with pytest.raises(ProgrammeOff, match="AI Act"):
        standing.my_points(points.engine, points.profile, Caller.person("ann"), "ann")
    with pytest.raises(RulebookRefused, match="AI Act"):
        rulebooks.install(engine, points.profile, ADMIN, "lawful", NOW)
    assert points.count() == 0


def test_the_award_run_and_installs_are_audited(points: Points) -> None:
    points.award("2026-01")
    with points.engine.connect() as store:
        actions = [
            r.action for r in store.execute(select(audit_log.c.action).order_by(audit_log.c.seq))
        ]
    assert actions.count("points.rulebook_installed") == 1
    assert actions[-1] == "points.awarded"


def test_erasure_is_the_only_way_entries_leave_the_ledger() -> None:
    from kaimen.store import person_data

    tables = {column.table.name for column in person_data.personal_columns()}
    assert {"points_ledger", "points_balances"} <= tables


def test_a_yearly_cap_holds_whatever_order_the_months_are_awarded_in(points: Points) -> None:
    defaults = [rent("dan", f"D-{m}", f"2026-{m:02d}-03", "defaulted") for m in (4, 6)]
    accept_events(points.engine, points.lake_root, defaults, "admin", NOW)
    points.award("2026-04")
    points.award("2026-06")
    # rent_defaulted: -40 each, at most 80 a year: both count.
    assert [e.points for e in points.entries("dan")] == [-40, -40]
    # A default of May arrives after June was awarded: the year's cap is full already.
    late = rent("dan", "D-5", "2026-05-03", "defaulted")
    accept_events(points.engine, points.lake_root, [late], "admin", NOW)
    assert points.award("2026-05").entries == 0
    assert [e.event_id for e in points.entries("dan")] == ["D-4", "D-6"]


def test_an_earlier_month_awarded_again_leaves_the_stored_balances_as_of_the_later_one(
    points: Points,
) -> None:
    """Awarding a month again (late events) after a later one, or one long before the data,
    used to store every balance as of that older month (1899-01: everyone back at the base)."""
    points.award("2026-01")
    points.award("2026-02")
    later = {p: points.stored(p) for p in ("ann", "ben", "cat")}
    points.award("2026-01")
    points.award("1899-01")
    for person, stored in later.items():
        again = points.stored(person)
        assert (again.month, again.balance) == ("2026-02", stored.balance), person


def test_a_month_that_has_not_begun_is_refused(points: Points) -> None:
    with pytest.raises(Rejected, match="2026-12 has not begun yet"):
        points.award("2026-12")  # NOW is in November 2026
    assert points.award("2026-11").month == "2026-11"


def test_a_disputed_event_takes_its_awards_with_it(points: Points) -> None:
    points.award("2026-01")
    filed = disputing.file_dispute(
        points.engine,
        points.lake_root,
        points.evidence,
        points.profile,
        Caller.person("cat"),
        "cat",
        ItemRef.event("bikes", "B-9"),
        "I returned the bike undamaged; the photo shows it.",
        now=NOW,
    )
    # cn: the disputed event does not count, nor do the points it earned.
    assert points.stored("cat").balance == 1000
    answering.answer_dispute(
        points.engine,
        points.lake_root,
        points.profile,
        Caller.admin(),
        filed.dispute.dispute_id,
        Answer.DELETED,
        now=NOW + dt.timedelta(days=1),
    )
    entries = points.entries("cat")
    assert [(e.entry_kind, e.points) for e in entries] == [("award", -25), ("reversal", 25)]
    assert points.stored("cat").balance == 1000
    # The deleted event earns nothing when the month is run again.
    assert points.award("2026-01", NOW + dt.timedelta(days=2)).entries == 0
