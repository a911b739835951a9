"""Reading the lake: the files the store lists, deduplicated on (source, event_id)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from kaimen.lake.schema import LAKE_SCHEMA, PARTITION
from kaimen.lake.sql_paths import sql_path_list


def files_sql(root: Path, files: Sequence[str]) -> str:
    """A FROM-clause expression reading the listed lake files (with `month`)."""
    return (
        f"read_parquet({sql_path_list(root / f for f in files)}, hive_partitioning = true, "
        "hive_types = {'month': VARCHAR}, union_by_name = true)"
    )


def raw_events(
    connection: duckdb.DuckDBPyConnection, root: Path, files: Sequence[str]
) -> duckdb.DuckDBPyRelation:
    """Every row of the listed files, with `month` from the partition path."""
    if not files:
        empty = LAKE_SCHEMA.empty_table().append_column(PARTITION, pa.array([], pa.string()))
        return connection.from_arrow(empty)
    return connection.sql(f"SELECT * FROM {files_sql(root, files)}")


def events(
    connection: duckdb.DuckDBPyConnection, root: Path, files: Sequence[str]
) -> duckdb.DuckDBPyRelation:
    """Events with no (source, event_id) counted twice: the first recorded version wins."""
    relation = raw_events(connection, root, files).query(
        "lake",
        "SELECT * FROM lake QUALIFY row_number() OVER "
        "(PARTITION BY source, event_id ORDER BY recorded_at, occurred_at) = 1",
    )
    assert relation is not None
    return relation


def events_of(
    connection: duckdb.DuckDBPyConnection, root: Path, files: Sequence[str], person_id: str
) -> duckdb.DuckDBPyRelation:
    """One person's events, deduplicated as `events` does.

    Filtering first is the same as filtering `events`: the ingest refuses a second version
    of a (source, event_id) with other content, so every copy of an event names the same
    person. It lets the engine skip the row groups of everyone else (files are sorted by
    person).
    """
    if not files:
        return raw_events(connection, root, files)
    relation = connection.sql(
        f"SELECT * FROM {files_sql(root, files)} WHERE person_id = $person "
        "QUALIFY row_number() OVER "
        "(PARTITION BY source, event_id ORDER BY recorded_at, occurred_at) = 1",
        params={"person": person_id},
    )
    return relation


def count_by_kind(
    connection: duckdb.DuckDBPyConnection, root: Path, files: Sequence[str]
) -> list[tuple[str, int, str, str]]:
    """(kind, events, first month, last month) over the deduplicated lake."""
    counts = events(connection, root, files).query(
        "e",
        f"SELECT kind, count(*), min({PARTITION}), max({PARTITION}) FROM e "
        "GROUP BY kind ORDER BY kind",
    )
    assert counts is not None
    rows = counts.fetchall()
    return [(str(k), int(c), str(a), str(b)) for k, c, a, b in rows]
