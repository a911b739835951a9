"""A Parquet file of events read by the engine where it lies, straight into the rules.

`iter_input` reads any file as Arrow chunks that the engine then copies in; for a Parquet
file whose columns need no conversion that is a detour: the engine's own reader is parallel
and hands the rows to the rules in the same pass. The view this module makes has the shape
`iter_input` gives (the allowed columns, an absent one as empty text, and `_line`, the row's
1-based position), with the types Arrow would have handed over; any file it cannot promise
that for (unreadable, a column not allowed or repeated, a type to convert, floats, nanoseconds)
goes the chunked way, which reports its problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from kaimen.ingest.event_rules import finer_than_kept
from kaimen.input_files import LINE, keeps_type
from kaimen.lake.sql_paths import sql_path

_PROBE = "parquet_input_probe"


def parquet_view(
    connection: duckdb.DuckDBPyConnection, path: Path, allowed: Sequence[str], name: str
) -> pa.Schema | None:
    """Make `name` a temp view of the Parquet file at `path` in `iter_input`'s shape and
    return its schema; None (and no view) when the file must be read in chunks instead."""
    if path.suffix.lower() != ".parquet":
        return None
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError):
        return None
    present = schema.names
    if len(set(present)) != len(present) or not set(present) <= set(allowed):
        return None
    # Floats go the chunked way too: DuckDB 2.0's Parquet reader hands over a NaN that
    # `isnan` does not recognise, and the rules must name it.
    if not all(keeps_type(f.type) and not pa.types.is_floating(f.type) for f in schema):
        return None
    # Nanoseconds, which the engine's reader would round to microseconds unjudged.
    if any(finer_than_kept(f.type) for f in schema):
        return None
    shape = pa.schema(
        [schema.field(n) if n in present else pa.field(n, pa.string()) for n in allowed]
        + [pa.field(LINE, pa.int64())]
    )
    columns = ", ".join(n if n in present else f"CAST(NULL AS VARCHAR) AS {n}" for n in allowed)
    select = (
        f"SELECT {columns}, file_row_number + 1 AS {LINE} FROM read_parquet("
        f"{sql_path(path)}, file_row_number = true, hive_partitioning = false)"
    )
    try:
        direct = connection.execute(f"DESCRIBE {select}").fetchall()
    except duckdb.Error:
        return None
    # The rules are compiled for what Arrow hands the engine; a type the engine's reader
    # maps otherwise (nanosecond timestamps, say) goes the chunked way.
    connection.register(_PROBE, shape.empty_table())
    try:
        through_arrow = connection.execute(f"DESCRIBE SELECT * FROM {_PROBE}").fetchall()
    finally:
        connection.unregister(_PROBE)
    if [row[1] for row in direct] != [row[1] for row in through_arrow]:
        return None
    connection.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {select}")
    return shape
