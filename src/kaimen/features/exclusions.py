"""Items that must not count: events suppressed or corrected after a dispute, or disputed and
pending where the jurisdiction says a contested item does not count.

Summaries are sums over events, so a person with an excluded event has their summary rows
made again from their own lake events without it, and those rows replace theirs: the
features then are exactly what they would be had the event never arrived (every measure,
counts of months included). Only the people concerned are read again; everyone else's
summaries are used as they are. The same expression serves the monthly batch and the
single-person re-score, on DuckDB and on Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from kaimen.engines.parquet_files import read_parquet
from kaimen.features.summaries import summarise
from kaimen.lake.schema import PARTITION

EXCLUDED_SCHEMA = pa.schema(
    [("person_id", pa.string()), ("source", pa.string()), ("event_id", pa.string())]
)


@dataclass(frozen=True)
class ExcludedEvents:
    """The events to leave out, as (person_id, source, event_id) rows, and the lake files
    their people's events are read from."""

    keys: pa.Table = field(default_factory=EXCLUDED_SCHEMA.empty_table)
    lake_paths: Sequence[Path] = ()

    @property
    def empty(self) -> bool:
        return self.keys.num_rows == 0 or not self.lake_paths


def summaries_without(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    excluded: ExcludedEvents,
    person_ids: Sequence[str] | None = None,
) -> ir.Table:
    """The summary rows (of `person_ids` when given) with every excluded event taken out."""
    s = read_parquet(backend, summary_paths)
    if person_ids is not None:
        s = s.filter(s.person_id.isin(list(person_ids)))
    if excluded.empty:
        return s
    keys = excluded.keys
    if person_ids is not None:
        wanted = pa.array(list(person_ids), pa.string())
        keys = keys.filter(pa.compute.is_in(keys.column("person_id"), value_set=wanted))
        if keys.num_rows == 0:
            return s
    left_out = ibis.memtable(keys)
    concerned = left_out.select("person_id").distinct()
    events = read_parquet(backend, excluded.lake_paths)
    if PARTITION in events.columns:
        events = events.drop(PARTITION)
    return with_people_redone(
        s, events.anti_join(left_out, ["person_id", "source", "event_id"]), concerned
    )


def with_people_redone(s: ir.Table, events: ir.Table, concerned: ir.Table) -> ir.Table:
    """Summary rows `s` with the rows of the people in `concerned` (a `person_id` column)
    made again from `events` (theirs are picked out): exactly the rows those events give."""
    redone = summarise(events.semi_join(concerned, "person_id"))
    redone = redone.select(*(redone[name].cast(kind) for name, kind in s.schema().items()))
    return s.anti_join(concerned, "person_id").union(redone)
