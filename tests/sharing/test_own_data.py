"""Own data, end to end on real stores: a person exports everything held about them, and
leaves without a trace but the audit log's record that they did."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, Engine, String, Text, cast, event, func, or_, select
from typer.testing import CliRunner

from kaimen.api.app import create_app
from kaimen.cli import app as cli_app
from kaimen.config import Settings
from kaimen.connections import choosing as connection_choosing
from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.errors import BatchRejected
from kaimen.domain.phone import normalise_phone
from kaimen.engines.embedded import ibis_connection
from kaimen.ingest.event_rules import OPTED_OUT
from kaimen.ingest.file_ingest import ingest_file
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.lake.schema import LAKE_SCHEMA
from kaimen.points import awarding, rulebooks
from kaimen.scoring.batch import score_month
from kaimen.sharing import deciding, own_data
from kaimen.store import (
    access_log,
    audit,
    consents,
    lake_manifest,
    offers,
    partners,
    people,
    person_tokens,
    summary_manifest,
)
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import (
    audit_log,
    identities,
    lake_files,
    metadata,
    score_snapshots,
    summary_files,
)
from kaimen.store.tables import people as people_table
from tests.conftest import NOW
from tests.ingest import events_factory as f
from tests.population import Population

SCORED, NEXT = "2026-09", "2026-10"
SECRET = bytes(range(32))
VAULT = IdentityVault(SECRET)
ADMIN = "an-admin-token-of-some-length"
PARTNER = "lender-one"
OCCURRED = "2026-10-20T10:00:00+08:00"


@dataclasses.dataclass
class World:
    url: str
    engine: Engine
    home: Path
    lake: Path
    roster: dict[str, dict[str, str]]  # person_id -> people.csv row
    me: str  # the person who opts out in the fixture
    others: list[str]  # scored people the other tests may use, none of them `me`
    document: dict[str, Any]  # my export, before opting out
    lake_rows_of_me: int
    links_to_me: int  # others' friend links naming them, in the lake
    my_snapshots: int
    report: own_data.OptOutReport
    before: dict[str, Any]  # others' data before my opt-out
    after: dict[str, Any]  # the same, measured straight after it
    next_month: set[str]  # who the next month's run scored
    active: set[str]  # who was active when it ran
    schemas: dict[str, pa.Schema]  # an affected lake and summary file's schema, before


def _lake_files(engine: Engine, lake: Path) -> list[str]:
    with engine.connect() as store:
        return [str(lake / p) for p in lake_manifest.files(store)]


def _summary_files(engine: Engine, lake: Path) -> list[str]:
    with engine.connect() as store:
        return [str(lake / p) for p in summary_manifest.paths(store)]


def _columns(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in schema]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _per_person(engine: Engine, lake: Path) -> dict[str, Any]:
    """Everyone's lake rows, friend links, summary events and scores, for comparison."""
    connection = duckdb.connect()
    events = _sql_list(_lake_files(engine, lake))
    rows = dict(
        connection.execute(
            f"SELECT person_id, count(*) FROM read_parquet({events}, hive_partitioning = false) "
            "GROUP BY 1"
        ).fetchall()
    )
    links = dict(
        connection.execute(
            f"SELECT person_id, count(*) FROM read_parquet({events}, hive_partitioning = false) "
            "WHERE kind = 'friend_link' GROUP BY 1"
        ).fetchall()
    )
    summaries = dict(
        connection.execute(
            f"SELECT person_id, sum(events) FROM read_parquet("
            f"{_sql_list(_summary_files(engine, lake))}) GROUP BY 1"
        ).fetchall()
    )
    with engine.connect() as store:
        scores = {
            r.person_id: (r.month, r.score, r.band, r.points)
            for r in store.execute(select(score_snapshots))
        }
    return {"rows": rows, "links": links, "summaries": summaries, "scores": scores}


def _without(measure: dict[str, Any], *gone: str) -> dict[str, Any]:
    return {name: {k: v for k, v in d.items() if k not in gone} for name, d in measure.items()}


def _friended(engine: Engine, lake: Path, candidates: list[str]) -> list[str]:
    """Candidates others link to as a friend, most linked first."""
    connection = duckdb.connect()
    connection.register("candidates", pa.table({"person_id": candidates}))
    return [
        r[0]
        for r in connection.execute(
            f"SELECT friend_id, count(*) FROM read_parquet("
            f"{_sql_list(_lake_files(engine, lake))}, hive_partitioning = false) "
            "WHERE kind = 'friend_link' AND friend_id IN (SELECT person_id FROM candidates) "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    ]


def _store_events(engine: Engine, lake: Path, person: str, friend_of: str) -> None:
    """Over HTTP: an event of the person's and a friend's link to them sealed into the lake,
    then one more of each left in the inbox."""
    first = [
        f.event("payment", "own-1", person, source="shop-sim", occurred_at=OCCURRED),
        f.event("friend_link", "link-1", friend_of, source="social-sim", friend_id=person),
    ]
    accept_events(engine, lake, first, "test", now=NOW)
    seal_inbox(engine, lake, "test", now=NOW)
    waiting = [
        f.event("payment", "own-2", person, source="shop-sim", occurred_at=OCCURRED),
        f.event("friend_link", "link-2", friend_of, source="social-sim", friend_id=person),
    ]
    accept_events(engine, lake, waiting, "test", now=NOW)


def _consent_and_decision(engine: Engine, person: str) -> None:
    with engine.begin() as store:
        if partners.get(store, PARTNER) is None:
            partners.add(store, PARTNER, "Lender One", NOW)
            offers.publish(store, PARTNER, "Small loan", "a small loan", 600, NOW)
        consents.grant(store, person, PARTNER, "decision", NOW, share_score=True)
        _, key = partners.issue_key(store, PARTNER, ["decisions"], NOW)
    with engine.connect() as store:
        offer = offers.of_partner(store, PARTNER)[0]
    deciding.decide(engine, key, offer.offer_id, person, NOW)


def _build(home: Path, url: str, sim: Path) -> World:
    """On the trained population: SCORED scored, then my data stored and my opt-out."""
    engine = open_store(url)
    lake = home / "lake"
    score_month(engine, ibis_connection(), lake, SCORED, "test", now=NOW)
    with (sim / "people.csv").open(encoding="utf-8") as handle:
        roster = {r["person_id"]: r for r in csv.DictReader(handle)}
    with engine.connect() as store:
        scored = sorted(
            store.execute(
                select(score_snapshots.c.person_id).where(score_snapshots.c.score.is_not(None))
            ).scalars()
        )
    me = _friended(engine, lake, scored)[0]
    others = [p for p in scored if p != me][:8]
    _store_events(engine, lake, me, friend_of=others[0])
    _consent_and_decision(engine, me)
    with engine.begin() as store:
        person_tokens.issue(store, me, NOW)

    connection = duckdb.connect()
    files = _sql_list(_lake_files(engine, lake))
    mine, links, affected = connection.execute(
        f"SELECT count(*) FILTER (WHERE person_id = $me), "
        "count(*) FILTER (WHERE friend_id = $me), "
        "min(filename) FILTER (WHERE person_id = $me) "
        f"FROM read_parquet({files}, filename = true, hive_partitioning = false)",
        {"me": me},
    ).fetchall()[0]
    schemas = {
        "lake": pq.read_schema(affected),
        "summary": pq.read_schema(_summary_files(engine, lake)[0]),
    }
    with engine.connect() as store:
        snapshots = store.execute(
            select(func.count()).where(score_snapshots.c.person_id == me)
        ).scalar_one()
    # As the person receives it: the document in JSON.
    document = own_data.export(engine, VAULT, lake, me, now=NOW).model_dump(mode="json")
    before = _per_person(engine, lake)

    report = own_data.opt_out(engine, lake, me, "person:" + me, now=NOW)

    after = _per_person(engine, lake)
    with engine.connect() as store:
        active = set(people.active_ids(store).column("person_id").to_pylist())
    score_month(engine, ibis_connection(), lake, NEXT, "test", now=NOW)
    with engine.connect() as store:
        next_month = set(
            store.execute(
                select(score_snapshots.c.person_id).where(score_snapshots.c.month == NEXT)
            ).scalars()
        )
    return World(
        url=url,
        engine=engine,
        home=home,
        lake=lake,
        roster=roster,
        me=me,
        others=others,
        document=document,
        lake_rows_of_me=mine,
        links_to_me=links,
        my_snapshots=snapshots,
        report=report,
        before=before,
        after=after,
        next_month=next_month,
        active=active,
        schemas=schemas,
    )


@pytest.fixture(scope="module")
def world(trained_copy: Population) -> Iterator[World]:
    w = _build(trained_copy.home, trained_copy.url, trained_copy.sim)
    yield w
    w.engine.dispose()


def _rows_naming(engine: Engine, person_id: str) -> dict[str, int]:
    """Rows of every table (but people and the audit log) with the id in any text or JSON
    column."""
    found: dict[str, int] = {}
    with engine.connect() as store:
        for table in metadata.sorted_tables:
            if table is people_table or table is audit_log:
                continue
            texts = [
                cast(c, Text) if isinstance(c.type, JSON) else c
                for c in table.columns
                if isinstance(c.type, String | Text | JSON)
            ]
            if not texts:
                continue
            hits = store.execute(
                select(func.count())
                .select_from(table)
                .where(or_(*(c.contains(person_id, autoescape=True) for c in texts)))
            ).scalar_one()
            if hits:
                found[table.name] = hits
    return found


def _parquet_naming(lake: Path, person_id: str) -> dict[str, int]:
    """Rows of every Parquet file under the lake root with the id in any column."""
    connection = duckdb.connect()
    found: dict[str, int] = {}
    for path in sorted(lake.rglob("*.parquet")):
        hits = connection.execute(
            f"SELECT count(*) FROM read_parquet('{path}', hive_partitioning = false) AS t "
            "WHERE contains(CAST(t AS VARCHAR), $id)",
            {"id": person_id},
        ).fetchall()[0][0]
        if hits:
            found[str(path.relative_to(lake))] = hits
    return found


# --- the export -----------------------------------------------------------------------


def test_the_export_holds_everything_about_the_person(world: World) -> None:
    doc, me = world.document, world.me
    assert doc["format"] == own_data.FORMAT
    assert doc["exported_at"] == NOW.isoformat()
    json.dumps(doc)  # one JSON document, as it is
    person = doc["person"]
    listed = world.roster[me]
    assert person["person_id"] == me and person["status"] == "active"
    assert person["phone"] == normalise_phone(listed["phone"])
    assert person["national_id"] == listed["national_id"].upper()
    assert person["birth_date"] == (
        f"{listed['national_id'][6:10]}-{listed['national_id'][10:12]}-"
        f"{listed['national_id'][12:14]}"
    )
    # Every lake row of theirs, once, with who reported it and every field it has.
    assert len(doc["events"]) == world.lake_rows_of_me > 0
    keys = {(e["source"], e["event_id"]) for e in doc["events"]}
    assert len(keys) == len(doc["events"])
    assert all(e["person_id"] == me and e["source"] for e in doc["events"])
    own = next(e for e in doc["events"] if e["event_id"] == "own-1")
    assert own == {
        "source": "shop-sim",
        "event_id": "own-1",
        "person_id": me,
        "kind": "payment",
        "occurred_at": "2026-10-20T02:00:00.000000Z",
        "recorded_at": NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "schema_version": 1,
        "amount": "12.50",
        "currency": "CNY",
        "merchant_category": "groceries",
        "month": "2026-10",
    }
    assert [e["occurred_at"] for e in doc["events"]] == sorted(
        e["occurred_at"] for e in doc["events"]
    )
    waiting = doc["events_received_not_yet_in_lake"]
    assert [(e["event_id"], e["amount"]) for e in waiting] == [("own-2", "12.50")]
    assert len(doc["scores"]) == world.my_snapshots >= 1
    score = doc["scores"][0]
    assert score["month"] == SCORED and 350 <= score["score"] <= 950
    assert set(score["dimensions"]) == {
        "credit_history",
        "behaviour",
        "capacity",
        "identity",
        "connections",
    }
    assert score["points"] and score["band"]
    assert [(c["partner_id"], c["purpose"], c["state"]) for c in doc["consents"]] == [
        (PARTNER, "decision", "live")
    ]
    assert [(a["actor"], a["what"]) for a in doc["access_log"]] == [
        (f"partner:{PARTNER}", "decision")
    ]
    assert [d["partner_id"] for d in doc["decisions"]] == [PARTNER]
    assert doc["decisions"][0]["score"] == score["score"]


# --- opting out -----------------------------------------------------------------------


def test_nothing_names_them_but_their_people_row_and_the_audit_log(world: World) -> None:
    me = world.me
    assert _rows_naming(world.engine, me) == {}
    assert _parquet_naming(world.lake, me) == {}
    with world.engine.connect() as store:
        row = store.execute(select(people_table).where(people_table.c.person_id == me)).one()
        logged = store.execute(select(audit_log).where(audit_log.c.subject == me)).all()
    assert row.status == "opted_out" and row.birth_date is None
    assert [r.action for r in logged][-1] == "person.opted_out"


def test_the_report_counts_what_was_removed(world: World) -> None:
    r = world.report
    assert r.lake_events_removed == world.lake_rows_of_me
    assert r.rows_removed["identities"] == 3  # phone, ID number and name
    assert r.rows_removed["person_tokens"] == 1
    assert r.rows_removed["consents"] == 1
    assert r.rows_removed["access_log"] == 1
    assert r.rows_removed["decisions"] == 1
    assert r.rows_removed["score_snapshots"] == world.my_snapshots
    assert r.rows_removed["event_inbox"] == 2  # own-1 sealed, own-2 waiting
    assert r.friend_links_cut == world.links_to_me > 1  # the simulated ones and link-1
    assert (r.inbox_links_redacted, r.inbox_links_dropped) == (1, 1)
    assert r.summary_rows_removed > 0 and r.summary_files_rewritten >= 1
    assert r.lake_files_rewritten >= 1 and r.files_left == []


def test_the_audit_entry_holds_no_personal_data_and_the_log_verifies(world: World) -> None:
    assert audit.verify(world.engine) > 0
    with world.engine.connect() as store:
        entry = store.execute(
            select(audit_log).where(audit_log.c.action == "person.opted_out")
        ).one()
    assert entry.subject == world.me
    person = world.document["person"]
    for personal in (person["phone"], person["national_id"], person["birth_date"]):
        assert personal not in entry.details
    assert json.loads(entry.details)["lake_events_removed"] == world.lake_rows_of_me


def test_their_phone_and_id_no_longer_resolve(world: World) -> None:
    person = world.document["person"]
    with world.engine.connect() as store:
        phone = people.owners_of(store, "phone", [VAULT.lookup_hash("phone", person["phone"])])
        national = people.owners_of(
            store,
            "cn_resident_id",
            [VAULT.lookup_hash("cn_resident_id", person["national_id"])],
        )
        left = store.execute(
            select(func.count()).where(identities.c.person_id == world.me)
        ).scalar_one()
    assert phone == {} and national == {} and left == 0


def test_other_people_are_untouched(world: World) -> None:
    me = world.me
    assert world.after == _without(world.before, me)
    # Friends' links to them stay as events (same counts), only emptied of their id.
    assert world.report.friend_links_cut > 0
    assert sum(world.after["links"].values()) == sum(_without(world.before, me)["links"].values())


def test_rewritten_files_keep_the_lake_format_and_the_manifests_match(world: World) -> None:
    connection = duckdb.connect()
    with world.engine.connect() as store:
        lake = lake_manifest.listed(store)
        summaries = summary_manifest.listed(store)
    rewritten = [p for _, _, p in lake]
    for _, month, path in lake:
        assert path.startswith(f"events/month={month}/")
        # Names and types; DuckDB marks a column required or not by what the file holds.
        assert _columns(pq.read_schema(world.lake / path)) == _columns(LAKE_SCHEMA)
        assert _columns(world.schemas["lake"]) == _columns(LAKE_SCHEMA)
        table = pq.read_table(world.lake / path)
        order = pc.sort_indices(
            table,
            [(k, "ascending") for k in ("person_id", "occurred_at", "source", "event_id")],
        )
        assert order.to_pylist() == list(range(table.num_rows))
    for _, path in summaries:
        assert _columns(pq.read_schema(world.lake / path)) == _columns(world.schemas["summary"])
    with world.engine.connect() as store:
        for row in store.execute(select(lake_files)):
            counted = connection.execute(
                f"SELECT count(*) FROM read_parquet('{world.lake / row.path}')"
            ).fetchall()[0][0]
            assert counted == row.rows
            assert _sha256(world.lake / row.path) == row.sha256
        for row in store.execute(select(summary_files)):
            counted = connection.execute(
                f"SELECT count(*) FROM read_parquet('{world.lake / row.path}')"
            ).fetchall()[0][0]
            assert counted == row.rows
    # The old files are gone: every Parquet file in the lake is a listed one.
    listed = {world.lake / p for p in rewritten} | {world.lake / p for _, p in summaries}
    assert set(world.lake.rglob("*.parquet")) == listed


def test_the_next_monthly_score_skips_them(world: World) -> None:
    assert world.me not in world.active
    assert world.next_month == world.active
    assert len(world.next_month) == len(world.roster) - 1


def test_new_events_about_them_are_refused_by_name(world: World, tmp_path: Path) -> None:
    me = world.me
    reason = OPTED_OUT + me
    late = f.event("payment", "late-1", me, source="shop-sim", occurred_at=OCCURRED)
    link = f.event("friend_link", "late-2", world.others[1], source="social-sim", friend_id=me)
    path = f.write_csv(tmp_path / "late.csv", [late, link])
    with pytest.raises(BatchRejected) as by_file:
        ingest_file(world.engine, world.lake, path, "test", now=NOW)
    assert [(e.line, e.field, e.reason) for e in by_file.value.errors] == [
        (2, "person_id", reason),
        (3, "friend_id", reason),
    ]
    with pytest.raises(BatchRejected) as over_http:
        accept_events(world.engine, world.lake, [late, link], "test", now=NOW)
    assert [(e.line, e.field, e.reason) for e in over_http.value.errors] == [
        (1, "person_id", reason),
        (2, "friend_id", reason),
    ]
    assert _parquet_naming(world.lake, me) == {}
    assert _rows_naming(world.engine, me) == {}


def test_a_file_checked_before_an_opt_out_is_refused_after_it(world: World, tmp_path: Path) -> None:
    person = world.others[5]
    path = f.write_csv(
        tmp_path / "racing.csv",
        [f.event("payment", "race-1", person, source="shop-sim", occurred_at=OCCURRED)],
    )

    def opt_out_midway(message: str) -> None:
        # Told just after every row passed the rules, before the lake's lock is taken.
        if message == "deduplicating":
            own_data.opt_out(world.engine, world.lake, person, "test", now=NOW)

    with pytest.raises(BatchRejected) as caught:
        ingest_file(world.engine, world.lake, path, "test", now=NOW, progress=opt_out_midway)
    assert [(e.line, e.field, e.reason) for e in caught.value.errors] == [
        (2, "person_id", OPTED_OUT + person)
    ]
    assert _parquet_naming(world.lake, person) == {}
    assert _rows_naming(world.engine, person) == {}


def test_a_request_checked_before_an_opt_out_is_refused_after_it(world: World) -> None:
    person = world.others[6]
    racing = [f.event("payment", "race-2", person, source="shop-sim", occurred_at=OCCURRED)]
    done: list[bool] = []

    def opt_out_midway(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The request's events passed the rules; the opt-out commits just before they land.
        if statement.lstrip().upper().startswith("INSERT INTO EVENT_INBOX") and not done:
            done.append(True)
            own_data.opt_out(world.engine, world.lake, person, "test", now=NOW)

    event.listen(world.engine, "before_cursor_execute", opt_out_midway)
    try:
        with pytest.raises(BatchRejected) as caught:
            accept_events(world.engine, world.lake, racing, "test", now=NOW)
    finally:
        event.remove(world.engine, "before_cursor_execute", opt_out_midway)
    assert done
    assert [(e.line, e.field, e.reason) for e in caught.value.errors] == [
        (1, "person_id", OPTED_OUT + person)
    ]
    assert _rows_naming(world.engine, person) == {}
    assert seal_inbox(world.engine, world.lake, "test", now=NOW).total == 0


def test_opting_out_twice_or_exporting_after_is_a_clear_error(world: World) -> None:
    with pytest.raises(own_data.AlreadyOptedOut, match="already opted out"):
        own_data.opt_out(world.engine, world.lake, world.me, "test", now=NOW)
    with pytest.raises(own_data.AlreadyOptedOut, match="already opted out"):
        own_data.export(world.engine, VAULT, world.lake, world.me)
    with pytest.raises(own_data.NotEnrolled, match="no enrolled person nobody"):
        own_data.opt_out(world.engine, world.lake, "nobody", "test", now=NOW)


def test_a_failed_opt_out_changes_nothing_and_a_crash_leftover_is_swept(world: World) -> None:
    victim = world.others[2]
    files_before = sorted(world.lake.rglob("*.parquet"))
    with world.engine.connect() as store:
        manifest_before = (lake_manifest.listed(store), summary_manifest.listed(store))
    exported = own_data.export(world.engine, VAULT, world.lake, victim, now=NOW)
    audit_rows = audit.count(world.engine)

    def crash(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The transaction dies after deleting rows, before the manifests move.
        if statement.lstrip().upper().startswith("UPDATE LAKE_FILES"):
            raise RuntimeError("simulated crash inside the transaction")

    event.listen(world.engine, "before_cursor_execute", crash)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            own_data.opt_out(world.engine, world.lake, victim, "test", now=NOW)
    finally:
        event.remove(world.engine, "before_cursor_execute", crash)
    assert sorted(world.lake.rglob("*.parquet")) == files_before  # copies cleaned up
    with world.engine.connect() as store:
        assert (lake_manifest.listed(store), summary_manifest.listed(store)) == manifest_before
    assert audit.count(world.engine) == audit_rows
    assert own_data.export(world.engine, VAULT, world.lake, victim, now=NOW) == exported

    # A crash after a commit leaves an unlisted old file holding someone's rows: swept.
    listed = world.lake / manifest_before[0][0][2]
    orphan = listed.with_name("part-left-by-a-crash.parquet")
    shutil.copyfile(listed, orphan)
    report = own_data.opt_out(world.engine, world.lake, victim, "test", now=NOW)
    assert report.orphan_files_removed == 1 and not orphan.exists()
    assert report.lake_events_removed == len(exported.events)
    assert _parquet_naming(world.lake, victim) == {}
    assert _rows_naming(world.engine, victim) == {}
    assert audit.verify(world.engine) == audit_rows + 1


# --- the API and the command line ------------------------------------------------------


def _client(w: World) -> TestClient:
    settings = Settings(
        home=w.home,
        database_url=w.url,
        secret_key=base64.b64encode(SECRET).decode(),
        admin_token=ADMIN,
    )
    return TestClient(create_app(settings))


def test_the_api_serves_the_person_and_refuses_everyone_else(world: World) -> None:
    person = world.others[3]
    with world.engine.begin() as store:
        token = person_tokens.issue(store, person, NOW)
        if partners.get(store, PARTNER) is None:
            partners.add(store, PARTNER, "Lender One", NOW)
        _, key = partners.issue_key(store, PARTNER, ["decisions"], NOW)
    client = _client(world)
    mine = {"Authorization": f"Bearer {token}"}

    assert client.get("/v1/me/export").status_code == 401
    assert client.get("/v1/me/export", headers={"Authorization": "Bearer nope"}).status_code == 401
    for other in (ADMIN, key):
        refused = client.get("/v1/me/export", headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        refused = client.post(
            "/v1/me/opt-out", json={"confirm": True}, headers={"Authorization": f"Bearer {other}"}
        )
        assert refused.status_code == 403

    exported = client.get("/v1/me/export", headers=mine)
    assert exported.status_code == 200
    body = exported.json()
    assert body["person"]["person_id"] == person
    assert body["person"]["phone"] == normalise_phone(world.roster[person]["phone"])
    assert body["person"]["name"] == world.roster[person]["name"]
    assert len(body["events"]) == world.before["rows"][person]

    for bad in ({"confirm": False}, {}, {"confirm": True, "also": "this"}):
        invalid = client.post("/v1/me/opt-out", json=bad, headers=mine)
        assert invalid.status_code == 422, bad
        assert invalid.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/me/export", headers=mine).status_code == 200  # nothing happened

    left = client.post("/v1/me/opt-out", json={"confirm": True}, headers=mine)
    assert left.status_code == 200, left.text
    out = left.json()
    assert out["status"] == "opted_out" and out["person_id"] == person
    assert out["lake_events_removed"] == world.before["rows"][person]
    assert out["rows_removed"]["identities"] == 3 and out["rows_removed"]["person_tokens"] == 1
    # Their token went with everything else.
    assert client.get("/v1/me/export", headers=mine).status_code == 401
    assert client.post("/v1/me/opt-out", json={"confirm": True}, headers=mine).status_code == 401
    assert _rows_naming(world.engine, person) == {}
    assert _parquet_naming(world.lake, person) == {}
    assert audit.verify(world.engine) > 0


def test_the_command_line_exports_and_opts_out(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = world.others[4]
    monkeypatch.setenv("KAIMEN_HOME", str(world.home))
    monkeypatch.setenv("KAIMEN_DATABASE_URL", world.url)
    monkeypatch.setenv("KAIMEN_SECRET_KEY", base64.b64encode(SECRET).decode())
    runner = CliRunner()
    out = tmp_path / "mine.json"
    exported = runner.invoke(cli_app, ["person", "export", person, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert out.stat().st_mode & 0o777 == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["person"]["national_id"] == world.roster[person]["national_id"].upper()
    assert len(document["events"]) == world.before["rows"][person]
    again = runner.invoke(cli_app, ["person", "export", person, "--out", str(out)])
    assert again.exit_code == 1 and "already exists" in again.stderr
    # A folder that is not there is refused before the export is read and logged.
    with world.engine.connect() as store:
        looks = len(access_log.of_person(store, person))
    nowhere = tmp_path / "missing" / "mine.json"
    refused = runner.invoke(cli_app, ["person", "export", person, "--out", str(nowhere)])
    assert refused.exit_code == 1, refused.output
    # Rich wraps long lines at the terminal width: compare with the line breaks taken out.
    assert f"{nowhere} cannot be written: No such file" in refused.stderr.replace("\n", "")
    with world.engine.connect() as store:
        assert len(access_log.of_person(store, person)) == looks
    # Nobody's alerts, disputes or connections: a plain refusal, nothing written.
    for command in (["person", "alerts"], ["dispute", "list"], ["connections", "show"]):
        unknown = runner.invoke(cli_app, [*command, "nobody"])
        assert unknown.exit_code == 1, (command, unknown.output)
        assert "nobody is not an enrolled person" in unknown.stderr, command
    with world.engine.connect() as store:
        logged = store.execute(
            select(audit_log.c.action).where(audit_log.c.subject == person)
        ).scalars()
        assert "person.exported" in list(logged)

    unconfirmed = runner.invoke(cli_app, ["person", "opt-out", person])
    assert unconfirmed.exit_code == 1 and "--yes" in unconfirmed.stderr
    left = runner.invoke(cli_app, ["person", "opt-out", person, "--yes"])
    assert left.exit_code == 0, left.output
    # Rich wraps long lines at the terminal width: compare with whitespace collapsed.
    said = " ".join(left.stdout.split())
    assert f"{world.before['rows'][person]:,} events removed" in said
    twice = runner.invoke(cli_app, ["person", "opt-out", person, "--yes"])
    assert twice.exit_code == 1 and "already opted out" in twice.stderr
    assert _rows_naming(world.engine, person) == {}
    assert _parquet_naming(world.lake, person) == {}


def test_the_export_holds_my_connection_choices_and_my_points_ledger(world: World) -> None:
    person = world.others[7]
    profile = profiles.load("cn")
    admin = Caller.admin()
    connection_choosing.change(
        world.engine, profile, Caller.person(person), person, connection_choosing.CHANGES["lend"]
    )
    rulebooks.install(world.engine, profile, admin, "lawful", NOW)
    month = NOW.strftime("%Y-%m")
    paid = {
        "source": "landlord-export",
        "event_id": "RENT-EXPORT-1",
        "person_id": person,
        "kind": "rent_payment",
        "occurred_at": NOW.strftime("%Y-%m-01T09:00:00+00:00"),
        "amount": "3000.00",
        "currency": "CNY",
        "due_date": NOW.strftime("%Y-%m-01"),
        "paid_date": NOW.strftime("%Y-%m-01"),
        "status": "on_time",
    }
    accept_events(world.engine, world.lake, [paid], "admin", NOW)
    seal_inbox(world.engine, world.lake, "test", now=NOW)
    awarding.award_month(world.engine, ibis_connection(), world.lake, profile, admin, month, NOW)

    document = own_data.export(world.engine, VAULT, world.lake, person, now=NOW)

    assert document.connections is not None
    assert (document.connections.lends_score, document.connections.counts_friends) == (True, False)
    assert document.connections.lends_score_set_at is not None
    assert document.connections.counts_friends_set_at is None
    awards = [e for e in document.points_ledger if e.event_id == "RENT-EXPORT-1"]
    assert [(e.source, e.kind, e.month) for e in awards] == [("landlord-export", "award", month)]
    assert awards[0].points > 0
