"""The key index: every event held (lake or inbox) once by (source, event_id), with its content
hash; kept in the transaction that stores the events, checked at the cost of the batch, and
followed by opt-outs. Sealing copies typed inbox rows without judging them again, and a file
is written to the lake once. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import Engine, select

from kaimen.domain.errors import BatchRejected
from kaimen.engines.embedded import connect
from kaimen.ingest import event_rules, file_ingest, inbox_ingest, key_index
from kaimen.ingest.deduplication import (
    CANONICAL_TEXT_SQL,
    CONTENT_HASH_SQL,
    DIGESTED_HASH_SQL,
    digested,
)
from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.ingest.file_ingest import ingest_file
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.lake import atomic_parquet, reader, writer
from kaimen.sharing import own_data
from kaimen.store import event_keys, lake_manifest, many_rows, people
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import event_key_collisions
from kaimen.store.tables import event_keys as key_rows
from tests.conftest import NOW
from tests.ingest import events_factory as f

CONFLICT = (
    "already recorded from this source with different content; "
    "correct a recorded event through a dispute"
)


@pytest.fixture
def enrolled(engine: Engine, vault: IdentityVault) -> list[str]:
    return f.enrol(engine, vault)


def index(engine: Engine) -> dict[tuple[int, int], int]:
    """(key_hash, key_check) -> content hash of every indexed key, collisions included."""
    with engine.connect() as store:
        rows = store.execute(
            select(key_rows.c.key_hash, key_rows.c.key_check, key_rows.c.content_hash)
        )
        indexed = {(k, c): h for k, c, h in rows}
        collided = store.execute(select(event_key_collisions)).all()
    return indexed | {event_keys.key_hashes(s, e): h for s, e, h in collided}


def lake_keys(engine: Engine, lake_root: Path) -> dict[tuple[str, str], int]:
    """(source, event_id) -> content hash of every event the lake holds, read from its files."""
    with engine.connect() as store:
        files = lake_manifest.files(store)
    if not files:
        return {}
    connection = connect()
    try:
        rows = connection.execute(
            f"SELECT source, event_id, {CONTENT_HASH_SQL} FROM {reader.files_sql(lake_root, files)}"
        ).fetchall()
    finally:
        connection.close()
    return {(s, e): h for s, e, h in rows}


def inbox_keys(engine: Engine) -> dict[tuple[str, str], int]:
    from kaimen.store import inbox

    with engine.connect() as store:
        return {(s, e): h for s, e, h in inbox.unsealed_keys(store)}


def consistent(engine: Engine, lake_root: Path) -> dict[tuple[str, str], int]:
    """The index says exactly what the lake and the inbox hold; returns it."""
    held = lake_keys(engine, lake_root) | inbox_keys(engine)
    assert index(engine) == {event_keys.key_hashes(s, e): h for (s, e), h in held.items()}
    return held


def test_a_resent_request_is_a_no_op_and_a_changed_one_is_refused(
    engine: Engine, lake_root: Path, enrolled: list[str]
) -> None:
    events = f.sample_events(20)
    assert accept_events(engine, lake_root, events, "admin", now=NOW).new == 20
    held = consistent(engine, lake_root)
    assert len(held) == 20
    again = accept_events(engine, lake_root, events, "admin", now=NOW)
    assert (again.total, again.new, again.duplicate) == (20, 0, 20)
    changed = {**events[3], "amount": "99.99"} if "amount" in events[3] else None
    assert changed is not None
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, [events[0], changed], "admin", now=NOW)
    assert f.problems(caught.value) == [(2, "event_id", CONFLICT)]
    assert consistent(engine, lake_root) == held


def test_one_event_by_file_then_by_request_and_back_is_counted_once(
    engine: Engine, lake_root: Path, tmp_path: Path, enrolled: list[str]
) -> None:
    events = f.sample_events(30)
    by_file = ingest_file(engine, lake_root, f.write(tmp_path / "a.parquet", events[:20]), "t")
    assert (by_file.new, by_file.duplicate) == (20, 0)
    # Ten of the file's events and ten new ones over HTTP: only the new ones count.
    sent = accept_events(engine, lake_root, events[10:], "admin", now=NOW)
    assert (sent.new, sent.duplicate) == (10, 10)
    # A second file with all thirty: nothing new (ten in the lake, ten waiting in the inbox).
    again = ingest_file(engine, lake_root, f.write(tmp_path / "b.csv", events), "t")
    assert (again.total, again.new, again.duplicate) == (30, 0, 30)
    assert seal_inbox(engine, lake_root, "admin", now=NOW).new == 10
    held = consistent(engine, lake_root)
    assert len(held) == 30 and f.raw_rows(lake_root) == 30


def test_a_file_changing_a_held_event_is_refused_and_leaves_nothing(
    engine: Engine, lake_root: Path, tmp_path: Path, enrolled: list[str]
) -> None:
    events = f.sample_events(8)
    accept_events(engine, lake_root, events[:4], "admin", now=NOW)
    before = f.state(engine, lake_root)
    changed = [*events[4:], {**events[1], "occurred_at": "2026-08-02T10:00:00Z"}]
    with pytest.raises(BatchRejected) as caught:
        ingest_file(engine, lake_root, f.write(tmp_path / "c.csv", changed), "t")
    assert f.problems(caught.value) == [(6, "event_id", CONFLICT)]
    assert f.state(engine, lake_root) == before
    consistent(engine, lake_root)


@pytest.mark.parametrize("fail", ["manifest", "keys", "lake write"])
def test_a_crash_between_lake_write_and_manifest_counts_nothing(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    enrolled: list[str],
    monkeypatch: pytest.MonkeyPatch,
    fail: str,
) -> None:
    events = f.sample_events(12)
    path = f.write(tmp_path / "a.parquet", events)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut")

    if fail == "manifest":
        monkeypatch.setattr(lake_manifest, "record_batch", crash)
    elif fail == "lake write":  # in the writer thread, while the keys go into the index
        monkeypatch.setattr(writer, "write_parquet_unless_empty", crash)
    else:
        monkeypatch.setattr(event_keys, "add", crash)
    with pytest.raises(RuntimeError):
        ingest_file(engine, lake_root, path, "t")
    assert index(engine) == {} and f.raw_rows(lake_root) == 0
    assert f.state(engine, lake_root)["ingest_batches"] == 0
    monkeypatch.undo()
    report = ingest_file(engine, lake_root, path, "t")
    assert (report.new, report.duplicate) == (12, 0)
    assert len(consistent(engine, lake_root)) == 12


def test_a_request_looks_up_only_the_people_it_names(
    engine: Engine, lake_root: Path, enrolled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def everyone(*_args: object) -> None:
        raise AssertionError("a request read the whole population")

    monkeypatch.setattr(people, "event_subjects", everyone)
    monkeypatch.setattr(lake_manifest, "files", everyone)
    assert accept_events(engine, lake_root, f.sample_events(12), "admin", now=NOW).new == 12
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, [f.event("payment", "x", "P999")], "admin", now=NOW)
    assert f.problems(caught.value) == [(1, "person_id", "not an enrolled person: P999")]


def test_sealing_copies_what_was_received_without_judging_it_again(
    engine: Engine, lake_root: Path, enrolled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = f.sample_events(16)
    accept_events(engine, lake_root, events, "admin", now=NOW)

    def judge(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("sealing judged the events again")

    monkeypatch.setattr(event_rules, "check_chunk", judge)
    monkeypatch.setattr(inbox_ingest, "check_chunk", judge)
    # A sealing clock before the events' own times would refuse them if it judged them.
    earlier = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    report = seal_inbox(engine, lake_root, "admin", now=earlier)
    assert (report.total, report.new, report.duplicate) == (16, 16, 0)
    lake = f.lake_events(engine, lake_root)
    assert sorted(e["event_id"] for e in lake) == sorted(e["event_id"] for e in events)
    unsent = [e for e in lake if e["event_id"] in {x["event_id"] for x in events[::2]}]
    # Not sent, recorded_at is when the event was received, not when it was sealed.
    assert {e["recorded_at"] for e in unsent} == {NOW}
    consistent(engine, lake_root)


def test_a_file_is_written_to_the_lake_once(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    enrolled: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = f.sample_events(40)  # three months
    writes: list[str] = []
    place = atomic_parquet._place

    def counted(root: Path, relative: str, rows: object, keep_empty: bool) -> object:
        writes.append(relative)
        return place(root, relative, rows, keep_empty)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic_parquet, "_place", counted)
    copies: list[str] = []
    original = file_ingest.connect

    def watch(connection: Any) -> _Proxy:
        real = connection.execute

        def execute(query: object, *rest: object) -> object:
            if isinstance(query, str) and query.lstrip().upper().startswith("COPY"):
                copies.append(query)
            return real(query, *rest)

        # Its cursors too: the months are written by two threads, each on its own.
        return _Proxy(connection, execute, lambda: watch(connection.cursor()))

    def watched(*args: object, **kwargs: object) -> object:
        return watch(original(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(file_ingest, "connect", watched)
    report = ingest_file(engine, lake_root, f.write(tmp_path / "a.parquet", events), "t")
    assert report.new == 40
    # One final file per month, and no other Parquet written by the engine (no staging).
    months = [w.split("/")[1] for w in writes]
    assert len(months) == len(set(months)) == len(lake_manifest_months(engine)) >= 3
    assert len(copies) == len(months) and all("_incoming" in c for c in copies)
    assert not (lake_root / "_staging").exists()
    assert len(consistent(engine, lake_root)) == 40


def lake_manifest_months(engine: Engine) -> set[str]:
    with engine.connect() as store:
        return {month for _, month, _ in lake_manifest.listed(store)}


class _Proxy:
    """A DuckDB connection whose `execute` is watched; everything else passes through."""

    def __init__(self, connection: Any, execute: object, cursor: object) -> None:
        self._connection = connection
        self.execute = execute
        self.cursor = cursor

    def __getattr__(self, name: str) -> object:
        return getattr(self._connection, name)

    def __enter__(self) -> _Proxy:
        return self

    def __exit__(self, *details: object) -> None:
        self._connection.close()


def test_opting_out_keeps_the_index_with_the_lake(
    engine: Engine, lake_root: Path, tmp_path: Path, enrolled: list[str]
) -> None:
    leaving = "P001"
    events = f.sample_events(40)
    links = [
        f.event("friend_link", "link-to", "P002", friend_id=leaving),
        f.event("friend_link", "link-waiting", "P003", friend_id=leaving),
    ]
    ingest_file(engine, lake_root, f.write(tmp_path / "a.parquet", [*events, links[0]]), "t")
    accept_events(
        engine, lake_root, [f.event("payment", "own-waiting", leaving), links[1]], "admin", now=NOW
    )
    before = consistent(engine, lake_root)
    own_data.opt_out(engine, lake_root, leaving, "person:" + leaving, now=NOW)
    after = consistent(engine, lake_root)
    theirs = {("bank-a", e["event_id"]) for e in events if e["person_id"] == leaving}
    gone = theirs | {("bank-a", "own-waiting"), ("bank-a", "link-waiting")}
    assert set(after) == set(before) - gone
    # The kept link now reads without the friend: its hash is the lake's new content's.
    assert after[("bank-a", "link-to")] != before[("bank-a", "link-to")]
    # A resend of the original link names someone who left: refused as such, not a conflict.
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, [links[0]], "admin", now=NOW)
    assert [(p[1], p[2].split(":")[0]) for p in f.problems(caught.value)] == [
        ("friend_id", event_rules.OPTED_OUT.split(":")[0])
    ]


def test_catching_up_indexes_a_lake_written_before_the_index(
    engine: Engine, lake_root: Path, tmp_path: Path, enrolled: list[str]
) -> None:
    events = f.sample_events(24)
    ingest_file(engine, lake_root, f.write(tmp_path / "a.parquet", events[:16]), "t")
    accept_events(engine, lake_root, events[16:], "admin", now=NOW)
    held = consistent(engine, lake_root)
    # As a store upgraded to revision 0008 finds it: the lake's keys are not indexed.
    lake_only = [k for k in held if k not in inbox_keys(engine)]
    with engine.begin() as store:
        assert event_keys.forget(store, lake_only) == 16
    assert key_index.catch_up(engine, lake_root, "ops") == 16
    assert consistent(engine, lake_root) == held
    assert key_index.catch_up(engine, lake_root, "ops") == 0
    again = ingest_file(engine, lake_root, f.write(tmp_path / "b.csv", events), "t")
    assert (again.new, again.duplicate) == (0, 24)


def test_content_hash_is_the_one_already_stored() -> None:
    """Hashes sit in the key index and are compared with ones computed later: a rewrite of the
    expression (for speed) must give the values earlier versions stored, every field counted
    and recorded_at left out (these two were computed by the original `||` chain)."""
    rows = """SELECT * FROM (VALUES
        ('bank-a', 'e-1', 'P001', 'loan_repayment', TIMESTAMPTZ '2026-08-09 10:30:00+00',
         TIMESTAMPTZ '2026-08-09 11:00:00+00', 1, 500.00::DECIMAL(18,2), 'CNY', NULL,
         DATE '2026-08-10', DATE '2026-08-09', 'on_time', 'bank-a',
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        ('shop', 'e-2', 'P002', 'payment', TIMESTAMPTZ '2026-01-02 03:04:05.678901+00', NULL,
         1, 12.50::DECIMAL(18,2), 'CNY', 'groceries', NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, 'P003', NULL, NULL, NULL)
    ) AS t(source, event_id, person_id, kind, occurred_at, recorded_at, schema_version, amount,
        currency, merchant_category, due_date, paid_date, status, partner, item, deposit,
        outcome, attribute, value, friend_id, action, case_number, court)"""
    connection = connect()
    try:
        hashes = connection.execute(
            f"SELECT event_id, {CONTENT_HASH_SQL} FROM ({rows}) ORDER BY event_id"
        ).fetchall()
        moved_record = connection.execute(
            f"SELECT {CONTENT_HASH_SQL} FROM ({rows.replace('11:00:00', '12:00:00')}) "
            "WHERE event_id = 'e-1'"
        ).fetchall()
    finally:
        connection.close()
    assert hashes == [("e-1", 6735081780803072119), ("e-2", 5014223906213133495)]
    assert moved_record == [(6735081780803072119,)]


def test_content_hash_is_the_first_63_bits_of_the_md5_of_the_canonical_text() -> None:
    """The engine reads the digest as a number and swaps its bytes: for digests of every
    shape (2,000 events, so every byte of the first eight takes many values), the value is
    the one the first 16 hex digits of MD5 give, as Python computes it; and the hash over a
    relation given its digest column (an HTTP request's way) is the same."""
    given = {
        "source": "'src-' || (i % 7)",
        "event_id": "'e-' || i",
        "person_id": "'P' || i",
        "kind": "'payment'",
        "occurred_at": "TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i)",
        "schema_version": "1",
        "amount": "(i / 100)::DECIMAL(18,2)",
        "currency": "'CNY'",
        "merchant_category": "CASE WHEN i % 3 = 0 THEN NULL ELSE 'groceries' END",
    }
    columns = ", ".join(f"{given.get(name, 'NULL')} AS {name}" for name in INPUT_COLUMNS)
    rows = f"SELECT {columns} FROM range(2000) AS r(i)"
    connection = connect()
    try:
        found = connection.execute(
            f"SELECT {CANONICAL_TEXT_SQL}, {CONTENT_HASH_SQL} FROM ({rows})"
        ).fetchall()
        by_column = connection.execute(
            f"SELECT {CANONICAL_TEXT_SQL}, {DIGESTED_HASH_SQL} FROM {digested(f'({rows})')}"
        ).fetchall()
    finally:
        connection.close()
    assert len(found) == 2000
    assert sorted(by_column) == sorted(found)
    for text, content_hash in found:
        digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
        assert content_hash == int(digest[:16], 16) >> 1


def test_the_engine_hashes_keys_as_the_store_does() -> None:
    """A file's key hashes come from the engine, a request's from Python: the same numbers."""
    keys = [("bank-a", "e-1"), ("shop", "é中-2"), ("s" * 64, "e" * 128), ("", "")]
    key_hash, key_check = event_keys.key_sql()
    connection = connect()
    try:
        computed = [
            connection.execute(
                f"SELECT {key_hash}, {key_check} FROM "
                "(SELECT $source::VARCHAR AS source, $event::VARCHAR AS event_id)",
                {"source": s, "event": e},
            ).fetchall()[0]
            for s, e in keys
        ]
    finally:
        connection.close()
    assert computed == [event_keys.key_hashes(s, e) for s, e in keys]
    assert len(set(computed)) == len(keys) and all(h >= 0 and c >= 0 for h, c in computed)


def _hold_key_hash_of(engine: Engine, source: str, event_id: str) -> None:
    """Index another key with the same key_hash as (source, event_id): a collision."""
    key_hash, key_check = event_keys.key_hashes(source, event_id)
    with engine.begin() as store:
        store.execute(
            key_rows.insert().values(key_hash=key_hash, key_check=key_check ^ 1, content_hash=7)
        )


@pytest.mark.parametrize("door", ["request", "file"])
def test_a_key_whose_hash_another_key_holds_is_kept_by_its_full_key(
    engine: Engine, lake_root: Path, tmp_path: Path, enrolled: list[str], door: str
) -> None:
    events = f.sample_events(6)
    _hold_key_hash_of(engine, events[2]["source"], events[2]["event_id"])
    if door == "request":
        stored = accept_events(engine, lake_root, events, "admin", now=NOW)
    else:
        stored = ingest_file(engine, lake_root, f.write(tmp_path / "a.csv", events), "t")
    assert (stored.new, stored.duplicate) == (6, 0)
    with engine.connect() as store:
        collided = store.execute(select(event_key_collisions)).all()
        known = event_keys.lookup(store, [(e["source"], e["event_id"]) for e in events])
    assert [(s, e) for s, e, _ in collided] == [(events[2]["source"], events[2]["event_id"])]
    assert known.num_rows == 6
    # Resent: a duplicate, found by its full key; changed: refused as any conflict is.
    again = accept_events(engine, lake_root, events, "admin", now=NOW)
    assert (again.new, again.duplicate) == (0, 6)
    changed = {**events[2], "occurred_at": "2026-08-02T10:00:00Z"}
    with pytest.raises(BatchRejected) as caught:
        accept_events(engine, lake_root, [changed], "admin", now=NOW)
    assert f.problems(caught.value) == [(1, "event_id", CONFLICT)]
    with engine.begin() as store:
        assert event_keys.forget(store, [(events[2]["source"], events[2]["event_id"])]) == 1
        assert store.execute(select(event_key_collisions)).all() == []


def test_a_clean_file_is_proved_free_of_repeats_by_its_key_hashes(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    enrolled: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usual file (every key once) is written without classifying it; one that repeats
    a key is classified, written once and counted exactly."""
    classified: list[str] = []
    classify = file_ingest.classify

    def counting(*args: object, **kwargs: object) -> object:
        classified.append("yes")
        return classify(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(file_ingest, "classify", counting)
    events = f.sample_events(12)
    assert ingest_file(engine, lake_root, f.write(tmp_path / "a.parquet", events), "t").new == 12
    assert classified == []
    more = f.sample_events(30)[12:]
    repeated = [*more, dict(more[4])]
    report = ingest_file(engine, lake_root, f.write(tmp_path / "b.parquet", repeated), "t")
    assert (report.total, report.new, report.duplicate) == (19, 18, 1)
    assert classified == ["yes"]
    assert len(consistent(engine, lake_root)) == 30
    assert f.raw_rows(lake_root) == 30


def test_two_keys_of_a_file_sharing_a_key_hash_are_both_stored(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    enrolled: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key_hash shared within the file is no proof of a repeat: the full keys decide, and
    neither event is dropped."""
    events = f.sample_events(8)
    a, b = (events[i]["event_id"] for i in (2, 5))
    key_sql = event_keys.key_sql

    def colliding(source: str = "source", event_id: str = "event_id") -> tuple[str, str]:
        key_hash, key_check = key_sql(source, event_id)
        # b's key_hash is a's, as if MD5's low halves met.
        return (
            f"CASE WHEN {event_id} = '{b}' THEN ({key_sql()[0].replace('event_id', repr(a))}) ELSE {key_hash} END",
            key_check,
        )

    monkeypatch.setattr(event_keys, "key_sql", colliding)
    report = ingest_file(engine, lake_root, f.write(tmp_path / "a.parquet", events), "t")
    assert (report.total, report.new, report.duplicate) == (8, 8, 0)
    assert f.raw_rows(lake_root) == 8


def test_keys_go_in_by_statements_of_many_rows_and_a_taken_one_fails_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key is stored, whatever the rows per statement and per chunk (a last statement
    shorter than the others); a key already indexed fails the whole insert."""
    monkeypatch.setattr(many_rows, "ROWS_PER_STATEMENT", 3)
    monkeypatch.setattr(many_rows, "CHUNK_ROWS", 7)
    keys = event_keys.with_key_hashes(
        pa.table(
            {
                "source": ["bank"] * 20,
                "event_id": [f"e{i}" for i in range(20)],
                "content_hash": list(range(100, 120)),
            }
        )
    ).sort_by(event_keys.KEY_HASH)
    with engine.begin() as store:
        event_keys.add(store, keys)
    assert index(engine) == {event_keys.key_hashes("bank", f"e{i}"): 100 + i for i in range(20)}
    with pytest.raises(event_keys.KeysTaken), engine.begin() as store:
        event_keys.add(store, keys.slice(18))
    assert len(index(engine)) == 20


def test_many_rows_counts_the_rows_inserted_not_those_a_conflict_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count a bulk insert reports spans every statement, the shorter last one too, and
    leaves out the rows ON CONFLICT skipped (the alerts' count rests on it)."""
    monkeypatch.setattr(many_rows, "ROWS_PER_STATEMENT", 3)
    monkeypatch.setattr(many_rows, "CHUNK_ROWS", 7)
    connection = sqlite3.connect(tmp_path / "rows.sqlite")
    connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (9, "b"), (16, "c")])
    values = np.array([[k, f"v{k}"] for k in range(20)], dtype=object)
    cursor = connection.cursor()
    inserted = many_rows.insert(cursor, "INSERT INTO t (k, v)", values, " ON CONFLICT DO NOTHING")
    assert inserted == 17
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (20,)
    connection.close()
