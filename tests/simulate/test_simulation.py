"""The simulation: deterministic, ingestible as a whole, and honest about what it models."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from kaimen.domain.national_id import check_many
from kaimen.engines.embedded import connect as connect_engine
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.lake import reader
from kaimen.simulate.behaviour import EVENT_SCHEMA
from kaimen.simulate.run import SimulationSummary, simulate
from kaimen.store import audit, lake_manifest, people
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault

LAST_MONTH = "2026-06"
END_SQL = "TIMESTAMPTZ '2026-07-01 00:00:00+00'"  # the instant the last simulated month ends
TODAY = dt.date(2026, 11, 1)
REPAYMENT_KINDS = ("utility_payment", "bill_repayment", "rent_payment", "loan_repayment")


def _run(
    root: Path,
    name: str,
    people: int = 300,
    months: int = 6,
    seed: int = 7,
    fmt: str = "parquet",
) -> tuple[Path, SimulationSummary]:
    out = root / name
    return out, simulate(people, months, seed, out, LAST_MONTH, fmt)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """300 people over 6 months, seed 7, Parquet."""
    return _run(tmp_path_factory.mktemp("small"), "a")


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """4,000 people over 24 months (2024-07 to 2026-06), for the statistical checks."""
    return _run(tmp_path_factory.mktemp("large"), "a", people=4000, months=24, seed=2026)


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect_engine()
    yield connection
    connection.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    yield engine
    engine.dispose()


def _events_view(connection: duckdb.DuckDBPyConnection, folder: Path) -> None:
    connection.execute(
        f"CREATE OR REPLACE VIEW e AS SELECT * FROM read_parquet('{folder / 'events.parquet'}')"
    )


# -- determinism --------------------------------------------------------------------------


def test_same_arguments_give_identical_files(
    tmp_path: Path, small: tuple[Path, SimulationSummary]
) -> None:
    first, summary = small
    second, again = _run(tmp_path, "b")
    assert (first / "people.csv").read_bytes() == (second / "people.csv").read_bytes()
    assert pq.read_table(first / "events.parquet").equals(pq.read_table(second / "events.parquet"))
    assert pq.read_table(first / "traits.parquet").equals(pq.read_table(second / "traits.parquet"))
    assert again.events == summary.events
    assert again.events_by_kind == summary.events_by_kind


def test_another_seed_gives_other_files(
    tmp_path: Path, small: tuple[Path, SimulationSummary]
) -> None:
    first, summary = small
    other, other_summary = _run(tmp_path, "c", seed=8)
    assert (first / "people.csv").read_bytes() != (other / "people.csv").read_bytes()
    a = pq.read_table(first / "events.parquet")
    b = pq.read_table(other / "events.parquet")
    assert not a.equals(b)
    assert a.column("occurred_at") != b.column("occurred_at")
    assert other_summary.events != summary.events


def test_summary_and_files(small: tuple[Path, SimulationSummary]) -> None:
    folder, summary = small
    assert sorted(p.name for p in folder.iterdir()) == [
        "events.parquet",
        "people.csv",
        "simulation.json",
        "traits.parquet",
    ]
    assert summary.first_month == "2026-01"
    assert summary.last_month == "2026-06"
    events = pq.read_table(folder / "events.parquet")
    assert events.schema.equals(EVENT_SCHEMA)
    assert events.num_rows == summary.events
    assert sum(summary.events_by_kind.values()) == summary.events
    by_kind = events.group_by("kind").aggregate([("kind", "count")]).to_pylist()
    assert {r["kind"]: r["kind_count"] for r in by_kind} == summary.events_by_kind
    # Six months of 300 people: every kind but court judgments (which follow loan defaults
    # by months) shows up.
    assert set(summary.events_by_kind) == {
        "attribute",
        "bill_repayment",
        "donation",
        "fine",
        "friend_link",
        "loan_repayment",
        "payment",
        "rent_payment",
        "rental",
        "utility_payment",
    }
    written = json.loads((folder / "simulation.json").read_text())
    assert written["events"] == summary.events
    assert written["seed"] == 7
    assert written["events_by_kind"] == summary.events_by_kind
    # Education and vehicle for everyone, employer for the employed: all in the first month.
    assert 600 < summary.events_by_kind["attribute"] <= 900
    assert summary.events_by_kind["payment"] > summary.events_by_kind["utility_payment"]


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        simulate(0, 6, 1, tmp_path / "x", LAST_MONTH)
    with pytest.raises(ValueError, match="at least 1"):
        simulate(10, 0, 1, tmp_path / "x", LAST_MONTH)
    with pytest.raises(ValueError, match="format must be one of"):
        simulate(10, 1, 1, tmp_path / "x", LAST_MONTH, "xlsx")


# -- times ---------------------------------------------------------------------------------


def test_event_times_are_consistent(
    small: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = small
    _events_view(duck, folder)
    # Timestamps are compared in SQL (fetching TIMESTAMPTZ values would need pytz).
    after_end, recorded_after_end, recorded_early, last_month = duck.execute(
        f"SELECT count(*) FILTER (WHERE occurred_at >= {END_SQL}), "
        f"count(*) FILTER (WHERE recorded_at >= {END_SQL}), "
        "count(*) FILTER (WHERE recorded_at < occurred_at), "
        "max(strftime(occurred_at, '%Y-%m')) FROM e"
    ).fetchone()  # type: ignore[misc]
    assert after_end == 0
    assert recorded_after_end == 0
    assert recorded_early == 0
    assert last_month == LAST_MONTH
    (late_dates,) = duck.execute(
        "SELECT count(*) FROM e WHERE paid_date >= DATE '2026-07-01' "
        "OR due_date >= DATE '2026-07-01' AND status <> 'defaulted'"
    ).fetchone()  # type: ignore[misc]
    assert late_dates == 0
    # Recording lags are short: exponential with a mean of half a day.
    (mean_lag_hours,) = duck.execute(
        "SELECT avg(epoch(recorded_at) - epoch(occurred_at)) / 3600 FROM e"
    ).fetchone()  # type: ignore[misc]
    assert 6 < mean_lag_hours < 18


def test_events_happen_after_birth(
    small: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = small
    roster = pacsv.read_csv(folder / "people.csv")
    births = check_many(roster.column("national_id").to_pylist(), TODAY).birth_dates
    born = pa.table({"person_id": roster.column("person_id"), "birth_date": pa.array(births)})
    duck.register("born", born)
    _events_view(duck, folder)
    unknown, before_birth, youngest_age = duck.execute(
        "SELECT count(*) FILTER (WHERE born.person_id IS NULL), "
        "count(*) FILTER (WHERE e.occurred_at < CAST(born.birth_date AS TIMESTAMPTZ)), "
        "min(datediff('day', born.birth_date, CAST(e.occurred_at AS DATE))) / 365.25 "
        "FROM e LEFT JOIN born USING (person_id)"
    ).fetchone()  # type: ignore[misc]
    assert unknown == 0
    assert before_birth == 0
    assert youngest_age > 17


# -- ingestion -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "people_count", "months"), [("parquet", 300, 6), ("csv", 80, 3), ("jsonl", 80, 3)]
)
def test_every_simulated_event_is_accepted(
    tmp_path: Path,
    store: Engine,
    vault: IdentityVault,
    fmt: str,
    people_count: int,
    months: int,
) -> None:
    folder, summary = _run(tmp_path, "sim", people_count, months, 31, fmt)
    enrolled = enrol_file(store, vault, folder / "people.csv", "test")
    assert enrolled.enrolled == people_count
    assert enrolled.already_enrolled == 0
    assert people.count_active(store) == people_count

    lake_root = tmp_path / "lake"
    report = ingest_file(store, lake_root, folder / f"events.{fmt}", "test")
    assert report.total == summary.events
    assert report.new == summary.events
    assert report.duplicate == 0
    assert not report.replayed_file

    with store.connect() as connection:
        files = lake_manifest.files(connection)
    duck = connect_engine()
    try:
        counts = reader.count_by_kind(duck, lake_root, files)
    finally:
        duck.close()
    assert {kind: n for kind, n, _, _ in counts} == summary.events_by_kind
    assert audit.verify(store) == 2  # people.enrolled, events.ingested


def test_the_same_events_in_another_format_are_duplicates(
    tmp_path: Path, store: Engine, vault: IdentityVault
) -> None:
    """Formats change nothing about an event: a JSON Lines copy of a Parquet file is a replay."""
    parquet_folder, summary = _run(tmp_path, "p", people=60, months=3, seed=41)
    jsonl_folder, _ = _run(tmp_path, "j", people=60, months=3, seed=41, fmt="jsonl")
    csv_folder, _ = _run(tmp_path, "c", people=60, months=3, seed=41, fmt="csv")
    enrol_file(store, vault, parquet_folder / "people.csv", "test")
    lake_root = tmp_path / "lake"
    first = ingest_file(store, lake_root, parquet_folder / "events.parquet", "test")
    assert first.new == summary.events
    for again in (jsonl_folder / "events.jsonl", csv_folder / "events.csv"):
        report = ingest_file(store, lake_root, again, "test")
        assert (report.new, report.duplicate) == (0, summary.events)
        assert not report.replayed_file


# -- the model is learnable and honest -----------------------------------------------------

LATER = "TIMESTAMPTZ '2025-07-01 00:00:00+00'"  # months 13-24 of 2024-07 .. 2026-06

EARLY_TROUBLE_SQL = f"""
WITH early AS (
    SELECT person_id, bool_or(status IN ('late', 'defaulted')) AS troubled
    FROM e
    WHERE kind IN ('bill_repayment', 'loan_repayment') AND occurred_at < {LATER}
    GROUP BY person_id
),
later AS (
    SELECT person_id, bool_or(status = 'defaulted') AS defaulted
    FROM e
    WHERE kind = 'loan_repayment' AND occurred_at >= {LATER}
    GROUP BY person_id
)
SELECT coalesce(early.troubled, false) AS troubled, count(*) AS borrowers,
       avg(later.defaulted::INTEGER) AS default_rate
FROM later LEFT JOIN early USING (person_id)
GROUP BY ALL ORDER BY troubled
"""


def test_early_late_repayments_predict_later_loan_defaults(
    large: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = large
    _events_view(duck, folder)
    rows = duck.execute(EARLY_TROUBLE_SQL).fetchall()
    assert [r[0] for r in rows] == [False, True]
    (_, clean_n, clean_rate), (_, troubled_n, troubled_rate) = rows
    assert clean_n > 300
    assert troubled_n > 300
    assert clean_rate > 0
    assert troubled_rate / clean_rate > 2, (clean_rate, troubled_rate)


def test_loan_default_rate_is_plausible(
    large: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = large
    _events_view(duck, folder)
    borrowers, defaulters, instalments, defaulted = duck.execute(
        "SELECT count(DISTINCT person_id), "
        "count(DISTINCT person_id) FILTER (WHERE status = 'defaulted'), "
        "count(*), count(*) FILTER (WHERE status = 'defaulted') "
        "FROM e WHERE kind = 'loan_repayment'"
    ).fetchone()  # type: ignore[misc]
    assert 0.25 * 4000 < borrowers < 0.95 * 4000
    assert 0.01 < defaulters / borrowers < 0.30
    assert 0.001 < defaulted / instalments < 0.05
    # One loan at a time: never two instalments due in the same month.
    (most,) = duck.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM e WHERE kind = 'loan_repayment' "
        "GROUP BY person_id, date_trunc('month', due_date))"
    ).fetchone()  # type: ignore[misc]
    assert most == 1
    # Defaulted repayments carry no paid date; the others always do.
    (inconsistent,) = duck.execute(
        "SELECT count(*) FROM e WHERE kind IN ('bill_repayment', 'loan_repayment', "
        "'rent_payment', 'utility_payment') AND (status = 'defaulted') = (paid_date IS NOT NULL)"
    ).fetchone()  # type: ignore[misc]
    assert inconsistent == 0


def test_court_judgments_follow_loan_defaults(
    large: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = large
    _events_view(duck, folder)
    (orphans,) = duck.execute(
        "SELECT count(*) FROM e AS j WHERE kind = 'court_judgment' AND NOT EXISTS ("
        "SELECT 1 FROM e AS d WHERE d.kind = 'loan_repayment' AND d.status = 'defaulted' "
        "AND d.person_id = j.person_id AND d.occurred_at < j.occurred_at)"
    ).fetchone()  # type: ignore[misc]
    assert orphans == 0
    (entered, defaults) = duck.execute(
        "SELECT count(*) FILTER (WHERE kind = 'court_judgment' AND status = 'entered'), "
        "count(*) FILTER (WHERE kind = 'loan_repayment' AND status = 'defaulted') FROM e"
    ).fetchone()  # type: ignore[misc]
    assert 0 < entered < defaults


def test_reliability_correlates_negatively_with_late_repayments(
    large: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = large
    _events_view(duck, folder)
    duck.register("traits", pq.read_table(folder / "traits.parquet"))
    kinds = ", ".join(f"'{k}'" for k in REPAYMENT_KINDS)
    correlation, people_count = duck.execute(
        "SELECT corr(t.reliability, coalesce(l.late, 0)), count(*) FROM traits AS t "
        "LEFT JOIN (SELECT person_id, count(*) AS late FROM e "
        f"WHERE kind IN ({kinds}) AND status IN ('late', 'defaulted') GROUP BY person_id) AS l "
        "USING (person_id)"
    ).fetchone()  # type: ignore[misc]
    assert people_count == 4000
    assert correlation < -0.5, correlation
    # Returning things late or unpaid also tracks reliability, a little more weakly.
    (rental_corr,) = duck.execute(
        "SELECT corr(t.reliability, coalesce(r.bad, 0)) FROM traits AS t "
        "LEFT JOIN (SELECT person_id, count(*) AS bad FROM e WHERE kind = 'rental' "
        "AND outcome IN ('late', 'unpaid') GROUP BY person_id) AS r USING (person_id)"
    ).fetchone()  # type: ignore[misc]
    assert rental_corr < -0.3, rental_corr


def test_friends_have_similar_reliability(
    large: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = large
    _events_view(duck, folder)
    duck.register("traits", pq.read_table(folder / "traits.parquet"))
    (correlation,) = duck.execute(
        "SELECT corr(a.reliability, b.reliability) FROM e "
        "JOIN traits AS a ON a.person_id = e.person_id "
        "JOIN traits AS b ON b.person_id = e.friend_id "
        "WHERE e.kind = 'friend_link' AND e.action = 'added'"
    ).fetchone()  # type: ignore[misc]
    assert correlation > 0.5, correlation


def test_income_drives_spending(
    large: tuple[Path, SimulationSummary], duck: duckdb.DuckDBPyConnection
) -> None:
    folder, _ = large
    _events_view(duck, folder)
    duck.register("traits", pq.read_table(folder / "traits.parquet"))
    (correlation,) = duck.execute(
        "SELECT corr(ln(t.income), ln(s.spent)) FROM traits AS t JOIN ("
        "SELECT person_id, sum(amount)::DOUBLE AS spent FROM e WHERE kind = 'payment' "
        "GROUP BY person_id) AS s USING (person_id)"
    ).fetchone()  # type: ignore[misc]
    assert correlation > 0.8, correlation
