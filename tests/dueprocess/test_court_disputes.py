"""Disputes of a court listing (the court answers, through the admin) and of an identity link
("that is not me": kaimen answers); a link dispute that ends against the link un-merges."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.disputes import (
    COURT,
    KAIMEN,
    Answer,
    DisputeNotFound,
    DisputeRejected,
    DisputeState,
    ItemKind,
    ItemNotFound,
    ItemRef,
    ItemState,
)
from kaimen.dueprocess import answering, disputing, identity_links, restrictions, sweeps
from kaimen.dueprocess.court_import import import_entries
from kaimen.enrolment import enrol_one
from kaimen.store import audit, court_list
from kaimen.store import disputes as dispute_rows
from kaimen.store.identity_vault import IdentityVault
from tests.conftest import make_national_id

NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
ID_WANG = make_national_id(birth="19850512", sequence="001")
ID_LI = make_national_id(birth="19920101", sequence="002")
PROFILE = profiles.load("cn")
ADMIN = Caller.admin()
STATEMENT = "I have never been sued; this judgment is about someone else."


class Court:
    """Two enrolled people, a listing linked exactly to Wang, and the paths to dispute."""

    def __init__(self, engine: Engine, vault: IdentityVault, tmp_path: Path) -> None:
        self.engine = engine
        self.vault = vault
        self.lake_root = tmp_path / "lake"
        self.evidence_dir = tmp_path / "evidence"
        self.wang = enrol_one(engine, vault, "13800138000", ID_WANG, "t", now=NOW, name="王伟")
        self.li = enrol_one(engine, vault, "13900139000", ID_LI, "t", now=NOW, name="李娜")
        entry: dict[str, str | None] = {
            "name": "王伟",
            "id_number": ID_WANG,
            "case_number": "(2025)京0101执77号",
            "court": "北京市东城区人民法院",
            "amount": "8000.00",
            "judgment_date": "2025-06-01",
        }
        report = import_entries(engine, vault, [entry], "court", NOW)
        assert report.linked == 1
        with engine.connect() as store:
            ((self.link, self.listing),) = court_list.linked_listings(store, self.wang)

    def file(self, person_id: str, item: ItemRef, now: dt.datetime = NOW) -> disputing.Filed:
        return disputing.file_dispute(
            self.engine,
            self.lake_root,
            self.evidence_dir,
            PROFILE,
            Caller.person(person_id),
            person_id,
            item,
            STATEMENT,
            now=now,
        )

    def answer(self, dispute_id: str, answer: Answer) -> answering.Answered:
        return answering.answer_dispute(
            self.engine, self.lake_root, PROFILE, ADMIN, dispute_id, answer, now=NOW
        )

    def state(self, item: ItemRef) -> ItemState | None:
        with self.engine.connect() as store:
            found = dispute_rows.item_state(store, item)
        return None if found is None else found.state

    def restricted(self, person_id: str) -> bool:
        return restrictions.check_restriction(
            self.engine, self.vault, PROFILE, "partner:airline", "air_travel", person_id, now=NOW
        ).restricted

    def live_links(self, person_id: str) -> list[court_list.Link]:
        with self.engine.connect() as store:
            return [link for link, _ in court_list.linked_listings(store, person_id)]


@pytest.fixture
def court(engine: Engine, vault: IdentityVault, tmp_path: Path) -> Court:
    return Court(engine, vault, tmp_path)


def test_a_person_disputes_a_listing_and_the_court_s_deletion_suppresses_it(court: Court) -> None:
    item = ItemRef(ItemKind.COURT_LISTING, court.listing.listing_id)
    with pytest.raises(ItemNotFound):
        court.file(court.li, item)  # someone else's listing is answered as unknown
    filed = court.file(court.wang, item)
    assert filed.dispute.furnisher == COURT
    assert court.state(item) is ItemState.DISPUTED
    assert court.restricted(court.wang)  # pending: the court's restriction still stands
    with pytest.raises(DisputeNotFound):
        answering.answer_dispute(
            court.engine,
            court.lake_root,
            PROFILE,
            Caller.partner("lender", "k", ("disputes",)),
            filed.dispute.dispute_id,
            Answer.DELETED,
        )
    answered = court.answer(filed.dispute.dispute_id, Answer.DELETED)
    assert answered.dispute.state is DisputeState.DELETED
    assert court.state(item) is ItemState.SUPPRESSED
    assert not court.restricted(court.wang)  # the court deleted it: nothing restricts
    # The listing is suppressed for scoring; the link itself was not what was disputed.
    assert court.live_links(court.wang) == [court.link]
    assert audit.verify(court.engine) > 0


def test_a_person_disputes_a_link_and_an_unverifiable_answer_un_merges(court: Court) -> None:
    item = ItemRef(ItemKind.IDENTITY_LINK, court.link.link_id)
    with pytest.raises(ItemNotFound):
        court.file(court.li, item)
    filed = court.file(court.wang, item)
    assert filed.dispute.furnisher == KAIMEN
    answered = court.answer(filed.dispute.dispute_id, Answer.UNVERIFIABLE)
    assert court.state(item) is ItemState.SUPPRESSED
    assert answered.rescore == (court.wang,)
    assert court.live_links(court.wang) == []
    with court.engine.connect() as store:
        undone = court_list.link(store, court.link.link_id)
    assert undone is not None and not undone.live
    assert undone.undo_reason == f"dispute {filed.dispute.dispute_id} ended unverifiable"
    # An undone link is no longer negative: a second dispute of it is refused as such, and
    # the listing is no longer Wang's to dispute.
    with pytest.raises(DisputeRejected):
        court.file(court.wang, item)
    with pytest.raises(ItemNotFound):
        court.file(court.wang, ItemRef(ItemKind.COURT_LISTING, court.listing.listing_id))


def test_a_verified_link_stands(court: Court) -> None:
    item = ItemRef(ItemKind.IDENTITY_LINK, court.link.link_id)
    filed = court.file(court.wang, item)
    court.answer(filed.dispute.dispute_id, Answer.VERIFIED)
    assert court.live_links(court.wang) == [court.link]
    assert court.state(item) is None


def test_a_lapsed_link_dispute_un_merges(court: Court) -> None:
    item = ItemRef(ItemKind.IDENTITY_LINK, court.link.link_id)
    filed = court.file(court.wang, item)
    due = filed.dispute.answer_due_at
    assert answering.lapse_overdue(court.engine, court.lake_root, PROFILE, "sweep", due) != []
    assert court.state(item) is ItemState.SUPPRESSED
    assert court.live_links(court.wang) == []
    # Un-merged for good: the exact step does not link the listing again.
    assert identity_links.link_exact_matches(court.engine, "t", due).linked == 0
    assert court.live_links(court.wang) == []


def test_a_person_enrolled_after_the_import_is_linked_by_the_next_worker_round(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    late = make_national_id(birth="19700303", sequence="005")
    entry: dict[str, str | None] = {
        "name": "张伟",
        "id_number": late,
        "case_number": "(2025)京0101执88号",
        "court": "北京市东城区人民法院",
        "amount": "1200.00",
        "judgment_date": "2025-07-01",
    }
    assert import_entries(engine, vault, [entry], "court", NOW).linked == 0
    person = enrol_one(engine, vault, "13700137000", late, "t", now=NOW)
    done = sweeps.run_round(engine, vault, tmp_path / "lake", PROFILE, NOW)
    assert done.linked == 1
    with engine.connect() as store:
        ((link, listing),) = court_list.linked_listings(store, person)
    assert (link.method, listing.case_number) == ("exact_id", "(2025)京0101执88号")
    assert sweeps.run_round(engine, vault, tmp_path / "lake", PROFILE, NOW).linked == 0
