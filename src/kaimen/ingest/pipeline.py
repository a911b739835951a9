"""The steps every batch goes through, whichever door it came in by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.disputes import ItemKind, negative_event_sql
from kaimen.domain.errors import BatchRejected, RowError
from kaimen.domain.text import excerpt
from kaimen.ingest.deduplication import KEYS_SCHEMA, Classification, classify
from kaimen.ingest.event_rules import OPTED_OUT, register_people
from kaimen.input_files import LINE
from kaimen.lake import reader
from kaimen.lake.schema import CONTENT_HASH, PARTITION
from kaimen.lake.writer import (
    EVENTS_DIR,
    INCOMING_DIR,
    WrittenFile,
    unlisted_files,
)
from kaimen.store import alerts, inbox, lake_manifest, people

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


# A resolution (kind, status) and the event that opens its case: a fine is paid only once
# issued, a judgment satisfied or overturned only once entered.
RESOLUTIONS = {
    ("fine", "paid"): ("fine", "issued"),
    ("court_judgment", "satisfied"): ("court_judgment", "entered"),
    ("court_judgment", "overturned"): ("court_judgment", "entered"),
}


def _pairs_sql(pairs: Sequence[tuple[str, str]]) -> str:
    return " OR ".join(f"(kind = '{k}' AND status = '{s}')" for k, s in sorted(set(pairs)))


def unrecorded_cases(
    connection: duckdb.DuckDBPyConnection, engine: Engine, root: Path, staged: str
) -> list[RowError]:
    """Rows of `staged` that pay a fine or resolve a judgment whose case was never recorded
    for that person: no event opening it (same kind, person and case number) in `staged`,
    the lake or the inbox. One anti-join in DuckDB, whatever the number of rows; the lake is
    read only for the people named by a resolution."""
    resolving, opening = _pairs_sql(list(RESOLUTIONS)), _pairs_sql(list(RESOLUTIONS.values()))
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE resolutions AS "
        f"SELECT {LINE}, kind, status, person_id, case_number FROM {staged} WHERE {resolving}"
    )
    counted = connection.execute("SELECT count(*) FROM resolutions").fetchone()
    if counted is None or counted[0] == 0:
        connection.execute("DROP TABLE resolutions")
        return []
    people_named = [
        str(r[0])
        for r in connection.execute(
            "SELECT DISTINCT person_id FROM resolutions WHERE case_number IS NOT NULL"
        ).fetchall()
    ]
    with engine.connect() as store:
        files = lake_manifest.files(store)
        waiting = inbox.unsealed_cases(store, list(RESOLUTIONS.values()), people_named)
    connection.register(
        "inbox_cases",
        pa.table(
            {
                "kind": pa.array([w[0] for w in waiting], pa.string()),
                "person_id": pa.array([w[1] for w in waiting], pa.string()),
                "case_number": pa.array([w[2] for w in waiting], pa.string()),
            }
        ),
    )
    connection.register("named", pa.table({"person_id": pa.array(people_named, pa.string())}))
    lake = (
        f"UNION ALL SELECT kind, person_id, case_number FROM {reader.files_sql(root, files)} "
        f"WHERE ({opening}) AND person_id IN (SELECT person_id FROM named)"
        if files and people_named
        else ""
    )
    try:
        rows = connection.execute(
            f"""WITH opened AS (
                SELECT kind, person_id, case_number FROM {staged} WHERE {opening}
                UNION ALL SELECT kind, person_id, case_number FROM inbox_cases {lake})
            SELECT r.{LINE}, r.kind, r.status, r.case_number FROM resolutions r
            WHERE r.case_number IS NULL OR NOT EXISTS (
                SELECT 1 FROM opened o WHERE o.kind = r.kind AND o.person_id = r.person_id
                AND o.case_number = r.case_number)
            ORDER BY 1"""
        ).fetchall()
    finally:
        connection.unregister("inbox_cases")
        connection.unregister("named")
        connection.execute("DROP TABLE resolutions")
    return [
        RowError(
            int(line),
            "case_number",
            f"a {status} {kind} must name its case"
            if case is None
            else f"no {kind} with case number {excerpt(case)} was recorded for this person",
        )
        for line, kind, status, case in rows
    ]


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


def sweep_unlisted(engine: Engine, root: Path) -> int:
    """Delete event files (and staged ones) the store does not list; returns how many.

    A process killed between placing a file and committing its listing leaves one behind,
    which kaimen's readers ignore (they read the manifest) but a raw glob over the lake
    would count. Call it holding `exclusive`: every writer of the lake holds it, so no file
    in flight is mistaken for debris.
    """
    with engine.connect() as store:
        listed = lake_manifest.files(store)
    debris = unlisted_files(root, listed, (EVENTS_DIR, INCOMING_DIR))
    for path in debris:
        path.unlink(missing_ok=True)
    return len(debris)


def file_records(written: Sequence[WrittenFile]) -> list[lake_manifest.FileRecord]:
    return [lake_manifest.FileRecord(f.month, f.path, f.rows, f.sha256) for f in written]


def negative_alerts(connection: duckdb.DuckDBPyConnection, rows_sql: str) -> pa.Table:
    """An alert for each negative event among the new rows `rows_sql` selects (a fine issued,
    a judgment entered, a repayment late or defaulted...), its cause the event's item as a
    dispute names it, so the person can dispute it from there: rows for
    `alerts.raise_for_rows`, built in the engine (a file may name hundreds of thousands)."""
    item = f"'{ItemKind.EVENT.value}:' || source || '/' || event_id"
    table: pa.Table = connection.sql(
        f"SELECT person_id, source || '/' || event_id AS ref, "
        f"to_json({{'kind': kind, 'state': coalesce(status, outcome), 'item': {item}}})"
        f"::VARCHAR AS details FROM ({rows_sql}) WHERE {negative_event_sql()} "
        "ORDER BY person_id, source, event_id"
    ).to_arrow_table()
    return table.cast(alerts.ALERT_ROWS_SCHEMA)
