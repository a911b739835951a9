"""`build_features(as_of)`: the whole population's features at a month, inside the engine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from kaimen.engines.parquet_files import to_arrow
from kaimen.features.catalogue import CATALOGUE, TwoSteps, Window
from kaimen.features.exclusions import ExcludedEvents, summaries_without

THIN_FILE_REPAYMENTS = 3
THIN_FILE_MONTHS = 3


def features_expression(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    as_of: str,
    person_ids: Sequence[str] | None = None,
    excluded: ExcludedEvents | None = None,
) -> ibis.Table:
    """One row per person with any activity known by `as_of`, a column per feature, with
    the `excluded` events left out."""
    s = summaries_without(backend, summary_paths, excluded or ExcludedEvents(), person_ids)
    return features_of(s, as_of)


def features_of(s: ir.Table, as_of: str) -> ir.Table:
    """`features_expression` over summary rows `s` (their people's, their exclusions applied):
    it needs no backend, so it compiles once for any number of runs (`one_person`)."""
    window = Window(as_of)
    # Only what had happened, and was known, by the end of as_of.
    s = s.filter((s.known_month <= as_of) & (s.occurred_month <= as_of))
    aggregates: dict[str, ir.Value] = {}
    two_steps: dict[str, TwoSteps] = {}
    for name, f in CATALOGUE.items():
        made = f.aggregate(s, window)
        if isinstance(made, TwoSteps):
            two_steps[name] = made
            aggregates |= {f"_{name}_{part}": v for part, v in made.parts.items()}
        else:
            aggregates[name] = made
    table = s.group_by("person_id").aggregate(**aggregates)
    if two_steps:
        finished = {
            name: made.finish({part: table[f"_{name}_{part}"] for part in made.parts})
            for name, made in two_steps.items()
        }
        kept = [finished[n].name(n) if n in finished else table[n] for n in CATALOGUE]
        table = table.select("person_id", *kept)
        for name, made in two_steps.items():
            if made.beyond is not None:
                table = _add_beyond(table, name, made.beyond)
    thin = (table.repayments_12m < THIN_FILE_REPAYMENTS) | (table.history_months < THIN_FILE_MONTHS)
    # Unordered: whoever needs an order asks for it once, at the end of the query it is in.
    return table.mutate(thin_file=thin)


def of_enrolled(people: ir.Table, features: ir.Table) -> ir.Table:
    """Every person of `people` (a `person_id` column) with their `features` (null where
    nothing is known): the rows a month's snapshots are made of."""
    joined = people.left_join(features, people.person_id == features.person_id)
    return joined.select(people.person_id, *(features[n] for n in (*CATALOGUE, "thin_file")))


def _add_beyond(table: ir.Table, name: str, beyond: ir.Table) -> ir.Table:
    """`table` with `beyond`'s per-person count added to column `name`."""
    extra = beyond.select(_person=beyond.person_id, _count=beyond["count"])
    joined = table.left_join(extra, table.person_id == extra._person)
    added = (joined[name] + joined._count.fill_null(0)).name(name)
    return joined.select(*(added if c == name else joined[c] for c in table.columns))


def build_features(
    backend: ibis.BaseBackend,
    summary_paths: Sequence[Path],
    as_of: str,
    person_ids: Sequence[str] | None = None,
    excluded: ExcludedEvents | None = None,
) -> pa.Table:
    """The feature table as Arrow; empty (with its columns) when nothing is summarised."""
    if not summary_paths:
        columns = {"person_id": pa.string(), **{n: pa.float64() for n in CATALOGUE}}
        return pa.schema([*columns.items(), ("thin_file", pa.bool_())]).empty_table()
    expression = features_expression(backend, summary_paths, as_of, person_ids, excluded)
    return to_arrow(backend, expression.order_by("person_id"))
