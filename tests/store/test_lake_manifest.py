"""The lake's manifest: a batch and its files are listed together or not at all, a file seen
before is found by its hash, and a rewritten file keeps its id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.store import lake_manifest
from kaimen.store.lake_manifest import BatchRecord, FileRecord
from tests.store.store_rows import T0

JAN = FileRecord("2026-01", "events/month=2026-01/part-a.parquet", 10, "a" * 64)
FEB = FileRecord("2026-02", "events/month=2026-02/part-b.parquet", 5, "b" * 64)
MAR = FileRecord("2026-03", "events/month=2026-03/part-c.parquet", 7, "c" * 64)


def record(engine: Engine, files: list[FileRecord], **batch: Any) -> int:
    values: dict[str, Any] = {"channel": "file", "received_at": T0, "events_total": 20}
    values |= {"events_new": sum(f.rows for f in files)} | batch
    with engine.begin() as connection:
        return lake_manifest.record_batch(connection, files=files, **values)


def test_a_batch_and_its_files_are_listed_together(engine: Engine) -> None:
    first = record(engine, [JAN, FEB], file_sha256="1" * 64, file_name="events.csv")
    second = record(engine, [MAR], channel="seal", events_total=7)
    assert second > first
    with engine.connect() as connection:
        assert lake_manifest.batch_for_file(connection, "1" * 64) == BatchRecord(
            first, "file", "events.csv", T0, 20, 15, 5
        )
        assert lake_manifest.batch_for_file(connection, "2" * 64) is None
        assert lake_manifest.files(connection) == [JAN.path, FEB.path, MAR.path]
        assert lake_manifest.files(connection, ["2026-03", "2026-01"]) == [JAN.path, MAR.path]
        assert lake_manifest.files(connection, []) == []
        assert lake_manifest.totals(connection) == (3, 22)
        listed = lake_manifest.listed(connection)
    assert [(month, path) for _, month, path in listed] == [
        (f.month, f.path) for f in (JAN, FEB, MAR)
    ]
    assert [file_id for file_id, _, _ in listed] == sorted(f for f, _, _ in listed)


def test_an_empty_lake_and_a_batch_with_no_new_files(engine: Engine) -> None:
    with engine.connect() as connection:
        assert lake_manifest.totals(connection) == (0, 0)
        assert lake_manifest.listed(connection) == []
    record(engine, [], events_total=3, events_new=0)
    with engine.connect() as connection:
        assert lake_manifest.totals(connection) == (0, 0)


@pytest.mark.parametrize(
    ("files", "batch"),
    [
        ([FEB, MAR], {"file_sha256": "1" * 64}),  # the same input file again
        ([FEB, JAN], {}),  # a path already listed
        ([FEB, FEB], {}),  # one path twice
        ([FEB], {"channel": "email"}),
    ],
)
def test_a_batch_that_cannot_be_listed_lists_none_of_its_files(
    engine: Engine, files: list[FileRecord], batch: dict[str, Any]
) -> None:
    record(engine, [JAN], file_sha256="1" * 64)
    with pytest.raises(IntegrityError):
        record(engine, files, **batch)
    with engine.connect() as connection:
        assert lake_manifest.files(connection) == [JAN.path]
        assert lake_manifest.totals(connection) == (1, 10)


def test_a_rewritten_file_keeps_its_id_and_month(engine: Engine) -> None:
    record(engine, [JAN, FEB])
    with engine.connect() as connection:
        (jan_id, _, _), (feb_id, _, _) = lake_manifest.listed(connection)
    copy = FileRecord("2026-01", "events/month=2026-01/part-d.parquet", 8, "d" * 64)
    with engine.begin() as connection:
        lake_manifest.replace_file(connection, jan_id, copy)
    with engine.connect() as connection:
        assert lake_manifest.listed(connection) == [
            (jan_id, "2026-01", copy.path),
            (feb_id, "2026-02", FEB.path),
        ]
        assert lake_manifest.totals(connection) == (2, 13)


def test_a_rewrite_rolled_back_leaves_the_old_file_listed(engine: Engine) -> None:
    record(engine, [JAN, FEB])
    with engine.connect() as connection:
        (jan_id, _, _), _ = lake_manifest.listed(connection)
    copy = FileRecord("2026-01", "events/month=2026-01/part-d.parquet", 8, "d" * 64)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        lake_manifest.replace_file(connection, jan_id, copy)
        raise RuntimeError("the opt-out failed after rewriting")
    with engine.connect() as connection:
        assert lake_manifest.files(connection) == [JAN.path, FEB.path]


def test_received_times_are_kept_in_utc(engine: Engine) -> None:
    elsewhere = T0.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    record(engine, [], file_sha256="9" * 64, received_at=elsewhere, events_new=0)
    with engine.connect() as connection:
        batch = lake_manifest.batch_for_file(connection, "9" * 64)
    assert batch is not None
    assert batch.received_at == T0
    assert batch.received_at.utcoffset() == dt.timedelta(0)
