"""Court listings without a full ID number, resolved against enrolled people by name and the
visible digits, right after an import's exact links."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from kaimen.dueprocess import identity_links
from kaimen.dueprocess.court_import import import_entries, import_file
from kaimen.dueprocess.probabilistic_links import enrolled_share, resolve_listings
from kaimen.enrolment import enrol_many
from kaimen.simulate.names import population_names
from kaimen.simulate.population import make_population
from kaimen.store import audit, court_list
from kaimen.store.identity_vault import IdentityVault
from tests.conftest import NOW, make_national_id

TARGET_ID = make_national_id("110101", "19850307", "123")


def _same_tail_pair() -> tuple[str, str]:
    """Two numbers of region 110101 with the same last four characters, born apart."""
    first = make_national_id("110101", "19790611", "835")
    for day in range(1, 29):
        other = make_national_id("110101", f"198304{day:02d}", "835")
        if other[-1] == first[-1]:
            return first, other
    raise AssertionError("no pair")


TWIN_A, TWIN_B = _same_tail_pair()


def masked(number: str) -> str:
    return number[:6] + "*" * 8 + number[14:]


def _entry(name: str, number: str, case: str) -> dict[str, str | None]:
    return {
        "name": name,
        "id_number": number,
        "case_number": case,
        "court": "北京市东城区人民法院",
        "amount": "5000.00",
        "judgment_date": "2025-06-01",
    }


@pytest.fixture
def enrolled(engine: Engine, vault: IdentityVault) -> dict[str, str]:
    """2,000 simulated people with names, and 曾晓明 three times: the target, and two
    namesakes whose numbers end alike."""
    population = make_population(np.random.default_rng(11), 2_000, 11, dt.date(2026, 7, 1))
    names = population_names(11, population.national_id).to_pylist()
    rows: list[dict[str, str | None]] = [
        {"phone": phone, "national_id": number, "name": name}
        for phone, number, name in zip(
            population.phone.to_pylist(), population.national_id.to_pylist(), names, strict=True
        )
    ]
    crafted = {"target": TARGET_ID, "twin_a": TWIN_A, "twin_b": TWIN_B}
    for k, number in enumerate(crafted.values()):
        rows.append(
            {
                "phone": f"1390000{k:04d}",
                "national_id": number,
                "name": "曾晓明",
                "person_id": f"P-{k}",
            }
        )
    enrol_many(engine, vault, rows, list(range(1, len(rows) + 1)), "tester", NOW)
    return {key: f"P-{k}" for k, key in enumerate(crafted)}


def _links(engine: Engine, person_id: str) -> list[court_list.Link]:
    with engine.connect() as store:
        return [link for link, _ in court_list.linked_listings(store, person_id)]


def test_a_masked_id_and_a_pinyin_name_link_the_right_person_on_import(
    engine: Engine, vault: IdentityVault, enrolled: dict[str, str]
) -> None:
    report = import_entries(
        engine, vault, [_entry("Zeng Xiaoming", masked(TARGET_ID), "(2025)京0101执1号")], "court"
    )
    assert (report.linked, report.auto_linked, report.queued_for_review) == (0, 1, 0)
    assert report.people_changed == (enrolled["target"],)
    (link,) = _links(engine, enrolled["target"])
    assert link.method == "probabilistic" and link.approved_by == "system"
    assert link.match_probability >= 0.99
    assert _links(engine, enrolled["twin_a"]) == [] and _links(engine, enrolled["twin_b"]) == []
    # Resolving again finds nothing new: the listing is linked.
    again = resolve_listings(engine, vault, "t", NOW)
    assert (again.listings, again.auto_linked, again.queued) == (0, 0, 0)
    assert audit.verify(engine) > 0


def test_a_namesake_pair_goes_to_review_and_approval_links_by_review(
    engine: Engine, vault: IdentityVault, enrolled: dict[str, str]
) -> None:
    report = import_entries(
        engine, vault, [_entry("曾晓明", masked(TWIN_A), "(2025)京0101执2号")], "court"
    )
    assert (report.auto_linked, report.queued_for_review) == (0, 1)
    assert report.people_changed == ()
    (pending,) = identity_links.pending_reviews(engine, vault, "admin")
    assert pending.review.person_id in {enrolled["twin_a"], enrolled["twin_b"]}
    assert 0.3 <= pending.review.match_probability < 0.5
    approved = identity_links.approve_review(engine, pending.review.review_id, "admin")
    assert approved.link is not None
    assert approved.link.method == "review" and approved.link.approved_by == "admin"
    assert _links(engine, pending.review.person_id) == [approved.link]


def test_a_listing_nobody_resembles_is_left_alone(
    engine: Engine, vault: IdentityVault, enrolled: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "name,id_number,case_number,court,amount,judgment_date\n"
        f"欧阳娜娜,{masked(make_national_id('440103', '19990101', '024'))},c9,广州,10,2025-01-01\n",
        encoding="utf-8",
    )
    report = import_file(engine, vault, path, "court")
    assert (report.auto_linked, report.queued_for_review, report.people_changed) == (0, 0, ())


def test_the_share_enrolled_is_estimated_from_exact_links(
    engine: Engine, vault: IdentityVault, enrolled: dict[str, str]
) -> None:
    assert enrolled_share(0, 0) == 0.5
    outsider = make_national_id("440103", "19990101", "024")
    import_entries(
        engine,
        vault,
        [
            _entry("曾晓明", TARGET_ID, "c1"),
            _entry("某人", outsider, "c2"),
            _entry("某", outsider, "c3"),
        ],
        "court",
    )
    resolved = resolve_listings(engine, vault, "t", NOW)
    assert resolved.enrolled_share == pytest.approx(enrolled_share(1, 3)) == 0.4


def test_the_report_counts_match_the_store(
    engine: Engine, vault: IdentityVault, enrolled: dict[str, str]
) -> None:
    entries = [
        _entry("Zeng Xiaoming", masked(TARGET_ID), "c1"),
        _entry("曾晓明", masked(TWIN_A), "c2"),
    ]
    report = import_entries(engine, vault, entries, "court")
    court = entries[0]["court"]
    assert court is not None
    with engine.connect() as store:
        held = court_list.listings_for_cases(store, [(court, "c1"), (court, "c2")])
        live = court_list.live_links_of_listings(store, [x.listing_id for x in held.values()])
        pending = court_list.pending_reviews(store, 10)
    assert report.auto_linked == len(live) == 1
    assert report.queued_for_review == len(pending) == 1
    assert {link.person_id for link in live.values()} == {enrolled["target"]}


def test_resolution_logs_no_name_and_no_number(
    engine: Engine,
    vault: IdentityVault,
    enrolled: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        report = import_entries(
            engine, vault, [_entry("Zeng Xiaoming", masked(TARGET_ID), "c1")], "court"
        )
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert report.auto_linked == 1
    for secret in ("Zeng Xiaoming", "曾晓明", TARGET_ID, masked(TARGET_ID)):
        assert secret not in caplog.text
