"""Settlement reconciliation on SQLite and PostgreSQL: the journalist's payment with one wrong
digit in the court's account is matched, her listing is settled-pending and lifted by the
sweep on the third working day under `cn` (across the 2026 National Day week), a court's
objection keeps a listing entered, and no payment is ever dropped."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain import profiles
from kaimen.domain.errors import InputFileError
from kaimen.dueprocess import settlement
from kaimen.dueprocess.court_import import import_file as import_court_list
from kaimen.dueprocess.payment_import import (
    PaymentsRejected,
    import_payment_entries,
    import_payments_file,
)
from kaimen.dueprocess.settlement import (
    NotSettlable,
    PaymentDecided,
    ReasonRequired,
    approve_payment,
    lift_due_listings,
    object_to_settlement,
    payments_waiting,
    pending_removals,
    register_collection_account,
    reject_payment,
    review_queue,
)
from kaimen.enrolment import enrol_one
from kaimen.sharing.own_data import opt_out
from kaimen.store import access_log, audit, court_list, outbox
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import court_listings, outbox_messages, payments
from tests.conftest import make_national_id

CN = profiles.load("cn")
SHANGHAI = ZoneInfo("Asia/Shanghai")
IMPORTED = dt.datetime(2026, 9, 30, 10, 0, tzinfo=dt.UTC)  # 18:00 in Beijing
ID_JOURNALIST = make_national_id(birth="19800202", sequence="011")
ID_NEIGHBOUR = make_national_id(birth="19750505", sequence="022")
COURT = "北京市朝阳区人民法院"
ACCOUNT = "6222021001123456789"
MISTYPED = "6222021001123456780"  # the journalist's one wrong digit
CASE = "(2025)京0105执1234号"
OTHER_CASE = "(2025)京0105执5678号"
PAY_HEADER = (
    "transaction_id,payer_name,payer_id_number,amount,currency,paid_on,"
    "destination_account,reference\n"
)


def _court_list(tmp_path: Path) -> Path:
    path = tmp_path / "court.csv"
    path.write_text(
        "name,id_number,case_number,court,amount,currency,judgment_date,status\n"
        f"王记者,{ID_JOURNALIST},{CASE},{COURT},5000.00,CNY,2025-03-01,entered\n"
        f"李邻居,{ID_NEIGHBOUR},{OTHER_CASE},{COURT},5000.00,CNY,2025-04-01,entered\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def listed(engine: Engine, vault: IdentityVault, tmp_path: Path) -> dict[str, str]:
    """Two enrolled people, each linked to a listing of 5000 yuan at the same court."""
    journalist = enrol_one(engine, vault, "13800138001", ID_JOURNALIST, "tester", now=IMPORTED)
    neighbour = enrol_one(engine, vault, "13800138002", ID_NEIGHBOUR, "tester", now=IMPORTED)
    import_court_list(engine, vault, _court_list(tmp_path), "tester", now=IMPORTED)
    register_collection_account(engine, COURT, "6222 0210 0112 3456 789", "tester", now=IMPORTED)
    with engine.connect() as store:
        ids = {r.case_number: r.listing_id for r in store.execute(select(court_listings))}
    return {
        "journalist": journalist,
        "neighbour": neighbour,
        "listing": ids[CASE],
        "other_listing": ids[OTHER_CASE],
    }


def _payments(path: Path, *rows: str) -> Path:
    path.write_text(PAY_HEADER + "".join(rows), encoding="utf-8")
    return path


def _fine(transaction: str = "T-1", account: str = MISTYPED, reference: str = CASE) -> str:
    return f"{transaction},王记者,{ID_JOURNALIST},5000,CNY,2026-09-30,{account},罚款 {reference}\n"


def _status(engine: Engine, listing_id: str) -> str:
    with engine.connect() as store:
        found = court_list.listing(store, listing_id)
    assert found is not None
    return found.status


def _at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), SHANGHAI).astimezone(dt.UTC)


def test_the_journalists_payment_is_matched_and_lifted_on_the_third_working_day(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    path = _payments(tmp_path / "pay.csv", _fine())
    report = import_payments_file(engine, vault, CN, path, "tester", now=IMPORTED)
    assert (report.matched, report.review, report.unmatched) == (1, 0, 0)
    assert report.settled_listings == (listed["listing"],)
    assert report.people_changed == (listed["journalist"],)
    assert _status(engine, listed["listing"]) == "settled-pending"
    with engine.connect() as store:
        (row,) = store.execute(select(payments)).all()
        (clock,) = pending_removals(store, IMPORTED)
    assert row.state == "matched" and row.listing_id == listed["listing"]
    assert row.evidence["account_distance"] == 1 and row.evidence["case_number_distance"] == 0
    # Paid on Wednesday 30 September 2026: 1-7 October are the National Day holiday, the
    # 8th and 9th working days, and Saturday the 10th a make-up working day: the third.
    assert clock.due_at == _at(dt.date(2026, 10, 10))
    assert clock.subject == listed["journalist"] and not clock.overdue

    assert lift_due_listings(engine, CN, _at(dt.date(2026, 10, 7), 23), "worker").lifted == ()
    before = _at(dt.date(2026, 10, 10)) - dt.timedelta(seconds=1)
    assert lift_due_listings(engine, CN, before, "worker").lifted == ()
    assert _status(engine, listed["listing"]) == "settled-pending"
    lifted = lift_due_listings(engine, CN, _at(dt.date(2026, 10, 10), 0), "worker")
    assert lifted.lifted == (listed["listing"],)
    assert lifted.people_changed == (listed["journalist"],)
    assert _status(engine, listed["listing"]) == "lifted"
    assert lift_due_listings(engine, CN, _at(dt.date(2026, 10, 12)), "worker").lifted == ()
    with engine.connect() as store:
        history = [h.new_status for h in court_list.history(store, listed["listing"])]
        seen = [
            a.disclosed.get("status") for a in access_log.of_person(store, listed["journalist"])
        ]
        assert pending_removals(store, _at(dt.date(2026, 10, 12))) == []
    assert history == ["entered", "settled-pending", "lifted"]
    assert "lifted" in seen and "settled-pending" in seen
    assert audit.verify(engine) > 0
    # Nothing of the payer in clear.
    text = " ".join(str(v) for v in row)
    assert ID_JOURNALIST not in text and "王记者" not in text


def test_leaving_forgets_the_payers_details_and_the_notices_naming_them(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    """The payment (found by the payer's ID number) kept the payer's name and number, and the
    outbox the notices naming the person, after they left: no column named them."""
    import_payments_file(engine, vault, CN, _payments(tmp_path / "p.csv", _fine()), "t", IMPORTED)
    journalist = listed["journalist"]
    with engine.begin() as store:
        outbox.enqueue(store, "airline", "court_list.lifted", {"person_id": journalist}, IMPORTED)
        outbox.enqueue(store, "airline", "court_list.lifted", {"person_id": "someone"}, IMPORTED)
    opt_out(engine, tmp_path / "lake", journalist, f"person:{journalist}", now=IMPORTED)
    with engine.connect() as store:
        (row,) = store.execute(select(payments)).all()
        notices = store.execute(select(outbox_messages.c.payload)).scalars().all()
    assert (row.payer_id_hash, row.payer_id_encrypted) == (None, None)
    assert (row.payer_name_hash, row.payer_name_encrypted) == (None, None)
    assert row.amount == 5000 and row.listing_id == listed["listing"]
    assert [json.loads(n) if isinstance(n, str) else n for n in notices] == [
        {"person_id": "someone"}
    ]


def test_reimporting_the_same_file_or_transaction_changes_nothing(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    path = _payments(tmp_path / "pay.csv", _fine())
    import_payments_file(engine, vault, CN, path, "tester", now=IMPORTED)
    again = import_payments_file(engine, vault, CN, path, "tester", now=IMPORTED)
    assert again.replayed_file and again.matched == 0 and again.people_changed == ()
    # The same transaction in another file is counted as held, not stored twice.
    other = _payments(tmp_path / "pay2.csv", _fine(), _fine("T-2", reference="gift"))
    third = import_payments_file(engine, vault, CN, other, "tester", now=IMPORTED)
    assert not third.replayed_file and third.already_held == 1
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(payments)).scalar_one() == 2
    # The same transaction sent again with another amount or payer is refused, not dropped as
    # held: a bank's record is not changed by sending it again.
    changed = _payments(
        tmp_path / "pay3.csv",
        _fine("T-3", reference="new"),
        _fine().replace(",5000,", ",5100,"),
        _fine("T-2", reference="gift").replace("王记者", "王记"),
    )
    with pytest.raises(PaymentsRejected) as caught:
        import_payments_file(engine, vault, CN, changed, "tester", now=IMPORTED)
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (3, "amount"),
        (4, "payer_name"),
    ]
    assert "already held under this transaction id" in caught.value.errors[0].reason
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(payments)).scalar_one() == 2


def test_bad_rows_are_named_by_line_and_field_and_nothing_is_stored(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    bad_id = ID_JOURNALIST[:-1] + ("0" if ID_JOURNALIST[-1] != "0" else "1")
    path = _payments(
        tmp_path / "pay.csv",
        _fine(),
        "T-2,某人,,-5,CNY,2026-09-30,1,x\n",
        f"T-3,某人,{bad_id},10,CNY,2026-02-30,1,x\n",
        "T-4,某人,,10,XXX,2026-09-01,,x\n",
        "T-1,某人,,10,CNY,2026-09-01,1,x\n",
    )
    with pytest.raises(PaymentsRejected) as rejected:
        import_payments_file(engine, vault, CN, path, "tester", now=IMPORTED)
    named = {(e.line, e.field) for e in rejected.value.errors}
    assert named == {
        (3, "amount"),
        (4, "payer_id_number"),
        (4, "paid_on"),
        (5, "currency"),
        (5, "destination_account"),
        (6, "transaction_id"),
    }
    assert all(bad_id not in e.reason for e in rejected.value.errors)
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(payments)).scalar_one() == 0
    assert _status(engine, listed["listing"]) == "entered"
    with pytest.raises(InputFileError):
        import_payments_file(engine, vault, CN, tmp_path / "pay.parquet", "tester", now=IMPORTED)


def test_a_court_objection_before_the_deadline_keeps_the_listing_entered(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    import_payments_file(
        engine, vault, CN, _payments(tmp_path / "p.csv", _fine()), "tester", now=IMPORTED
    )
    with pytest.raises(ReasonRequired):
        object_to_settlement(engine, listed["listing"], "  ", "court", now=IMPORTED)
    change = object_to_settlement(
        engine,
        listed["listing"],
        "the transfer was returned",
        "court",
        now=_at(dt.date(2026, 10, 8)),
    )
    assert change.status == "entered" and change.people_changed == (listed["journalist"],)
    assert lift_due_listings(engine, CN, _at(dt.date(2026, 10, 20)), "worker").lifted == ()
    assert _status(engine, listed["listing"]) == "entered"
    queue = review_queue(engine, vault, "admin", now=IMPORTED)
    (item,) = queue.items
    assert item.payment.state == "review" and "returned" in (item.payment.note or "")
    with pytest.raises(NotSettlable):
        object_to_settlement(engine, listed["listing"], "again", "court", now=IMPORTED)


def test_without_a_case_number_the_payment_waits_for_review_and_can_be_approved(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    path = _payments(tmp_path / "p.csv", _fine(account=ACCOUNT, reference="court fine"))
    report = import_payments_file(engine, vault, CN, path, "tester", now=IMPORTED)
    assert (report.matched, report.review) == (0, 1)
    assert _status(engine, listed["listing"]) == "entered"
    (item,) = review_queue(engine, vault, "admin", now=IMPORTED).items
    assert item.payment.listing_id == listed["listing"] and item.candidate_case_number == CASE
    assert item.payer_name == "王记者"
    change = approve_payment(engine, CN, item.payment.payment_id, "admin", now=IMPORTED)
    assert change.status == "settled-pending" and change.last_day == dt.date(2026, 10, 10)
    assert change.people_changed == (listed["journalist"],)
    with pytest.raises(PaymentDecided):
        approve_payment(engine, CN, item.payment.payment_id, "admin", now=IMPORTED)


def test_paying_another_persons_case_goes_to_review_not_settlement(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    # The neighbour pays 5000 quoting the journalist's case number.
    row = f"T-9,李邻居,{ID_NEIGHBOUR},5000,CNY,2026-09-30,{ACCOUNT},{CASE}\n"
    report = import_payments_file(
        engine, vault, CN, _payments(tmp_path / "p.csv", row), "tester", now=IMPORTED
    )
    assert (report.matched, report.review) == (0, 1)
    assert _status(engine, listed["listing"]) == "entered"
    assert _status(engine, listed["other_listing"]) == "entered"


def test_unmatched_payments_are_kept_in_the_queue_and_rejection_keeps_them(
    engine: Engine, vault: IdentityVault, listed: dict[str, str]
) -> None:
    entries = [
        {
            "transaction_id": "T-5",
            "payer_name": None,
            "payer_id_number": None,
            "amount": "12.34",
            "currency": "CNY",
            "paid_on": "2026-09-29",
            "destination_account": "999",
            "reference": "a gift",
        }
    ]
    report = import_payment_entries(engine, vault, CN, entries, "api-admin", now=IMPORTED)
    assert report.unmatched == 1
    assert import_payment_entries(
        engine, vault, CN, entries, "api-admin", now=IMPORTED
    ).replayed_file
    queue = review_queue(engine, vault, "admin", now=IMPORTED)
    assert (queue.review, queue.unmatched) == (0, 1)
    with engine.connect() as store:
        (clock,) = payments_waiting(store, IMPORTED)
    assert clock.source == "payment_review" and clock.ref == queue.items[0].payment.payment_id
    (item,) = queue.items
    assert item.payment.state == "unmatched" and item.payment.listing_id is None
    with pytest.raises(NotSettlable):
        approve_payment(engine, CN, item.payment.payment_id, "admin", now=IMPORTED)
    # A reason a person reads, and PostgreSQL stores: no NUL or control characters (a 500).
    with pytest.raises(settlement.ReasonRequired, match="control or invisible"):
        reject_payment(engine, item.payment.payment_id, "\x00\x01bad", "admin")
    kept = reject_payment(engine, item.payment.payment_id, "not a judgment payment", "admin")
    assert kept.state == "rejected" and kept.note == "not a judgment payment"
    assert review_queue(engine, vault, "admin", now=IMPORTED).items == ()
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(payments)).scalar_one() == 1


def test_a_second_payment_of_a_settled_listing_is_matched_without_a_second_settlement(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    # The journalist paid again after the first transfer seemed lost.
    path = _payments(tmp_path / "p.csv", _fine(), _fine("T-2", account=ACCOUNT))
    report = import_payments_file(engine, vault, CN, path, "tester", now=IMPORTED)
    assert report.matched == 2 and report.settled_listings == (listed["listing"],)
    with engine.connect() as store:
        notes = sorted(str(r.note) for r in store.execute(select(payments)))
    assert notes[0].startswith("None") or "settled by payment" in notes[0]
    assert any("settled by payment" in n for n in notes)


def test_lifting_schedule_counts_working_days_from_the_payment_date() -> None:
    last, lift_at = settlement.lift_schedule(CN, dt.date(2026, 9, 30))
    assert last == dt.date(2026, 10, 10)
    assert lift_at == dt.datetime(2026, 10, 9, 16, 0, tzinfo=dt.UTC)
    us = profiles.load("us")
    assert settlement.lift_schedule(us, dt.date(2026, 9, 30))[0] > dt.date(2026, 9, 30)
    assert json.dumps(str(lift_at))


def test_a_listing_the_court_list_satisfies_meanwhile_is_not_lifted_over_it(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    import_payments_file(
        engine, vault, CN, _payments(tmp_path / "p.csv", _fine()), "tester", now=IMPORTED
    )
    later = tmp_path / "court-later.csv"
    later.write_text(
        _court_list(tmp_path)
        .read_text(encoding="utf-8")
        .replace("2025-03-01,entered", "2025-03-01,satisfied"),
        encoding="utf-8",
    )
    import_court_list(engine, vault, later, "court-feed", now=_at(dt.date(2026, 10, 8)))
    assert _status(engine, listed["listing"]) == "satisfied"
    with engine.connect() as store:
        assert pending_removals(store, _at(dt.date(2026, 10, 8))) == []
    assert lift_due_listings(engine, CN, _at(dt.date(2026, 10, 12)), "worker").lifted == ()
    assert _status(engine, listed["listing"]) == "satisfied"
