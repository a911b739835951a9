"""Retention on SQLite and PostgreSQL: a repayment paid late in 2021 stops counting under `cn`
(five years from the end of the conduct) and the person is re-scored at once, then is purged
from the lake files, the summaries and the sealed inbox (the manifest still verifies, and the
key stays indexed so a resend is a duplicate); under `us` (seven years) it still counts; a
court listing satisfied in 2020 is removed with its history and links, one still open is
not; every step is audited and the chain verifies."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain import profiles
from kaimen.dueprocess.court_import import import_file as import_court_list
from kaimen.dueprocess.rescoring import rescore_now
from kaimen.dueprocess.retention import expire_events, sweep_retention
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_one
from kaimen.features.build import build_features
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.scoring.batch import load_model
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.sharing.reports import own_report
from kaimen.store import access_log, audit, court_list, event_keys, lake_manifest, summary_manifest
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import (
    audit_log,
    court_listing_history,
    court_listings,
    event_inbox,
    expired_items,
    identity_links,
    lake_files,
)
from tests.conftest import make_national_id
from tests.population import BACKENDS, LAST, Populations, World
from tests.scoring.test_rescore import LATER, _batch_now, _stored

CN = profiles.load("cn")
US = profiles.load("us")
SOURCE = "old-lender"
OLD_EVENT = "OLD-1"
COURT = "北京市朝阳区人民法院"


def _old_late_repayment(person_id: str) -> dict[str, str | None]:
    """Due January 2021, paid on 1 March 2021: the conduct ended then (cn: expired on
    1 March 2026; us: on 1 March 2028)."""
    return {
        "source": SOURCE,
        "event_id": OLD_EVENT,
        "person_id": person_id,
        "kind": "loan_repayment",
        "occurred_at": "2021-01-15T08:00:00+00:00",
        "recorded_at": "2021-03-02T08:00:00+00:00",
        "amount": "800.00",
        "currency": "CNY",
        "due_date": "2021-01-10",
        "paid_date": "2021-03-01",
        "status": "late",
    }


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, populations: Populations) -> Iterator[World]:
    with populations.copy("scored", request.param) as population, population.opened() as w:
        yield w


def _person_without_fines(world: World) -> str:
    """A scored person with no unpaid fine: the card's `unpaid_fines` (all time, so the
    only characteristic an item from 2021 reaches) takes points for a first one."""
    scored = sorted(p for p, row in _stored(world.engine).items() if row["score"] is not None)
    _, card = load_model(world.engine, lake_root=world.lake)
    assert "unpaid_fines" in {c.name for c in card.characteristics}
    rows = build_features(
        ibis_connection(), summary_paths(world.engine, world.lake), LAST, scored
    ).to_pylist()
    return min(r["person_id"] for r in rows if r["unpaid_fines"] == 0)


def _old_unpaid_fine(person_id: str) -> dict[str, str | None]:
    """Issued on 1 February 2021 and never paid: the conduct is counted from the issue."""
    return {
        "source": SOURCE,
        "event_id": "FINE-1",
        "person_id": person_id,
        "kind": "fine",
        "occurred_at": "2021-02-01T08:00:00+00:00",
        "recorded_at": "2021-02-02T08:00:00+00:00",
        "amount": "200.00",
        "currency": "CNY",
        "status": "issued",
        "case_number": "F-2021-1",
    }


def _arrives(world: World, event: dict[str, str | None], person: str) -> int | None:
    """The event is received, sealed and counted at once; the person's score then."""
    assert accept_events(world.engine, world.lake, [event], "admin", LATER).new == 1
    seal_inbox(world.engine, world.lake, "admin", LATER)
    (revision,) = rescore_now(
        world.engine, world.lake, CN, [person], "late report", str(event["event_id"]),
        "reported late", "admin", LATER,
    )  # fmt: skip
    assert _batch_now(world)[person] == _stored(world.engine)[person]
    return revision.score_after


def _unpaid_fines(world: World, person: str) -> int:
    report = own_report(world.engine, world.lake, person, now=LATER, profile=CN)
    return report.open_delinquencies.unpaid_fines


def _lake_rows_of(world: World, source: str, event_id: str) -> int:
    with world.engine.connect() as store:
        files = [str(world.lake / p) for p in lake_manifest.files(store)]
    ((found,),) = duckdb.sql(
        "SELECT count(*) FROM read_parquet($files, hive_partitioning = false) "
        "WHERE source = $source AND event_id = $event",
        params={"files": files, "source": source, "event": event_id},
    ).fetchall()
    return int(found)


def _manifest_verifies(world: World) -> None:
    """Every listed lake file exists with the row count and checksum the manifest holds."""
    with world.engine.connect() as store:
        listed = store.execute(select(lake_files.c.path, lake_files.c.rows, lake_files.c.sha256))
        for path, rows, sha256 in listed:
            data = (world.lake / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == sha256, path
            assert pq.ParquetFile(world.lake / path).metadata.num_rows == rows, path


def _actions(engine: Engine) -> list[str]:
    with engine.connect() as store:
        return list(store.execute(select(audit_log.c.action).order_by(audit_log.c.seq)).scalars())


def test_a_late_repayment_past_five_years_stops_counting_under_cn_and_is_purged(
    world: World,
) -> None:
    person = _person_without_fines(world)
    without = _stored(world.engine)[person]["score"]
    # The old repayment arrives and is counted (the batch would count it too).
    counted = _arrives(world, _old_late_repayment(person), person)
    with world.engine.connect() as store:
        files_before, rows_before = lake_manifest.totals(store)

    # Under us the conduct ended less than seven years ago: it still counts.
    kept = sweep_retention(world.engine, world.lake, US, LATER, "worker")
    assert kept.cutoff == dt.date(2019, 11, 19)  # still the 19th in New York
    assert (kept.expiry.events, kept.purge.events, kept.revisions) == (0, 0, ())
    assert _stored(world.engine)[person]["score"] == counted
    assert _lake_rows_of(world, SOURCE, OLD_EVENT) == 1

    # Under cn it ended more than five years ago: it stops counting, then leaves the lake.
    swept = sweep_retention(world.engine, world.lake, CN, LATER, "worker")
    assert swept.cutoff == dt.date(2021, 11, 20)
    assert (swept.expiry.events, swept.expiry.people) == (1, (person,))
    (revision,) = swept.revisions
    assert (revision.person_id, revision.cause) == (person, "retention")
    assert revision.score_before == counted
    # As if it had never arrived (the card counts a 2021 repayment in no window, so the
    # score is the same number: the fine below moves it).
    assert revision.score_after == without
    assert "5-year retention" in revision.note
    stored = _stored(world.engine)
    assert stored[person]["score"] == without
    assert _batch_now(world) == stored  # the batch leaves it out too (and nobody else moved)

    assert (swept.purge.events, swept.purge.lake_rows, swept.purge.lake_files) == (1, 1, 1)
    assert swept.purge.summary_files >= 1 and swept.purge.inbox_rows == 1
    with world.engine.connect() as store:
        files_after, rows_after = lake_manifest.totals(store)
        (purged,) = store.execute(select(expired_items)).all()
        inbox_left = store.execute(
            select(func.count()).select_from(event_inbox).where(event_inbox.c.event_id == OLD_EVENT)
        ).scalar_one()
        indexed = event_keys.lookup(store, [(SOURCE, OLD_EVENT)])
        summaries = [str(world.lake / p) for p in summary_manifest.paths(store)]
    assert (files_after, rows_after) == (files_before, rows_before - 1)
    assert _lake_rows_of(world, SOURCE, OLD_EVENT) == 0
    _manifest_verifies(world)
    assert purged.purged_at is not None and purged.conduct_ended == dt.date(2021, 3, 1)
    assert inbox_left == 0
    assert indexed.num_rows == 1  # the key stays: a resend is a duplicate, not a new event
    old_rows = duckdb.sql(
        "SELECT count(*) FROM read_parquet($files) WHERE person_id = $p AND occurred_month < '2022'",
        params={"files": summaries, "p": person},
    ).fetchall()
    assert old_rows == [(0,)]
    # Purged and no longer excluded: what the batch computes is still the published score.
    assert _batch_now(world) == _stored(world.engine)
    resent = accept_events(world.engine, world.lake, [_old_late_repayment(person)], "admin", LATER)
    assert (resent.new, resent.duplicate) == (0, 1)

    # A second sweep finds nothing more.
    again = sweep_retention(world.engine, world.lake, CN, LATER, "worker")
    assert (again.expiry.events, again.purge.events, again.listings.listings) == (0, 0, 0)

    # An unpaid fine of 2021 costs points (all time) until its retention ends, then none.
    fined = _arrives(world, _old_unpaid_fine(person), person)
    assert fined is not None and without is not None and fined < without
    assert _unpaid_fines(world, person) == 1
    # Expired, not yet purged: reports leave it out already, as scoring does.
    assert expire_events(world.engine, world.lake, CN, LATER, "worker").events == 1
    assert _unpaid_fines(world, person) == 0
    # The sweep re-scores whoever has an expired event not yet purged, then purges.
    (recovered,) = sweep_retention(world.engine, world.lake, CN, LATER, "worker").revisions
    assert (recovered.cause, recovered.score_before, recovered.score_after) == (
        "retention",
        fined,
        without,
    )
    assert _batch_now(world) == _stored(world.engine)
    _manifest_verifies(world)
    actions = _actions(world.engine)
    assert actions.count("retention.expired") == 2 and actions.count("retention.purged") == 2
    assert "scores.revised" in actions
    assert audit.verify(world.engine) > 0


# -- court listings -------------------------------------------------------------------------

ID_PAID = make_national_id(birth="19800202", sequence="011")
ID_OPEN = make_national_id(birth="19750505", sequence="022")
CASE_PAID = "(2019)京0105执1111号"
CASE_OPEN = "(2019)京0105执2222号"
CASE_RECENT = "(2019)京0105执3333号"
HEADER = "name,id_number,case_number,court,amount,currency,judgment_date,status\n"


def _court_file(path: Path, paid: str, recent: str) -> Path:
    path.write_text(
        HEADER
        + f"王一,{ID_PAID},{CASE_PAID},{COURT},3000.00,CNY,2019-05-06,{paid}\n"
        + f"李二,{ID_OPEN},{CASE_OPEN},{COURT},4000.00,CNY,2019-05-06,entered\n"
        + f"王一,{ID_PAID},{CASE_RECENT},{COURT},500.00,CNY,2019-05-06,{recent}\n",
        encoding="utf-8",
    )
    return path


def _ids(engine: Engine) -> dict[str, str]:
    with engine.connect() as store:
        return {r.case_number: r.listing_id for r in store.execute(select(court_listings))}


def test_a_court_listing_satisfied_over_five_years_ago_is_removed_with_its_history(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    entered_at = dt.datetime(2019, 5, 10, 2, 0, tzinfo=dt.UTC)
    paid_at = dt.datetime(2020, 6, 1, 2, 0, tzinfo=dt.UTC)
    recent_at = dt.datetime(2024, 6, 1, 2, 0, tzinfo=dt.UTC)
    payer = enrol_one(engine, vault, "13800138011", ID_PAID, "tester", now=entered_at)
    debtor = enrol_one(engine, vault, "13800138022", ID_OPEN, "tester", now=entered_at)
    first = _court_file(tmp_path / "2019.csv", "entered", "entered")
    import_court_list(engine, vault, first, "court-feed", now=entered_at)
    import_court_list(
        engine, vault, _court_file(tmp_path / "2020.csv", "satisfied", "entered"), "court-feed",
        now=paid_at,
    )  # fmt: skip
    import_court_list(
        engine, vault, _court_file(tmp_path / "2024.csv", "satisfied", "satisfied"),
        "court-feed", now=recent_at,
    )  # fmt: skip
    ids = _ids(engine)
    with engine.connect() as store:
        live = court_list.live_links_of_listings(store, list(ids.values()))
    assert {live[ids[CASE_PAID]].person_id, live[ids[CASE_OPEN]].person_id} == {payer, debtor}

    # 1 June 2020 + 5 years has passed on 20 November 2026; 1 June 2024 + 5 has not, and an
    # entered listing (the court still holds it) never expires.
    removed = sweep_retention(engine, tmp_path / "lake", CN, LATER, "worker")
    assert (removed.listings.listings, removed.listings.links_undone) == (1, 1)
    assert removed.listings.people == (payer,)
    assert set(_ids(engine)) == {CASE_OPEN, CASE_RECENT}
    with engine.connect() as store:
        history_left = store.execute(
            select(func.count())
            .select_from(court_listing_history)
            .where(court_listing_history.c.listing_id == ids[CASE_PAID])
        ).scalar_one()
        links_left = store.execute(
            select(func.count())
            .select_from(identity_links)
            .where(identity_links.c.listing_id == ids[CASE_PAID])
        ).scalar_one()
        logged = access_log.of_person(store, payer)
    assert (history_left, links_left) == (0, 0)
    assert any("end of its retention" in entry.purpose for entry in logged)
    # Under us (seven years) the listing would have stayed: nothing more goes under cn.
    assert sweep_retention(engine, tmp_path / "lake", CN, LATER, "worker").listings.listings == 0

    actions = _actions(engine)
    assert actions.count("retention.links_undone") == 1
    assert actions.count("retention.listings_removed") == 1
    with engine.connect() as store:
        details = store.execute(
            select(audit_log.c.details).where(audit_log.c.action == "retention.listings_removed")
        ).scalar_one()
    assert ID_PAID not in str(details) and "王一" not in str(details)
    assert audit.verify(engine) > 0


def test_the_cutoff_agrees_with_retention_ends_on_every_day() -> None:
    for profile in (CN, US):
        day = dt.date(2027, 1, 1)
        while day < dt.date(2033, 3, 5):
            cutoff = profile.retention_cutoff(day)
            assert profile.retention_ends(cutoff) <= day
            assert profile.retention_ends(cutoff + dt.timedelta(days=1)) > day
            day += dt.timedelta(days=1)
