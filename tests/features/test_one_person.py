"""A few people's features and snapshots by queries compiled once equal the whole expression's,
with and without events left out, and the second ask compiles nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from kaimen.engines.embedded import ibis_connection
from kaimen.features import one_person
from kaimen.features.build import build_features
from kaimen.features.exclusions import EXCLUDED_SCHEMA, ExcludedEvents
from kaimen.scoring import person_snapshots
from kaimen.scoring.batch import load_model, snapshot_table
from kaimen.scoring.court_penalty import Deductions
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.store import lake_manifest
from tests.population import LAST, Populations, World

NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(populations: Populations) -> Iterator[World]:
    with populations.copy("scored", "sqlite") as population, population.opened() as w:
        yield w


def _left_out(world: World) -> tuple[list[str], ExcludedEvents]:
    """Two people with late repayments this year, and one of each to leave out."""
    with world.engine.connect() as store:
        files = [world.lake / p for p in lake_manifest.files(store)]
    rows = duckdb.sql(
        "SELECT person_id, min(source), min(event_id) FROM read_parquet($files) "
        "WHERE kind = 'loan_repayment' AND status = 'late' "
        "AND occurred_at >= TIMESTAMPTZ '2026-01-01 00:00:00+00' "
        "GROUP BY person_id HAVING count(*) >= 2 ORDER BY person_id LIMIT 2",
        params={"files": [str(f) for f in files]},
    ).fetchall()
    assert len(rows) == 2
    keys = pa.table([list(column) for column in zip(*rows, strict=True)], schema=EXCLUDED_SCHEMA)
    return [str(r[0]) for r in rows], ExcludedEvents(keys, files)


def test_features_and_snapshots_equal_the_whole_expressions(world: World) -> None:
    backend = ibis_connection()
    paths = summary_paths(world.engine, world.lake)
    (first, second), excluded = _left_out(world)
    model = load_model(world.engine, lake_root=world.lake)
    for left_out in (ExcludedEvents(), excluded):
        whole = build_features(backend, paths, LAST, [first], left_out)
        assert one_person.person_features(backend, paths, LAST, first, left_out) == whole
        # Both people at once, and one more person who has no summaries at all.
        enrolled = pa.table({"person_id": [first, "p-nobody", second]})
        ids = enrolled.column("person_id").to_pylist()
        mine = snapshot_table(
            backend, paths, LAST, enrolled, model, NOW, left_out, Deductions(), ids
        )
        everyone = snapshot_table(
            backend, paths, LAST, enrolled, model, NOW, left_out, Deductions()
        )
        assert mine == everyone.sort_by("person_id")
        assert mine.column("score").null_count == 1  # p-nobody: a thin file
    # Leaving an event out changes what it should.
    plain = one_person.person_features(backend, paths, LAST, first, ExcludedEvents())
    assert plain != one_person.person_features(backend, paths, LAST, first, excluded)


def test_the_second_ask_compiles_nothing_and_leaves_no_table(world: World) -> None:
    backend = ibis_connection()
    paths = summary_paths(world.engine, world.lake)
    (person, _), excluded = _left_out(world)
    model = load_model(world.engine, lake_root=world.lake)
    enrolled = pa.table({"person_id": [person]})
    asks = person_snapshots._query.cache_info().misses
    for _ in range(2):
        snapshot_table(backend, paths, LAST, enrolled, model, NOW, excluded, Deductions(), [person])
    assert person_snapshots._query.cache_info().misses - asks <= 1
    left = backend.con.sql(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'kaimen_one_persons%'"
    ).fetchall()
    assert left == [(0,)]


def test_a_session_holds_one_persons_rows_at_a_time(world: World) -> None:
    backend = ibis_connection()
    paths = summary_paths(world.engine, world.lake)
    (person, other), _ = _left_out(world)
    with one_person.person_rows(backend, paths, [person]) as rows:
        # A second block on the same session would replace the first's table: refused.
        with pytest.raises(RuntimeError, match="already holds"):
            one_person.person_features(backend, paths, LAST, other)
        # Another session is another set of temporary tables.
        elsewhere = one_person.person_features(ibis_connection(), paths, LAST, other)
        held = backend.con.sql(f"SELECT DISTINCT person_id FROM {rows.get_name()}").fetchall()
    assert held == [(person,)] and elsewhere.num_rows == 1
    # Free again once the block ends.
    assert one_person.person_features(backend, paths, LAST, other) == elsewhere
