"""Finding the lake's negative events past retention, in one query over the listed files.

What is negative comes from `domain.disputes.NEGATIVE_EVENT_VALUES`, when the conduct ended
from `domain.retention` (see there, per kind); both are turned into SQL here, so the sweep
reads every listed file once and never loops over events in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from kaimen.domain.disputes import NEGATIVE_EVENT_VALUES
from kaimen.domain.retention import PAID_DATE_KINDS, RESOLVED_BY
from kaimen.lake.sql_paths import sql_path_list

EXPIRED_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("source", pa.string()),
        ("event_id", pa.string()),
        ("conduct_ended", pa.date32()),
    ]
)
KEY_COLUMNS = ("person_id", "source", "event_id")


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _values(values: frozenset[str]) -> str:
    return ", ".join(_text(v) for v in sorted(values))


def _negative() -> str:
    """SQL: the row is a negative event."""
    return " OR ".join(
        f"(kind = {_text(kind)} AND {field} IN ({_values(values)}))"
        for kind, (field, values) in sorted(NEGATIVE_EVENT_VALUES.items())
    )


def _resolving() -> str:
    """SQL: the row resolves a negative event of its kind (a fine paid, ...)."""
    return " OR ".join(
        f"(kind = {_text(kind)} AND {field} IN ({_values(values)}))"
        for kind, (field, values, _) in sorted(RESOLVED_BY.items())
    )


def _matching(negative: str, resolution: str) -> str:
    """SQL: `resolution` resolves `negative` (same person, kind and naming fields)."""
    rules = []
    for kind, (_, _, naming) in sorted(RESOLVED_BY.items()):
        same = " AND ".join(f"{resolution}.{f} = {negative}.{f}" for f in naming)
        rules.append(f"({negative}.kind = {_text(kind)} AND {same})")
    return (
        f"{resolution}.person_id = {negative}.person_id AND {resolution}.kind = {negative}.kind "
        f"AND {resolution}.occurred_on >= {negative}.occurred_on AND ({' OR '.join(rules)})"
    )


def _files(root: Path, files: Sequence[str]) -> str:
    return (
        f"read_parquet({sql_path_list(root / f for f in files)}, hive_partitioning = false, "
        "union_by_name = true)"
    )


def expired_events(
    connection: duckdb.DuckDBPyConnection,
    root: Path,
    files: Sequence[str],
    zone: str,
    cutoff: dt.date,
    already: pa.Table,
) -> pa.Table:
    """(person_id, source, event_id, conduct_ended) of each negative event whose conduct
    ended on or before `cutoff` (local dates in `zone`), with the events that resolved them,
    leaving out the keys in `already` (person_id, source, event_id: expired before)."""
    if not files:
        return EXPIRED_SCHEMA.empty_table()
    paid_kinds = ", ".join(_text(k) for k in PAID_DATE_KINDS)
    connection.register("already_expired", already.select(list(KEY_COLUMNS)))
    try:
        sql = f"""
        WITH lake AS (
            SELECT DISTINCT person_id, source, event_id, kind, status, outcome, paid_date,
                case_number, court, CAST(timezone($zone, occurred_at) AS DATE) AS occurred_on
            FROM {_files(root, files)}
            WHERE ({_negative()}) OR ({_resolving()})
        ),
        negative AS (SELECT * FROM lake WHERE {_negative()}),
        resolution AS (SELECT * FROM lake WHERE {_resolving()}),
        ended AS (
            SELECT n.person_id, n.source, n.event_id,
                CASE
                    WHEN n.kind IN ({paid_kinds}) THEN greatest(n.occurred_on,
                        coalesce(n.paid_date, n.occurred_on))
                    ELSE coalesce(min(r.occurred_on), n.occurred_on)
                END AS conduct_ended
            FROM negative n LEFT JOIN resolution r ON {_matching("n", "r")}
            GROUP BY n.person_id, n.source, n.event_id, n.kind, n.occurred_on, n.paid_date
        ),
        expired AS (SELECT * FROM ended WHERE conduct_ended <= $cutoff),
        resolved AS (
            SELECT r.person_id, r.source, r.event_id, e.conduct_ended
            FROM expired e
            JOIN negative n USING (person_id, source, event_id)
            JOIN resolution r ON {_matching("n", "r")} AND r.occurred_on <= e.conduct_ended
        ),
        found AS (
            SELECT person_id, source, event_id, max(conduct_ended) AS conduct_ended
            FROM (SELECT * FROM expired UNION ALL SELECT * FROM resolved)
            GROUP BY ALL
        )
        SELECT * FROM found
        ANTI JOIN already_expired USING (person_id, source, event_id)
        ORDER BY person_id, source, event_id
        """
        table = connection.sql(sql, params={"zone": zone, "cutoff": cutoff}).to_arrow_table()
    finally:
        connection.unregister("already_expired")
    return table.cast(EXPIRED_SCHEMA)


def files_holding(
    connection: duckdb.DuckDBPyConnection,
    root: Path,
    files: Sequence[str],
    keys: pa.Table,
    column: str = "event",
) -> dict[str, int]:
    """path -> how many of its rows match `keys`, for the listed files that hold any: matched
    on (source, event_id) for lake files (`column` "event"), on person_id for summary files
    ("person"). One scan of all files."""
    if not files or keys.num_rows == 0:
        return {}
    names = {str(root / f): f for f in files}
    on = ("source", "event_id") if column == "event" else ("person_id",)
    connection.register("wanted_keys", keys.select(list(on)).group_by(list(on)).aggregate([]))
    try:
        rows = connection.execute(
            f"SELECT filename, count(*) FROM read_parquet({sql_path_list(names)}, "
            "filename = true, hive_partitioning = false, union_by_name = true) "
            f"SEMI JOIN wanted_keys USING ({', '.join(on)}) GROUP BY filename"
        ).fetchall()
    finally:
        connection.unregister("wanted_keys")
    return {names[name]: int(n) for name, n in rows}
