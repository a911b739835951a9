"""A few people's summary rows and features on embedded DuckDB, each query compiled once.

`build_features` for one person costs about a third of a second, nearly all of it Ibis
building and compiling the catalogue's expression (the engine's own work is a few
milliseconds): a what-if paid it on every request, a re-score once more for the model. Here
the people's summary rows are put in a temporary table of the session (`person_rows`), and
the queries over it are compiled once per month and schema and run as they are. The
excluded events are left out the same way as everywhere (`features.exclusions`: the people
concerned are summarised again from their own lake events), also by a query compiled once.
The results are those of the whole expression (tests hold them equal); any other engine
takes the whole expression's way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.engines.embedded import fill_temp_table
from kaimen.features.build import build_features, features_of
from kaimen.features.exclusions import ExcludedEvents, with_people_redone
from kaimen.lake.schema import PARTITION

DUCKDB = "duckdb"
# Temporary tables of the session that runs the queries: the people's summary rows, and,
# when some of their events are left out, those events and the keys left out.
ROWS = "kaimen_one_persons_summaries"
EVENTS = "kaimen_one_persons_events"
LEFT_OUT = "kaimen_one_persons_left_out"
# Months and schemas compiled at most: a process asks about the latest month or two.
KEPT = 16
# The sessions inside a `person_rows` block now: its tables have fixed names (the compiled
# queries name them), so a second block on the same session would replace the first's.
_IN_USE: set[int] = set()


def runs_here(backend: ibis.BaseBackend, summary_paths: Sequence[Path]) -> bool:
    """True when `person_rows` can serve `backend` (embedded DuckDB, something summarised)."""
    return backend.name == DUCKDB and bool(summary_paths)


@contextmanager
def person_rows(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    person_ids: Sequence[str],
    excluded: ExcludedEvents | None = None,
) -> Iterator[ibis.Table]:
    """For the block: the summary rows of `person_ids` with their `excluded` events left
    out, as the temporary table `ROWS` of `backend`'s session (an unbound table of its
    schema, for expressions compiled once over it)."""
    connection: duckdb.DuckDBPyConnection = backend.con
    if id(connection) in _IN_USE:
        raise RuntimeError("this session already holds a person's rows: use another backend")
    _IN_USE.add(id(connection))
    ids = list(dict.fromkeys(person_ids))
    try:
        rows = _people_rows(connection, ROWS, summary_paths, ids)
        keys = _keys_of(excluded, ids)
        if keys is not None and excluded is not None:
            _leave_out(connection, rows, excluded.lake_paths, keys)
        yield ibis.table(ibis.Schema.from_pyarrow(rows), name=ROWS)
    finally:
        try:
            for name in (ROWS, EVENTS, LEFT_OUT):
                connection.execute(f"DROP TABLE IF EXISTS {name}")
        finally:
            _IN_USE.discard(id(connection))


def person_features(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    as_of: str,
    person_id: str,
    excluded: ExcludedEvents | None = None,
) -> pa.Table:
    """`person_id`'s row of the features at `as_of` (no row when they have no summaries),
    the `excluded` events left out: `build_features(..., person_ids=[person_id])`."""
    if not runs_here(backend, summary_paths):
        return build_features(backend, summary_paths, as_of, [person_id], excluded)
    with person_rows(backend, summary_paths, [person_id], excluded) as rows:
        sql, schema = _features_query(as_of, rows.schema().to_pyarrow())
        return backend.con.sql(sql).to_arrow_table().cast(schema)


def _people_rows(
    connection: duckdb.DuckDBPyConnection, table: str, paths: Sequence[Path], ids: list[str]
) -> pa.Schema:
    """The rows of `ids` in the Parquet files `paths` as the temporary table `table`; its
    schema."""
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS "
        "SELECT * FROM read_parquet($paths) WHERE list_contains($ids, person_id)",
        {"paths": [str(p) for p in paths], "ids": ids},
    )
    return connection.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema


def _keys_of(excluded: ExcludedEvents | None, ids: list[str]) -> pa.Table | None:
    """The keys `excluded` leaves out of these people's events; None when there are none."""
    if excluded is None or excluded.empty:
        return None
    keys = excluded.keys
    keys = keys.filter(pc.is_in(keys.column("person_id"), value_set=pa.array(ids, pa.string())))
    return keys if keys.num_rows else None


def _leave_out(
    connection: duckdb.DuckDBPyConnection,
    rows: pa.Schema,
    lake_paths: Sequence[Path],
    keys: pa.Table,
) -> None:
    """Replace `ROWS` by `exclusions.with_people_redone` of it: the rows of the people with
    keys summarised again from their lake events without those events."""
    fill_temp_table(connection, LEFT_OUT, keys)
    ids = list(dict.fromkeys(keys.column("person_id").to_pylist()))
    events = _people_rows(connection, EVENTS, lake_paths, ids)
    sql = _redone_query(rows, events, keys.schema)
    connection.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} AS {sql}")


@functools.lru_cache(maxsize=KEPT)
def _redone_query(rows: pa.Schema, events: pa.Schema, keys: pa.Schema) -> str:
    """`ROWS` with the people of `LEFT_OUT` summarised again from `EVENTS` less its keys."""
    s = ibis.table(ibis.Schema.from_pyarrow(rows), name=ROWS)
    e = ibis.table(ibis.Schema.from_pyarrow(events), name=EVENTS)
    left_out = ibis.table(ibis.Schema.from_pyarrow(keys), name=LEFT_OUT)
    if PARTITION in e.columns:
        e = e.drop(PARTITION)
    kept = e.anti_join(left_out, ["person_id", "source", "event_id"])
    redone = with_people_redone(s, kept, left_out.select("person_id").distinct())
    return str(ibis.to_sql(redone, dialect=DUCKDB))


@functools.lru_cache(maxsize=KEPT)
def _features_query(as_of: str, rows: pa.Schema) -> tuple[str, pa.Schema]:
    """The features query over `ROWS` at `as_of`, and its result's schema (Ibis's types)."""
    summaries = ibis.table(ibis.Schema.from_pyarrow(rows), name=ROWS)
    expression = features_of(summaries, as_of).order_by("person_id")
    return str(ibis.to_sql(expression, dialect=DUCKDB)), expression.schema().to_pyarrow()
