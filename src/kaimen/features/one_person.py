"""One person's features at a month on embedded DuckDB, with the query compiled once a month.

`build_features` for one person costs about a third of a second, nearly all of it Ibis
building and compiling the catalogue's expression (the engine's own work is a few
milliseconds): a what-if paid it on every request. Here the expression is compiled once per
month and summary schema, over a table of the person's summary rows that each run fills
first, and the SQL is run as it is. The result is `build_features(..., person_ids=[id])`'s
(a test holds them equal); any other engine takes that way.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from kaimen.features.build import build_features, features_of
from kaimen.features.exclusions import ExcludedEvents

DUCKDB = "duckdb"
# The person's summary rows, a temporary table of the connection that runs the query.
ROWS = "kaimen_one_persons_summaries"
# Months and schemas compiled at most: a process asks about the latest month or two.
KEPT = 16


def person_features(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    as_of: str,
    person_id: str,
    excluded: ExcludedEvents | None = None,
) -> pa.Table:
    """`person_id`'s row of the features at `as_of` (no row when they have no summaries),
    the `excluded` events left out. A person with events to leave out has their summaries
    made again from the lake (`features.exclusions`): the whole expression's way."""
    if backend.name != DUCKDB or not summary_paths or not _nothing_of(excluded, person_id):
        return build_features(backend, summary_paths, as_of, [person_id], excluded)
    connection: duckdb.DuckDBPyConnection = backend.con
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {ROWS} AS "
        "SELECT * FROM read_parquet($paths) WHERE person_id = $person_id",
        {"paths": [str(p) for p in summary_paths], "person_id": person_id},
    )
    try:
        rows = connection.sql(f"SELECT * FROM {ROWS} LIMIT 0").to_arrow_table().schema
        sql, schema = _query(as_of, rows)
        return connection.sql(sql).to_arrow_table().cast(schema)
    finally:
        connection.execute(f"DROP TABLE IF EXISTS {ROWS}")


def _nothing_of(excluded: ExcludedEvents | None, person_id: str) -> bool:
    """True when `excluded` leaves out none of the person's events."""
    if excluded is None or excluded.empty:
        return True
    return person_id not in excluded.keys.column("person_id").to_pylist()


@functools.lru_cache(maxsize=KEPT)
def _query(as_of: str, rows: pa.Schema) -> tuple[str, pa.Schema]:
    """The features query over `ROWS` at `as_of`, and its result's schema (Ibis's types)."""
    summaries = ibis.table(ibis.Schema.from_pyarrow(rows), name=ROWS)
    expression = features_of(summaries, as_of).order_by("person_id")
    return str(ibis.to_sql(expression, dialect=DUCKDB)), expression.schema().to_pyarrow()
