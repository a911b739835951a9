"""The steps every batch goes through, whichever door it came in by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.errors import BatchRejected, RowError
from kaimen.ingest.deduplication import KEYS_SCHEMA, Classification, classify
from kaimen.ingest.event_rules import OPTED_OUT, register_people
from kaimen.input_files import LINE
from kaimen.lake.schema import CONTENT_HASH, PARTITION
from kaimen.lake.writer import WrittenFile, write_months
from kaimen.store import inbox, lake_manifest, people

# A report lists at most this many problems; a file that bad needs fixing at its source.
MAX_REPORTED_ERRORS = 100_000


@dataclass(frozen=True)
class IngestReport:
    """What happened to a batch: every event is either new or a duplicate."""

    total: int
    new: int
    duplicate: int
    batch_id: int | None = None
    replayed_file: bool = False


def load_people(connection: duckdb.DuckDBPyConnection, engine: Engine) -> None:
    """Register the people the rules check events against (with who opted out)."""
    with engine.connect() as store:
        register_people(connection, people.event_subjects(store))


def opted_out_rows(
    connection: duckdb.DuckDBPyConnection, engine: Engine, staged: str
) -> list[RowError]:
    """Rows of `staged` about (or linking to) someone who opted out since it was checked.

    Call it holding the lake's lock: an opt-out holds it too, so it has either committed
    (and is seen here) or not yet begun (and will remove what this batch stores).
    """
    with engine.connect() as store:
        departed = people.opted_out_ids(store)
    if not departed:
        return []
    connection.register("departed", pa.table({"person_id": pa.array(departed, pa.string())}))
    try:
        rows = connection.execute(
            f"""SELECT {LINE}, 'person_id', person_id FROM {staged}
            WHERE person_id IN (SELECT person_id FROM departed)
            UNION ALL
            SELECT {LINE}, 'friend_id', friend_id FROM {staged}
            WHERE friend_id IN (SELECT person_id FROM departed)
            ORDER BY 1, 2"""
        ).fetchall()
    finally:
        connection.unregister("departed")
    return [RowError(int(line), field, OPTED_OUT + value) for line, field, value in rows]


def months_in(connection: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    rows = connection.execute(
        f"SELECT DISTINCT {PARTITION} FROM {relation} WHERE {PARTITION} IS NOT NULL"
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def settle(
    connection: duckdb.DuckDBPyConnection,
    engine: Engine,
    root: Path,
    staged: str,
    what: str,
    extra_known: pa.Table | None = None,
) -> Classification:
    """Classify `staged` against the whole lake; conflicts reject the batch.

    The whole lake, not only the months the batch touches: a resend whose time moved to
    another month is still the same (source, event_id), and must be caught as a conflict.
    """
    with engine.connect() as store:
        files = lake_manifest.files(store)
    result = classify(connection, staged, root, files, extra_known)
    if result.errors:
        raise BatchRejected(result.errors, what)
    return result


def load_named_people(connection: duckdb.DuckDBPyConnection, engine: Engine, raw: pa.Table) -> None:
    """Register only the people `raw` names (as subject or friend) for the event rules."""
    named: set[str] = set()
    for column in ("person_id", "friend_id"):
        values = pc.unique(raw.column(column).cast(pa.string())).drop_null()
        named.update(values.to_pylist())
    with engine.connect() as store:
        register_people(connection, people.event_subjects_among(store, sorted(named)))


def unsealed_keys(engine: Engine) -> pa.Table:
    """Keys and content hashes of events received over HTTP and not yet in the lake."""
    with engine.connect() as store:
        rows = inbox.unsealed_keys(store)
    return pa.table(
        {
            "source": [r[0] for r in rows],
            "event_id": [r[1] for r in rows],
            CONTENT_HASH: [r[2] for r in rows],
        },
        schema=KEYS_SCHEMA,
    )


def file_records(written: Sequence[WrittenFile]) -> list[lake_manifest.FileRecord]:
    return [lake_manifest.FileRecord(f.month, f.path, f.rows, f.sha256) for f in written]


def store_new_rows(
    connection: duckdb.DuckDBPyConnection, result: Classification, months: Sequence[str], root: Path
) -> list[WrittenFile]:
    return write_months(connection, result.new_rows_sql, months, root) if result.new else []
