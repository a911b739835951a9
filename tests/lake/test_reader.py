"""Reading the lake: only the files the store lists, each (source, event_id) once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from kaimen.lake import reader
from kaimen.lake.schema import LAKE_SCHEMA, PARTITION
from tests.lake.lake_rows import T0, event, write_events

HOUR = dt.timedelta(hours=1)


def ids(relation: duckdb.DuckDBPyRelation) -> list[tuple[str, str]]:
    rows = relation.query("r", "SELECT source, event_id FROM r ORDER BY source, event_id")
    assert rows is not None
    return [(str(s), str(e)) for s, e in rows.fetchall()]


def test_only_listed_files_are_read(duck: duckdb.DuckDBPyConnection, lake_root: Path) -> None:
    [listed] = write_events(duck, lake_root, [event("e1"), event("e2")])
    [unlisted] = write_events(duck, lake_root, [event("e3")])
    assert (lake_root / unlisted.path).exists()
    assert ids(reader.events(duck, lake_root, [listed.path])) == [
        ("bank-a", "e1"),
        ("bank-a", "e2"),
    ]
    assert ids(reader.raw_events(duck, lake_root, [unlisted.path])) == [("bank-a", "e3")]


def test_no_files_read_as_no_events_with_the_lake_columns(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    for read in (reader.raw_events, reader.events):
        relation = read(duck, lake_root, [])
        assert relation.columns == [*LAKE_SCHEMA.names, PARTITION]
        assert relation.fetchall() == []
    assert reader.events_of(duck, lake_root, [], "P001").fetchall() == []
    assert reader.count_by_kind(duck, lake_root, []) == []


def test_an_event_in_two_files_is_read_once_the_first_recorded_version_winning(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    [later] = write_events(
        duck, lake_root, [event("e1", recorded_at=T0 + 2 * HOUR, merchant_category="later")]
    )
    [first] = write_events(
        duck,
        lake_root,
        [
            event("e1", recorded_at=T0 + HOUR, merchant_category="first"),
            event("e1", source="bank-b", merchant_category="other source"),
        ],
    )
    files = [later.path, first.path]
    assert len(reader.raw_events(duck, lake_root, files).fetchall()) == 3
    deduplicated = reader.events(duck, lake_root, files)
    rows = deduplicated.query(
        "d", "SELECT source, merchant_category FROM d ORDER BY source"
    ).fetchall()
    assert rows == [("bank-a", "first"), ("bank-b", "other source")]


def test_one_persons_events_deduplicated_with_their_month(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    written = write_events(
        duck,
        lake_root,
        [
            event("e1", "P001"),
            event("e2", "P002"),
            event("e3", "P001", occurred_at=T0 + dt.timedelta(days=40)),
        ],
    )
    [again] = write_events(duck, lake_root, [event("e1", "P001", recorded_at=T0 + HOUR)])
    files = [w.path for w in written] + [again.path]
    mine = reader.events_of(duck, lake_root, files, "P001")
    rows = mine.query(
        "m", f"SELECT event_id, recorded_at, {PARTITION} FROM m ORDER BY 1"
    ).fetchall()
    assert rows == [("e1", T0, "2026-01"), ("e3", T0 + dt.timedelta(days=40), "2026-02")]


def test_counts_by_kind_over_the_deduplicated_lake(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    written = write_events(
        duck,
        lake_root,
        [
            event("e1"),
            event("e2", occurred_at=T0 + dt.timedelta(days=40)),
            event("f1", kind="fine", amount=200, currency="CNY", status="issued"),
        ],
    )
    [replay] = write_events(duck, lake_root, [event("e1")])
    files = [w.path for w in written] + [replay.path]
    assert reader.count_by_kind(duck, lake_root, files) == [
        ("fine", 1, "2026-01", "2026-01"),
        ("payment", 2, "2026-01", "2026-02"),
    ]


def test_a_lake_under_a_root_with_quotes_and_spaces_reads(
    duck: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    root = tmp_path / 'it\'s the "lake"'
    written = write_events(duck, root, [event("e1"), event("e2")])
    assert ids(reader.events(duck, root, [w.path for w in written])) == [
        ("bank-a", "e1"),
        ("bank-a", "e2"),
    ]
