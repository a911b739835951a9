"""Telling new events from replays and from conflicting resends.

An event is identified by (source, event_id). Seen before with the same content: a
duplicate, counted and skipped. Seen before with different content: an error, because a
sender that changes an event must correct it through a dispute, not by silent overwrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from kaimen.domain.errors import RowError
from kaimen.input_files import LINE
from kaimen.lake import reader
from kaimen.lake.schema import CONTENT_HASH, PARTITION

KEYS_SCHEMA = pa.schema(
    [("source", pa.string()), ("event_id", pa.string()), (CONTENT_HASH, pa.string())]
)


@dataclass(frozen=True)
class Deduplicated:
    new: pa.Table
    duplicates: int
    errors: list[RowError]


def lake_keys(
    connection: duckdb.DuckDBPyConnection, root: Path, files: Sequence[str], batch: pa.Table
) -> pa.Table:
    """Keys and content hashes in the lake `files` that also occur in `batch`."""
    if not files:
        return KEYS_SCHEMA.empty_table()
    connection.register("batch_keys", batch.select(["source", "event_id"]))
    try:
        keys = reader.raw_events(connection, root, files).query(
            "lake",
            f"SELECT source, event_id, {CONTENT_HASH} FROM lake "
            "SEMI JOIN batch_keys USING (source, event_id)",
        )
        assert keys is not None
        return keys.to_arrow_table()
    finally:
        connection.unregister("batch_keys")


CLASSIFY_SQL = f"""
WITH batch AS (
    SELECT *,
        row_number() OVER w AS occurrence,
        first_value({LINE}) OVER w AS first_line,
        first_value({CONTENT_HASH}) OVER w AS first_hash
    FROM typed
    WINDOW w AS (PARTITION BY source, event_id ORDER BY {LINE})
),
existing AS (
    SELECT source, event_id, any_value({CONTENT_HASH}) AS existing_hash,
           count(DISTINCT {CONTENT_HASH}) AS versions
    FROM known GROUP BY source, event_id
)
SELECT batch.*, existing.existing_hash, existing.versions,
    CASE
        WHEN occurrence > 1 AND {CONTENT_HASH} <> first_hash THEN 'conflict_in_batch'
        WHEN existing_hash IS NOT NULL AND (versions > 1 OR existing_hash <> {CONTENT_HASH})
            THEN 'conflict_stored'
        WHEN occurrence > 1 OR existing_hash IS NOT NULL THEN 'duplicate'
        ELSE 'new'
    END AS verdict
FROM batch LEFT JOIN existing USING (source, event_id)
"""


def deduplicate(
    connection: duckdb.DuckDBPyConnection, typed: pa.Table, known: pa.Table
) -> Deduplicated:
    """Split `typed` into new rows, a duplicate count and conflict errors."""
    connection.register("typed", typed)
    connection.register("known", known)
    try:
        connection.execute(f"CREATE OR REPLACE TEMP TABLE classified AS {CLASSIFY_SQL}")
        conflicts = connection.execute(
            f"SELECT {LINE}, verdict, first_line FROM classified "
            f"WHERE verdict LIKE 'conflict%' ORDER BY {LINE}"
        ).fetchall()
        counted = connection.execute(
            "SELECT count(*) FROM classified WHERE verdict = 'duplicate'"
        ).fetchall()
        columns = ", ".join(typed.column_names)
        new = connection.sql(
            f"SELECT {columns} FROM classified WHERE verdict = 'new' "
            f"ORDER BY {PARTITION}, person_id"
        ).to_arrow_table()
    finally:
        connection.execute("DROP TABLE IF EXISTS classified")
        connection.unregister("typed")
        connection.unregister("known")
    errors = [
        RowError(
            int(line),
            "event_id",
            f"repeats line {first_line} with different content"
            if verdict == "conflict_in_batch"
            else "already recorded from this source with different content; "
            "correct a recorded event through a dispute",
        )
        for line, verdict, first_line in conflicts
    ]
    return Deduplicated(new, int(counted[0][0]), errors)
