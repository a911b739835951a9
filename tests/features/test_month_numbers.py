"""Months as numbers in the engine: the same month as the calendar's, at every edge."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pyarrow as pa

from kaimen.engines.embedded import ibis_connection, temp_table
from kaimen.features.month_numbers import month_number, month_text
from kaimen.features.summaries import summarise
from kaimen.simulate.run import simulate

ONE = dt.timedelta(microseconds=1)


def _edges() -> list[dt.datetime]:
    """The first and last microsecond of every month from 1900 to 2199, and leap days."""
    out = []
    for year in range(1900, 2200):
        for month in range(1, 13):
            start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
            out += [start, start - ONE, start + dt.timedelta(days=14, hours=13)]
        if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            out.append(dt.datetime(year, 2, 29, 23, 59, 59, tzinfo=dt.UTC))
    return out


def test_month_numbers_and_their_text_match_the_calendar() -> None:
    moments = _edges()
    backend = ibis_connection()
    table = temp_table(
        backend, "moments", pa.table({"at": pa.array(moments, pa.timestamp("us", tz="UTC"))})
    )
    number = month_number(table.at)
    got = backend.to_pyarrow(
        table.select(table.at, number.name("number"), month_text(number).name("text"))
    )
    by_moment = dict(
        zip(
            got.column("at").to_pylist(),
            zip(got.column("number").to_pylist(), got.column("text").to_pylist(), strict=True),
            strict=True,
        )
    )
    assert len(by_moment) == len(set(moments))
    for moment in moments:
        expected = moment.year * 12 + moment.month - 1
        assert by_moment[moment] == (expected, f"{moment.year:04d}-{moment.month:02d}"), moment


def test_the_portable_form_is_used_where_no_engine_is_known() -> None:
    table = ibis.table({"at": "timestamp('UTC')"}, name="moments")
    assert "epoch_us" not in str(ibis.to_sql(table.select(month_number(table.at).name("n"))))


def test_summaries_equal_the_portable_form_on_a_seeded_population(tmp_path: Path) -> None:
    """The summaries DuckDB makes with its month arithmetic are, row for row and type for
    type, those of the portable form (the engine's calendar functions, as on Spark)."""
    simulate(300, 24, 3, tmp_path, "2026-10")
    backend = ibis_connection()
    events = backend.read_parquet(str(tmp_path / "events.parquet"))
    fast = backend.to_pyarrow(summarise(events))
    unbound = ibis.table(events.schema(), name="seeded_events")
    backend.con.register("seeded_events", backend.to_pyarrow(events))
    portable = backend.con.sql(str(ibis.to_sql(summarise(unbound), dialect="duckdb")))
    expected = portable.to_arrow_table()
    assert "epoch_us" not in str(ibis.to_sql(summarise(unbound), dialect="duckdb"))
    assert fast.schema == expected.schema
    assert fast.num_rows > 5_000
    keys = [
        ("person_id", "ascending"),
        ("occurred_month", "ascending"),
        ("known_month", "ascending"),
    ]
    assert fast.sort_by(keys).equals(expected.sort_by(keys))
