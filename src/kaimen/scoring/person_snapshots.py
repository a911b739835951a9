"""A few people's snapshots by the card on embedded DuckDB, the query compiled once a month.

A re-score (a dispute filed or answered, a court listing lifted, a retention expiry) makes one
person's snapshot through `batch.snapshot_table`, whose expression of features and card took
Ibis about half a second to build and compile each time, against a few milliseconds of the
engine's work. Here the same expressions (`features.build.features_of`, `of_enrolled`,
`model.card_snapshots.snapshot_columns`) are compiled once per month, schema and card, over
the people's summary rows in a temporary table (`features.one_person.person_rows`, which
leaves out their excluded events as the batch does), and the SQL is run as it is. Tests hold
a re-scored snapshot equal to the monthly batch's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from kaimen.engines.embedded import fill_temp_table
from kaimen.features.build import features_of, of_enrolled
from kaimen.features.exclusions import ExcludedEvents
from kaimen.features.one_person import DUCKDB, KEPT, ROWS, person_rows
from kaimen.model.card_snapshots import snapshot_columns
from kaimen.model.scorecard import Characteristic, Scorecard

# The people asked about (a temporary table of the session running the query).
PEOPLE = "kaimen_one_persons_people"


@dataclass(frozen=True)
class _Card:
    """A card as a cache key: its characteristics are all the query reads of it."""

    characteristics: tuple[Characteristic, ...]
    card: Scorecard = field(compare=False, hash=False)


def person_snapshots(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    month: str,
    enrolled: pa.Table,
    card: Scorecard,
    excluded: ExcludedEvents,
    person_ids: Sequence[str],
) -> pa.Table:
    """The snapshot columns of the people of `enrolled` (`person_ids`, a few) at `month`,
    ordered by person: `snapshot_columns(card, ...)` of their features, `excluded` left out.
    For `features.one_person.runs_here` backends."""
    connection: duckdb.DuckDBPyConnection = backend.con
    people = enrolled.select(["person_id"])
    with person_rows(backend, summary_paths, person_ids, excluded) as rows:
        try:
            fill_temp_table(connection, PEOPLE, people)
            sql, schema = _query(
                month, rows.schema().to_pyarrow(), people.schema, _Card(card.characteristics, card)
            )
            return connection.sql(sql).to_arrow_table().cast(schema)
        finally:
            connection.execute(f"DROP TABLE IF EXISTS {PEOPLE}")


@functools.lru_cache(maxsize=KEPT)
def _query(month: str, rows: pa.Schema, people: pa.Schema, card: _Card) -> tuple[str, pa.Schema]:
    """The snapshot query over the temporary tables, and its result's schema."""
    summaries = ibis.table(ibis.Schema.from_pyarrow(rows), name=ROWS)
    everyone = ibis.table(ibis.Schema.from_pyarrow(people), name=PEOPLE)
    features = of_enrolled(everyone, features_of(summaries, month))
    expression = snapshot_columns(card.card, features).order_by("person_id")
    return str(ibis.to_sql(expression, dialect=DUCKDB)), expression.schema().to_pyarrow()
