"""The feature pipeline: exact point-in-time builds from incrementally kept summaries."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from kaimen.engines.embedded import ibis_connection
from kaimen.features.build import build_features
from kaimen.features.catalogue import CATALOGUE, MONTH_BITS, Window
from kaimen.features.one_person import person_features
from kaimen.features.summary_build import refresh_summaries, rewrite_summary_without
from kaimen.ingest.file_ingest import ingest_file
from kaimen.store import summary_manifest
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from tests.conftest import NOW
from tests.ingest import events_factory as f


def _ingest(engine: Engine, lake: Path, tmp: Path, name: str, events: list[dict[str, Any]]) -> None:
    # Known when they happened, unless a test says otherwise (unsent, it would be NOW).
    known = [{"recorded_at": e["occurred_at"], **e} for e in events]
    ingest_file(engine, lake, f.write_parquet(tmp / f"{name}.parquet", known), "test", now=NOW)


def _second_store(tmp: Path, vault: IdentityVault) -> tuple[Engine, Path]:
    """Another store with its own lake: a store and its lake are one unit."""
    engine = open_store(f"sqlite:///{tmp / 'second.sqlite'}")
    f.enrol(engine, vault)
    return engine, tmp / "second-lake"


def _features(engine: Engine, lake: Path, as_of: str, people: list[str] | None = None) -> pa.Table:
    backend = ibis_connection()
    refresh_summaries(engine, backend, lake, now=NOW)
    with engine.connect() as store:
        paths = [lake / p for p in summary_manifest.paths(store)]
    return build_features(backend, paths, as_of, people)


def _row(table: pa.Table, person: str) -> dict[str, Any]:
    return next(r for r in table.to_pylist() if r["person_id"] == person)


def _repayment(event_id: str, occurred: str, status: str, person: str = "P001") -> dict[str, Any]:
    day = occurred[:10]
    paid = {"on_time": day, "late": day, "defaulted": None}[status]
    due = day if status == "on_time" else f"{day[:8]}01"
    if status == "defaulted":
        due = f"{day[:8]}01"
    return f.event(
        "bill_repayment",
        event_id,
        person,
        occurred_at=occurred,
        status=status,
        due_date=due,
        paid_date=paid,
    )


@pytest.fixture
def lake(engine: Engine, vault: IdentityVault, lake_root: Path) -> Path:
    f.enrol(engine, vault)
    return lake_root


def test_counts_and_windows_are_exact(engine: Engine, lake: Path, tmp_path: Path) -> None:
    events = [
        _repayment("b1", "2026-09-20T10:00:00+08:00", "late"),
        _repayment("b2", "2026-06-20T10:00:00+08:00", "late"),
        _repayment("b3", "2025-10-20T10:00:00+08:00", "late"),  # 12 months back: outside
        _repayment("b4", "2026-08-05T10:00:00+08:00", "on_time"),
        _repayment("b5", "2026-07-25T10:00:00+08:00", "defaulted"),
        f.event("fine", "f1", occurred_at="2026-03-01T10:00:00+08:00", status="issued"),
        f.event("fine", "f2", occurred_at="2026-03-02T10:00:00+08:00", status="issued"),
        f.event("fine", "f3", occurred_at="2026-04-01T10:00:00+08:00", status="paid"),
        f.event("attribute", "a1", occurred_at="2026-01-01T10:00:00+08:00", value="secondary"),
        f.event("attribute", "a2", occurred_at="2026-05-01T10:00:00+08:00", value="master"),
    ]
    _ingest(engine, lake, tmp_path, "one", events)
    row = _row(_features(engine, lake, "2026-10"), "P001")
    assert row["late_repayments_12m"] == 2
    assert row["serious_delinquencies_24m"] == 1
    assert row["repayments_12m"] == 4
    assert row["on_time_share_12m"] == pytest.approx(1 / 4)
    assert row["unpaid_fines"] == 1
    assert row["education_rank"] == 5  # the later fact wins
    assert row["history_months"] == 9  # 2025-10 and eight months of 2026
    assert Window("2026-10").start(12) == "2025-10"


def test_months_are_counted_once_however_far_back(
    engine: Engine, lake: Path, tmp_path: Path
) -> None:
    """Distinct months are bits for the last MONTH_BITS months and counted apart before
    that: each month once, whichever side of that line and however many rows it has."""
    months = ["2026-10", "2026-09", "2021-09", "2021-08", "2019-01", "2012-03", "1999-12"]
    events = [
        _repayment(f"{month}-{day}", f"{month}-{day}T10:00:00+08:00", "on_time")
        for month in months
        for day in ("05", "20")
    ]
    events.append(_repayment("late-known", "2021-08-07T10:00:00+08:00", "late"))
    events[-1]["recorded_at"] = "2026-10-02T10:00:00+08:00"  # same month, another row
    _ingest(engine, lake, tmp_path, "one", events)
    assert Window("2026-10").start(MONTH_BITS) == "2021-08"  # the line falls between two
    assert _row(_features(engine, lake, "2026-10"), "P001")["history_months"] == len(months)
    assert _row(_features(engine, lake, "2026-09"), "P001")["history_months"] == 6
    assert _row(_features(engine, lake, "2021-09"), "P001")["history_months"] == 5


def test_a_later_event_never_changes_an_earlier_month(
    engine: Engine, lake: Path, tmp_path: Path
) -> None:
    _ingest(engine, lake, tmp_path, "one", f.sample_events(44))
    before = _features(engine, lake, "2026-09")
    october = _row(_features(engine, lake, "2026-10"), "P001")
    later = [
        _repayment("late-report", "2026-09-10T10:00:00+08:00", "late"),  # known in 2026-10
        _repayment("next-month", "2026-10-03T10:00:00+08:00", "late"),
    ]
    later[0]["recorded_at"] = "2026-10-05T09:00:00+08:00"
    _ingest(engine, lake, tmp_path, "two", later)
    assert _features(engine, lake, "2026-09") == before
    after = _row(_features(engine, lake, "2026-10"), "P001")
    assert after["late_repayments_12m"] == october["late_repayments_12m"] + 2


def test_one_person_alone_equals_their_population_row(
    engine: Engine, lake: Path, tmp_path: Path
) -> None:
    _ingest(engine, lake, tmp_path, "one", f.sample_events(44))
    population = _features(engine, lake, "2026-10")
    assert population.num_rows == 4
    for person in f.PEOPLE:
        alone = _features(engine, lake, "2026-10", [person])
        assert alone.to_pylist() == [_row(population, person)]


def test_one_persons_query_compiled_once_gives_their_row_of_the_population(
    engine: Engine, lake: Path, tmp_path: Path
) -> None:
    _ingest(engine, lake, tmp_path, "one", f.sample_events(44))
    backend = ibis_connection()
    refresh_summaries(engine, backend, lake, now=NOW)
    with engine.connect() as store:
        paths = [lake / p for p in summary_manifest.paths(store)]
    for as_of in ("2026-06", "2026-10"):
        population = build_features(backend, paths, as_of)
        for person in [*f.PEOPLE, "P999"]:
            # A new connection each time, as each what-if request has.
            alone = person_features(ibis_connection(), paths, as_of, person)
            assert alone.schema == population.schema
            assert alone.to_pylist() == [
                r for r in population.to_pylist() if r["person_id"] == person
            ]


def test_incremental_summaries_equal_a_rebuild(
    engine: Engine, vault: IdentityVault, lake: Path, tmp_path: Path
) -> None:
    events = f.sample_events(44)
    for index, part in enumerate((events[:20], events[20:30], events[30:])):
        _ingest(engine, lake, tmp_path, f"part{index}", part)
        _features(engine, lake, "2026-10")  # summarise after every batch
    incremental = _features(engine, lake, "2026-10")
    fresh, fresh_lake = _second_store(tmp_path, vault)
    _ingest(fresh, fresh_lake, tmp_path, "all", events)
    assert _features(fresh, fresh_lake, "2026-10") == incremental


def test_shuffled_or_repeated_input_gives_the_same_features(
    engine: Engine, vault: IdentityVault, lake: Path, tmp_path: Path
) -> None:
    events = f.sample_events(44)
    _ingest(engine, lake, tmp_path, "ordered", events)
    expected = _features(engine, lake, "2026-10")
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    other, other_lake = _second_store(tmp_path, vault)
    _ingest(other, other_lake, tmp_path, "shuffled", shuffled + shuffled[:10])
    _ingest(other, other_lake, tmp_path, "again", events[5:25])
    assert _features(other, other_lake, "2026-10") == expected


def test_every_feature_is_documented_with_a_dimension() -> None:
    assert len(CATALOGUE) >= 12
    for feature in CATALOGUE.values():
        assert feature.description and feature.reason
        assert feature.monotone in ("ascending", "descending", "auto")
    dimensions = {feature.dimension for feature in CATALOGUE.values()}
    assert len(dimensions) == 5


def test_a_malformed_month_is_refused() -> None:
    with pytest.raises(ValueError, match="as_of"):
        Window("2026-13")


def _codecs(path: Path) -> set[str]:
    metadata = pq.ParquetFile(path).metadata
    return {
        metadata.row_group(g).column(c).compression
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    }


def test_summaries_are_compressed_for_reading_and_events_for_keeping(
    engine: Engine, lake: Path, tmp_path: Path
) -> None:
    _ingest(engine, lake, tmp_path, "all", f.sample_events(12))
    _features(engine, lake, "2026-10")
    with engine.connect() as store:
        (summary,) = summary_manifest.paths(store)
    assert _codecs(lake / summary) == {"SNAPPY"}
    assert {c for p in (lake / "events").rglob("*.parquet") for c in _codecs(p)} == {"ZSTD"}
    person = pq.read_table(lake / summary).column("person_id")[0].as_py()
    copy, rows = rewrite_summary_without(duckdb.connect(), lake, summary, person)
    assert _codecs(lake / copy) == {"SNAPPY"}
    assert rows == pq.ParquetFile(lake / summary).metadata.num_rows - sum(
        1 for p in pq.read_table(lake / summary).column("person_id").to_pylist() if p == person
    )
