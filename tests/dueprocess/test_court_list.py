"""The court list: import (CSV, JSON Lines, HTTP entries), replays, row errors, status
changes and their history, exact links, the review queue and un-merging, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain.errors import InputFileError
from kaimen.dueprocess import identity_links
from kaimen.dueprocess.court_import import CourtListRejected, import_entries, import_file
from kaimen.dueprocess.court_listings import listing_for_admin
from kaimen.enrolment import enrol_one
from kaimen.sharing.own_data import opt_out
from kaimen.store import access_log, audit, court_list
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import (
    audit_log,
    court_listing_history,
    court_listings,
    link_reviews,
)
from kaimen.store.tables import (
    identity_links as links_table,
)
from tests.conftest import NOW, make_national_id

ID_ZHANG = make_national_id(birth="19850512", sequence="001")
ID_LI = make_national_id(birth="19920101", sequence="002")
MASKED_LI = ID_LI[:6] + "********" + ID_LI[14:]
NAME_ZHANG = "张三丰"
NAME_LI = "李四光"
HEADER = "name,id_number,case_number,court,amount,currency,judgment_date,status\n"


def _row(
    name: str, number: str, case: str, status: str = "entered", amount: str = "1200.50"
) -> str:
    return f"{name},{number},{case},北京市第一中级人民法院,{amount},,2025-06-01,{status}\n"


def _csv(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as store:
        return int(store.execute(select(func.count()).select_from(table)).scalar_one())


def _enrol(engine: Engine, vault: IdentityVault, number: str, phone: str) -> str:
    return enrol_one(engine, vault, phone, number, "tester", now=NOW)


def test_a_csv_imports_once_and_links_the_enrolled_person_exactly(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    zhang = _enrol(engine, vault, ID_ZHANG, "13800138000")
    path = _csv(
        tmp_path / "list.csv",
        _row(NAME_ZHANG, ID_ZHANG, "(2025)京01执1号"),
        _row(NAME_LI, MASKED_LI, "(2025)京01执2号"),
    )
    report = import_file(engine, vault, path, "tester", now=NOW)
    assert (report.rows, report.new_listings, report.linked) == (2, 2, 1)
    assert report.people_changed == (zhang,)
    with engine.connect() as store:
        rows = {r.case_number: r for r in store.execute(select(court_listings))}
        (link,) = store.execute(select(links_table)).all()
    assert rows["(2025)京01执1号"].id_form == "full"
    assert rows["(2025)京01执2号"].id_form == "masked"
    assert rows["(2025)京01执2号"].birth_date is None  # its birth digits are masked
    assert str(rows["(2025)京01执1号"].birth_date) == "1985-05-12"
    assert str(rows["(2025)京01执1号"].amount) == "1200.50"
    assert rows["(2025)京01执1号"].currency == "CNY"
    assert link.person_id == zhang and link.method == "exact_id"
    assert float(link.match_probability) == 1.0 and link.approved_by == "system"
    # Nothing in clear: not the name, not the number, not the masked pattern.
    for row in rows.values():
        text = " ".join(str(v) for v in row)
        for secret in (NAME_ZHANG, NAME_LI, ID_ZHANG, MASKED_LI):
            assert secret not in text
    assert vault.decrypt("court_name", rows["(2025)京01执1号"].name_encrypted) == NAME_ZHANG

    again = import_file(engine, vault, path, "tester", now=NOW)
    assert again.replayed_file and again.new_listings == 0 and again.people_changed == ()
    assert _count(engine, court_listings) == 2
    # The person sees the link in their access log.
    with engine.connect() as store:
        (entry,) = access_log.of_person(store, zhang)
    assert entry.what == "identity_link" and entry.disclosed["case_number"] == "(2025)京01执1号"
    assert audit.verify(engine) >= 3


def test_json_lines_and_http_entries_import_the_same_way(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    entry = {
        "name": NAME_LI,
        "id_number": ID_LI,
        "case_number": "(2024)沪02执9号",
        "court": "上海市第二中级人民法院",
        "amount": "88000",
        "currency": "cny",
        "judgment_date": "2024-03-05",
        "status": "entered",
    }
    path = tmp_path / "list.jsonl"
    path.write_text("\n" + json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")
    assert import_file(engine, vault, path, "tester", now=NOW).new_listings == 1
    other = {**entry, "case_number": "(2024)沪02执10号"}
    first = import_entries(engine, vault, [other], "admin", now=NOW)
    assert first.new_listings == 1 and not first.replayed_file
    assert import_entries(engine, vault, [other], "admin", now=NOW).replayed_file
    assert _count(engine, court_listings) == 2


def test_bad_rows_are_named_by_line_and_field_and_nothing_is_stored(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path / "bad.csv",
        _row(NAME_ZHANG, ID_ZHANG, "c1"),
        _row(NAME_LI, "12345", "c2"),
        _row("", ID_LI, "c3"),
        _row(NAME_LI, ID_LI, "c4", status="paid"),
        _row(NAME_LI, ID_LI, "c5", amount="-3"),
        _row(NAME_LI, ID_LI, "c1"),
        f"{NAME_LI},{ID_LI},c6,某法院,10,XXX,2025-02-30,entered\n",
    )
    with pytest.raises(CourtListRejected) as caught:
        import_file(engine, vault, path, "tester", now=NOW)
    found = {(e.line, e.field) for e in caught.value.errors}
    assert found == {
        (3, "id_number"),
        (4, "name"),
        (5, "status"),
        (6, "amount"),
        (7, "case_number"),
        (8, "currency"),
        (8, "judgment_date"),
    }
    reasons = " ".join(e.reason for e in caught.value.errors)
    assert "repeats line 2" in reasons
    for secret in (NAME_ZHANG, NAME_LI, ID_ZHANG, ID_LI, "12345"):
        assert secret not in reasons and secret not in str(caught.value)
    assert _count(engine, court_listings) == 0
    assert _count(engine, audit_log) == 0
    with pytest.raises(InputFileError):
        import_file(engine, vault, tmp_path / "list.parquet", "tester", now=NOW)


def test_thousands_separators_are_read_only_where_they_separate_thousands(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    """`12,34` is not 1,234 (every comma was dropped before): refused, not guessed."""
    bad = _csv(
        tmp_path / "commas.csv",
        _row(NAME_ZHANG, ID_ZHANG, "c1", amount='"1,200.50"'),
        _row(NAME_LI, ID_LI, "c2", amount='"12,34"'),
        _row(NAME_LI, ID_LI, "c3", amount='",,5,"'),
        _row(NAME_LI, ID_LI, "c4", amount='"1,2345"'),
    )
    with pytest.raises(CourtListRejected) as caught:
        import_file(engine, vault, bad, "tester", now=NOW)
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (3, "amount"),
        (4, "amount"),
        (5, "amount"),
    ]
    good = _csv(
        tmp_path / "grouped.csv",
        _row(NAME_ZHANG, ID_ZHANG, "c1", amount='"1,200.50"'),
        _row(NAME_LI, ID_LI, "c2", amount='"12,345,678"'),
    )
    import_file(engine, vault, good, "tester", now=NOW)
    with engine.connect() as store:
        rows = store.execute(select(court_listings.c.case_number, court_listings.c.amount))
        amounts = {case: str(amount) for case, amount in rows}
    assert amounts == {
        "c1": "1200.50",
        "c2": "12345678.00",
    }


def test_a_later_file_changes_a_status_with_history_and_refuses_an_impossible_one(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    zhang = _enrol(engine, vault, ID_ZHANG, "13800138000")
    case = "(2025)京01执1号"
    import_file(engine, vault, _csv(tmp_path / "a.csv", _row(NAME_ZHANG, ID_ZHANG, case)), "t")
    paid = import_file(
        engine,
        vault,
        _csv(
            tmp_path / "b.csv",
            _row(NAME_ZHANG, ID_ZHANG, case, status="satisfied"),
            _row(NAME_LI, ID_LI, "other"),
        ),
        "court-feed",
    )
    assert (paid.new_listings, paid.status_changes, paid.unchanged) == (1, 1, 0)
    assert paid.people_changed == (zhang,)  # no longer restricted: re-score them
    with engine.connect() as store:
        listing_id = store.execute(
            select(court_listings.c.listing_id).where(court_listings.c.case_number == case)
        ).scalar_one()
        changes = court_list.history(store, listing_id)
        assert [(c.old_status, c.new_status) for c in changes] == [
            (None, "entered"),
            ("entered", "satisfied"),
        ]
        assert changes[1].actor == "court-feed" and changes[1].source.startswith("file:")
        assert access_log.of_person(store, zhang)[0].what == "court_listing"
    # The same values as the first file, written differently (else it would be a replay).
    back = _csv(tmp_path / "c.csv", _row(NAME_ZHANG, ID_ZHANG, case, "entered", "1200.5"))
    with pytest.raises(CourtListRejected) as caught:
        import_file(engine, vault, back, "t")
    (error,) = caught.value.errors
    assert (error.line, error.field) == (
        2,
        "status",
    ) and "satisfied, which is final" in error.reason
    changed = _csv(tmp_path / "d.csv", _row(NAME_LI, ID_LI, "other", amount="5"))
    with pytest.raises(CourtListRejected) as caught:
        import_file(engine, vault, changed, "t")
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "amount")]
    assert _count(engine, court_listing_history) == 3


def test_names_and_numbers_never_reach_logs_or_the_audit_log(
    engine: Engine, vault: IdentityVault, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        _enrol(engine, vault, ID_ZHANG, "13800138000")
        path = _csv(
            tmp_path / "a.csv",
            _row(NAME_ZHANG, ID_ZHANG, "c1"),
            _row(NAME_LI, MASKED_LI, "c2"),
        )
        import_file(engine, vault, path, "tester", now=NOW)
        with pytest.raises(CourtListRejected):
            import_file(engine, vault, _csv(tmp_path / "b.csv", _row(NAME_LI, "1" * 5, "c9")), "t")
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    for secret in (NAME_ZHANG, NAME_LI, ID_ZHANG, MASKED_LI):
        assert secret not in caplog.text
    with engine.connect() as store:
        rows = store.execute(select(audit_log.c.action, audit_log.c.details)).all()
    details = " ".join(r.details for r in rows)
    assert "court_list.imported" in {r.action for r in rows}
    for secret in (NAME_ZHANG, NAME_LI, ID_ZHANG, MASKED_LI):
        assert secret not in details


def test_a_masked_id_goes_to_review_and_is_approved_rejected_and_unmerged(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    li = _enrol(engine, vault, ID_LI, "13900139000")
    zhang = _enrol(engine, vault, ID_ZHANG, "13800138000")
    import_file(engine, vault, _csv(tmp_path / "a.csv", _row(NAME_LI, MASKED_LI, "c2")), "t")
    assert _count(engine, links_table) == 0  # a masked number never links on its own
    table = identity_links.listings_to_resolve(engine, vault)
    assert table.column("name").to_pylist() == [NAME_LI]
    assert table.column("id_pattern").to_pylist() == [MASKED_LI]
    (listing_id,) = table.column("listing_id").to_pylist()
    queued = identity_links.apply_matches(
        engine,
        [],
        [
            identity_links.Candidate(listing_id, li, 0.8),
            identity_links.Candidate(listing_id, zhang, 0.6),
        ],
        "matcher",
    )
    assert queued.queued == 2 and queued.people_changed == ()
    pending = identity_links.pending_reviews(engine, vault, "admin")
    assert [p.review.person_id for p in pending] == [li, zhang]
    assert pending[0].name == NAME_LI and pending[0].id_number == MASKED_LI
    rejected = identity_links.reject_review(engine, pending[1].review.review_id, "admin")
    assert rejected.review is not None and rejected.review.state == "rejected"
    approved = identity_links.approve_review(engine, pending[0].review.review_id, "admin")
    assert approved.link is not None and approved.link.method == "review"
    assert approved.link.approved_by == "admin" and approved.people_changed == (li,)
    with pytest.raises(identity_links.ReviewClosed):
        identity_links.approve_review(engine, pending[0].review.review_id, "admin")

    with pytest.raises(identity_links.UnlinkRejected):
        identity_links.unlink(engine, approved.link.link_id, "admin", "  ")
    undone = identity_links.unlink(engine, approved.link.link_id, "admin", "different person")
    assert undone.people_changed == (li,)
    assert undone.link is not None and undone.link.undo_reason == "different person"
    with pytest.raises(identity_links.LinkNotLive):
        identity_links.unlink(engine, approved.link.link_id, "admin", "again")
    with engine.connect() as store:
        assert court_list.linked_listings(store, li) == []
        assert "undone" in access_log.of_person(store, li)[0].disclosed
    # An un-merge sticks: the listing is not handed to matching again.
    assert identity_links.listings_to_resolve(engine, vault).num_rows == 0
    again = identity_links.apply_matches(
        engine, [identity_links.Candidate(listing_id, li, 0.99)], [], "matcher"
    )
    assert again.linked == 0
    view = listing_for_admin(engine, vault, listing_id, "admin")
    assert view.name == NAME_LI and len(view.links) == 1 and not view.links[0].live
    assert _count(engine, link_reviews) == 2
    assert audit.verify(engine) > 0


def test_an_automatic_probabilistic_link_and_a_late_enrolment(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    import_file(
        engine,
        vault,
        _csv(tmp_path / "a.csv", _row(NAME_ZHANG, ID_ZHANG, "c1"), _row(NAME_LI, MASKED_LI, "c2")),
        "t",
    )
    li = _enrol(engine, vault, ID_LI, "13900139000")
    zhang = _enrol(engine, vault, ID_ZHANG, "13800138000")
    exact = identity_links.link_exact_matches(engine, "t")
    assert exact.people_changed == (zhang,)
    (listing_id,) = (
        identity_links.listings_to_resolve(engine, vault).column("listing_id").to_pylist()
    )
    auto = identity_links.apply_matches(
        engine, [identity_links.Candidate(listing_id, li, 0.999)], [], "matcher"
    )
    assert auto.linked == 1 and auto.people_changed == (li,)
    with engine.connect() as store:
        ((link, _),) = court_list.linked_listings(store, li)
    assert link.method == "probabilistic" and link.match_probability == pytest.approx(0.999)


def test_opting_out_removes_their_links_but_not_the_court_s_listing(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    zhang = _enrol(engine, vault, ID_ZHANG, "13800138000")
    import_file(engine, vault, _csv(tmp_path / "a.csv", _row(NAME_ZHANG, ID_ZHANG, "c1")), "t")
    opt_out(engine, tmp_path / "lake", zhang, "person")
    assert _count(engine, links_table) == 0 and _count(engine, court_listings) == 1
    # Nobody to link it to: their identities went with them.
    assert identity_links.link_exact_matches(engine, "t").linked == 0


def test_a_file_still_listing_a_settled_case_as_entered_changes_nothing(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    import_file(engine, vault, _csv(tmp_path / "a.csv", _row(NAME_LI, ID_LI, "c1")), "t")
    with engine.begin() as store:
        listing_id = store.execute(select(court_listings.c.listing_id)).scalar_one()
        court_list.set_statuses(store, [(listing_id, "settled-pending")], NOW)
    later = _csv(tmp_path / "b.csv", _row(NAME_LI, ID_LI, "c1", amount="1200.5"))
    report = import_file(engine, vault, later, "t")
    assert (report.status_changes, report.unchanged) == (0, 1)
    with engine.connect() as store:
        listing = court_list.listing(store, listing_id)
    assert listing is not None and listing.status == "settled-pending"


def test_a_case_written_with_other_spaces_or_brackets_is_the_same_listing(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    """The court's later file wrote the case with a space and full-width brackets: it made a
    second listing, and the first stayed `entered`, restricting the person after payment."""
    first = _csv(tmp_path / "first.csv", _row(NAME_ZHANG, ID_ZHANG, "(2025)京01执1234号"))
    assert import_file(engine, vault, first, "tester", now=NOW).new_listings == 1
    later = _csv(
        tmp_path / "later.csv", _row(NAME_ZHANG, ID_ZHANG, "（2025）京01执 1234号", "satisfied")
    )
    report = import_file(engine, vault, later, "tester", now=NOW)
    assert (report.new_listings, report.status_changes) == (0, 1)
    with engine.connect() as store:
        (listing,) = store.execute(select(court_listings)).all()
    assert (listing.case_number, listing.case_key, listing.status) == (
        "(2025)京01执1234号",
        "2025京01执1234号",
        "satisfied",
    )
    # Twice in one file, written two ways: the second names the first.
    twice = _csv(
        tmp_path / "twice.csv",
        _row(NAME_LI, ID_LI, "(2025)京01执77号"),
        _row(NAME_LI, ID_LI, "(2025) 京01执77号"),
    )
    with pytest.raises(CourtListRejected) as refused:
        import_file(engine, vault, twice, "tester", now=NOW)
    assert [(e.line, e.field, e.reason) for e in refused.value.errors] == [
        (3, "case_number", "repeats line 2")
    ]
