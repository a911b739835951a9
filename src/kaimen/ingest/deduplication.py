"""Telling new events from replays and from conflicting resends, inside the engine.

An event is identified by (source, event_id). Seen before with the same content: a
duplicate, counted and skipped. Seen before with different content: an error, because a
sender that changes an event must correct it through a dispute, not by silent overwrite.
Content is compared by hash, computed only for keys that occur more than once, so the
common case (all keys new) costs one aggregate. Works on any relation named by `staged`
(an in-memory table or staged Parquet files), with aggregates and hash joins that DuckDB
can spill to disk, so a batch may exceed memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from kaimen.domain.errors import RowError
from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.input_files import LINE
from kaimen.lake import reader
from kaimen.lake.schema import CONTENT_HASH

KEYS_SCHEMA = pa.schema(
    [("source", pa.string()), ("event_id", pa.string()), (CONTENT_HASH, pa.int64())]
)

# Every field but recorded_at (when a sender recorded an event is not what happened), in
# cheap canonical forms, a unit separator between fields and a marker for NULL; hashed with
# MD5, of which the first 63 bits are kept: a signed 64-bit integer in any database, and a
# chance of 2^-63 that a changed resend of one key passes for the same content. The fields are
# joined by one `concat`, which builds the text once; a chain of `||` built a new string per
# field and cost four times as much (every new event is hashed, so this is on the ingest's
# critical path). Both give the same text, so hashes already stored stay valid.
#
# The first eight bytes of the digest, read big-endian (as the first 16 hex digits of `md5`
# were, so the value is the same): `md5_number` gives the digest as a little-endian number,
# whose low eight bytes are swapped here in integer arithmetic. Writing the digest out as hex
# and parsing half of it back was over a quarter of the hashing (5.5M events: 2.15 against
# 1.9 s for the hash alone, the engine's two threads). The digest is written once for each
# byte; DuckDB evaluates the common subexpression once (the digest alone took 1.85 s).
_DIGEST_LOW = "CAST(md5_number({text}) & 18446744073709551615::UHUGEINT AS UBIGINT)"
# The digest as a column of its own (`digested`), for the swap to read eight times.
CONTENT_DIGEST = "_content_digest"


def _big_endian(digest: str) -> str:
    return " | ".join(
        f"(((({digest}) >> {8 * byte}) & 255::UBIGINT) << {8 * (7 - byte)})" for byte in range(8)
    )


_CANONICAL = {
    "occurred_at": "CAST(epoch_us(occurred_at) AS VARCHAR)",
    "due_date": "CAST(CAST(due_date AS DATE) - DATE '1970-01-01' AS VARCHAR)",
    "paid_date": "CAST(CAST(paid_date AS DATE) - DATE '1970-01-01' AS VARCHAR)",
    "amount": "CAST(CAST(amount * 100 AS BIGINT) AS VARCHAR)",
    "schema_version": "CAST(schema_version AS VARCHAR)",
}
CANONICAL_TEXT_SQL = (
    "concat("
    + ", chr(31), ".join(
        f"coalesce({_CANONICAL.get(name, name)}, chr(0))"
        for name in INPUT_COLUMNS
        if name != "recorded_at"
    )
    + ")"
)
_CONTENT_DIGEST_SQL = _DIGEST_LOW.format(text=CANONICAL_TEXT_SQL)
CONTENT_HASH_SQL = f"CAST(({_big_endian(_CONTENT_DIGEST_SQL)}) >> 1 AS BIGINT)"
# The same hash over a relation that `digested` gave its digest column. For a few rows (an
# HTTP request's): there DuckDB's optimiser took about 20 ms of every query to find the
# digest written eight times in `CONTENT_HASH_SQL` (a quarter of a 100-event `POST
# /v1/events`), and 5 ms to plan this. Not for millions: a file judged this way took half
# as long again as with `CONTENT_HASH_SQL` (5.5M events: 31.2 against 19.7 s).
DIGESTED_HASH_SQL = f"CAST(({_big_endian(CONTENT_DIGEST)}) >> 1 AS BIGINT)"


def digested(relation: str) -> str:
    """`relation` (a table's name or a parenthesised query of events) with each row's digest
    as the column `CONTENT_DIGEST`, which `DIGESTED_HASH_SQL` reads: a subquery to select
    from (`* EXCLUDE (CONTENT_DIGEST)` keeps the relation's own columns)."""
    return f"(SELECT *, {_CONTENT_DIGEST_SQL} AS {CONTENT_DIGEST} FROM {relation})"


@dataclass(frozen=True)
class Classification:
    """Counts, conflicts, and the SQL of the rows to store (each new event once)."""

    total: int
    new: int
    duplicates: int
    errors: list[RowError]
    new_rows_sql: str


def classify(
    connection: duckdb.DuckDBPyConnection,
    staged: str,
    root: Path,
    lake_files: Sequence[str],
    extra_known: pa.Table | None = None,
) -> Classification:
    """Classify every row of `staged` against itself, `lake_files` and `extra_known` keys."""
    connection.execute(
        f"""CREATE OR REPLACE TEMP TABLE batch_keys AS
        SELECT source, event_id, min({LINE}) AS first_line, count(*) AS copies
        FROM {staged} GROUP BY source, event_id"""
    )
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE known "
        f"(source VARCHAR, event_id VARCHAR, {CONTENT_HASH} BIGINT)"
    )
    if lake_files:
        connection.execute(
            f"INSERT INTO known SELECT source, event_id, {CONTENT_HASH_SQL} "
            f"FROM {reader.files_sql(root, lake_files)} "
            "SEMI JOIN batch_keys USING (source, event_id)"
        )
    if extra_known is not None and extra_known.num_rows:
        connection.register("extra_known", extra_known)
        connection.execute("INSERT INTO known SELECT * FROM extra_known")
        connection.unregister("extra_known")
    # Hashes of the batch rows whose key repeats or is already known: usually none.
    candidates = f"""(SELECT * FROM {staged}
        SEMI JOIN (SELECT source, event_id FROM batch_keys WHERE copies > 1
                   UNION SELECT source, event_id FROM known) c USING (source, event_id))"""
    connection.execute(
        f"""CREATE OR REPLACE TEMP TABLE contested AS
        SELECT {LINE}, source, event_id, {DIGESTED_HASH_SQL} AS {CONTENT_HASH}
        FROM {digested(candidates)}"""
    )
    errors = [
        RowError(int(line), "event_id", f"repeats line {first} with different content")
        for line, first in connection.execute(
            f"""SELECT c.{LINE}, b.first_line FROM contested c
            JOIN batch_keys b USING (source, event_id)
            JOIN contested f ON f.source = c.source AND f.event_id = c.event_id
                AND f.{LINE} = b.first_line
            WHERE c.{CONTENT_HASH} <> f.{CONTENT_HASH} ORDER BY c.{LINE}"""
        ).fetchall()
    ]
    errors += [
        RowError(
            int(line),
            "event_id",
            "already recorded from this source with different content; "
            "correct a recorded event through a dispute",
        )
        for (line,) in connection.execute(
            f"""SELECT DISTINCT c.{LINE} FROM contested c JOIN known k USING (source, event_id)
            WHERE k.{CONTENT_HASH} <> c.{CONTENT_HASH} ORDER BY 1"""
        ).fetchall()
    ]
    total, keys = connection.execute(
        "SELECT coalesce(sum(copies), 0), count(*) FROM batch_keys"
    ).fetchall()[0]
    known_keys = connection.execute(
        "SELECT count(*) FROM batch_keys SEMI JOIN known USING (source, event_id)"
    ).fetchall()[0][0]
    new = int(keys) - int(known_keys)
    if int(total) == int(keys) and int(known_keys) == 0:
        new_rows = f"SELECT * FROM {staged}"  # the common case: nothing to drop
    else:
        new_rows = f"""SELECT s.* FROM {staged} s
            SEMI JOIN (SELECT source, event_id, first_line AS {LINE} FROM batch_keys
                       ANTI JOIN known USING (source, event_id)) f
            USING (source, event_id, {LINE})"""
    return Classification(int(total), new, int(total) - new, errors, new_rows)
