"""The summary manifest: every lake file is summarised exactly once, a summary file and the
lake files it covers are listed together, and a rewritten summary keeps its id."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.store import lake_manifest, summary_manifest
from kaimen.store.lake_manifest import FileRecord
from tests.store.store_rows import T0


def add_lake_files(engine: Engine, *months: str) -> list[int]:
    files = [FileRecord(m, f"events/month={m}/part-{m}.parquet", 10, "a" * 64) for m in months]
    with engine.begin() as connection:
        lake_manifest.record_batch(
            connection,
            channel="file",
            received_at=T0,
            events_total=10 * len(files),
            events_new=10 * len(files),
            files=files,
        )
        listed = lake_manifest.listed(connection)
    return [file_id for file_id, month, _ in listed if month in months]


def summarise(engine: Engine, path: str, file_ids: list[int]) -> int:
    with engine.begin() as connection:
        return summary_manifest.record(connection, path, 3, file_ids, T0)


def test_lake_files_wait_until_a_summary_covers_them(engine: Engine) -> None:
    jan, feb = add_lake_files(engine, "2026-01", "2026-02")
    with engine.connect() as connection:
        assert summary_manifest.unsummarised(connection) == [
            (jan, "events/month=2026-01/part-2026-01.parquet"),
            (feb, "events/month=2026-02/part-2026-02.parquet"),
        ]
    first = summarise(engine, "summaries/part-1.parquet", [jan])
    [mar] = add_lake_files(engine, "2026-03")
    with engine.connect() as connection:
        assert [f for f, _ in summary_manifest.unsummarised(connection)] == [feb, mar]
    second = summarise(engine, "summaries/part-2.parquet", [feb, mar])
    with engine.connect() as connection:
        assert summary_manifest.unsummarised(connection) == []
        assert summary_manifest.paths(connection) == [
            "summaries/part-1.parquet",
            "summaries/part-2.parquet",
        ]
        assert summary_manifest.listed(connection) == [
            (first, "summaries/part-1.parquet"),
            (second, "summaries/part-2.parquet"),
        ]


@pytest.mark.parametrize(
    ("path", "covers"),
    [
        ("summaries/part-2.parquet", "both"),  # one lake file summarised twice
        ("summaries/part-1.parquet", "new"),  # a summary path already listed
        ("summaries/part-2.parquet", "missing"),  # a lake file that is not listed
    ],
)
def test_a_summary_that_cannot_be_listed_covers_nothing(
    engine: Engine, path: str, covers: str
) -> None:
    jan, feb = add_lake_files(engine, "2026-01", "2026-02")
    summarise(engine, "summaries/part-1.parquet", [jan])
    file_ids = {"both": [feb, jan], "new": [feb], "missing": [feb, feb + 100]}[covers]
    with pytest.raises(IntegrityError):
        summarise(engine, path, file_ids)
    with engine.connect() as connection:
        assert [f for f, _ in summary_manifest.unsummarised(connection)] == [feb]
        assert summary_manifest.paths(connection) == ["summaries/part-1.parquet"]


def test_a_rewritten_summary_keeps_its_id_and_what_it_covers(engine: Engine) -> None:
    jan, feb = add_lake_files(engine, "2026-01", "2026-02")
    first = summarise(engine, "summaries/part-1.parquet", [jan])
    second = summarise(engine, "summaries/part-2.parquet", [feb])
    with engine.begin() as connection:
        summary_manifest.replace(connection, first, "summaries/part-3.parquet", 2)
    with engine.connect() as connection:
        assert summary_manifest.listed(connection) == [
            (first, "summaries/part-3.parquet"),
            (second, "summaries/part-2.parquet"),
        ]
        assert summary_manifest.unsummarised(connection) == []


def test_no_summaries_in_an_empty_store(engine: Engine) -> None:
    with engine.connect() as connection:
        assert summary_manifest.unsummarised(connection) == []
        assert summary_manifest.paths(connection) == []
        assert summary_manifest.listed(connection) == []
