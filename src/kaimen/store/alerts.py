"""The person's alerts and their file's freeze.

An alert is raised in the transaction of what caused it (a decision, a report, a published
month, an ingested event, a court-list link, a refused attempt), so one never stands without
its cause. Each is unique per person, kind and cause (`ref`): raising it again (a re-run of a
month, a resent file) is a no-op, so every cause is told once and only once. Score changes are
keyed by their run before the person (migration 0031), so a person's are found through the
runs (`person_alert_ids`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    ColumnClause,
    Connection,
    Insert,
    Select,
    String,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from kaimen.domain.errors import NotFound
from kaimen.domain.json_values import JsonObject, JsonValue
from kaimen.store import access_log, arrow_copy, sqlite_columns, sqlite_staging
from kaimen.store.tables import SCORE_CHANGE_KIND, alerts, people, score_runs

# A published score this far from the person's previous one is an alert.
SCORE_CHANGE_POINTS = 20
ROWS_PER_INSERT = 5_000
# Rows a PostgreSQL statement of `raise_for_rows` sends at once (SQLite takes the whole batch
# staged): an ingested file names one per negative event.
BULK_ROWS = 200_000
# `raise_for_rows`' rows: whose alert, its cause, and what the person is told (JSON text).
ALERT_ROWS_SCHEMA = pa.schema(
    [("person_id", pa.string()), ("ref", pa.string()), ("details", pa.string())]
)


class AlertKind(StrEnum):
    INQUIRY = "inquiry"
    SCORE_CHANGE = SCORE_CHANGE_KIND
    NEGATIVE_ITEM = "negative_item"
    COURT_LIST_MATCH = "court_list_match"
    FROZEN_ATTEMPT = "frozen_attempt"


class UnknownAlert(NotFound):
    """No such alert of this person's."""


@dataclass(frozen=True)
class Alert:
    alert_id: int
    kind: AlertKind
    ref: str
    raised_at: dt.datetime
    read_at: dt.datetime | None
    # What the person is told, by kind: who asked, the scores before and after, the item...
    details: JsonObject


@dataclass(frozen=True)
class NewAlert:
    person_id: str
    kind: AlertKind
    ref: str
    details: Mapping[str, JsonValue]


@dataclass(frozen=True)
class FrozenAttempt:
    """A partner's request about a person that a freeze refused: logged in the person's
    access log (nothing disclosed) and raised as an alert."""

    person_id: str
    actor: str
    partner_id: str
    purpose: str  # the access log's purpose: "decision: ...", "report", "feedback"
    asked: str  # decision, report, events
    ref: str  # unique per attempt
    at: dt.datetime


REFUSED_WHAT = "refused"
# The access-log flag of an attempt on a frozen file, in the form of every refused attempt's
# flag ("refused: <reason>", sharing.attempts.refusal_flag).
FROZEN_FLAG = "refused: frozen"
# What the access log says a refused attempt was shown: nothing.
REFUSED_DISCLOSED = "nothing: the file is frozen"


def _ignoring_repeats(connection: Connection) -> Insert:
    """An insert into `alerts` that skips a row whose cause is raised already (by either of
    the keys, whichever holds the row's kind: the table has no other unique one)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(alerts).on_conflict_do_nothing()
    return sqlite.insert(alerts).on_conflict_do_nothing()


def person_alert_ids(person_id: str) -> Select[tuple[int]]:
    """The ids of the person's alerts, each found by a key: score changes through the
    published runs (each run's part of their key, its `ref`), every other kind by the key
    led by the person. A score change is raised in its run's publication, so its run is one
    of `score_runs`."""
    runs = select(score_runs.c.month + "/" + score_runs.c.model_version)
    # The kind written into the statement, as the keys' predicates name it: a plan made
    # without the value (PostgreSQL's generic plans) could not use a partial index.
    score_change: ColumnClause[str] = literal_column(f"'{SCORE_CHANGE_KIND}'", String())
    by_person = select(alerts.c.alert_id).where(
        alerts.c.person_id == person_id, alerts.c.kind != score_change
    )
    by_run = select(alerts.c.alert_id).where(
        alerts.c.kind == score_change,
        alerts.c.ref.in_(runs),
        alerts.c.person_id == person_id,
    )
    return select(union_all(by_person, by_run).subquery().c.alert_id)


def raise_many(connection: Connection, new: Sequence[NewAlert], now: dt.datetime) -> None:
    """Raise each alert not raised already for its cause, in the caller's transaction."""
    rows = [
        {
            "person_id": a.person_id,
            "kind": a.kind.value,
            "ref": a.ref,
            "raised_at": now,
            "details": dict(a.details),
        }
        for a in new
    ]
    statement = _ignoring_repeats(connection)
    for start in range(0, len(rows), ROWS_PER_INSERT):
        connection.execute(statement, rows[start : start + ROWS_PER_INSERT])


def raise_for_rows(
    connection: Connection,
    kind: AlertKind,
    rows: pa.Table,
    now: dt.datetime,
    new: bool = False,
    likely_new: bool = False,
) -> int:
    """As `raise_many`, for a batch's alerts of one `kind` (ALERT_ROWS_SCHEMA, in the order
    their ids are to follow); how many were raised. Handed to the driver whole, as
    SQLAlchemy's per-row parameter handling cost more than the batch's lake write (a file
    of five million events names a few hundred thousand negative items).

    `new`: the caller knows none of the rows' causes was raised before (a run published in
    its transaction), so repeats are not looked for (COPY on PostgreSQL); one would break
    the one-per-cause key and fail the caller's transaction.
    `likely_new`: the caller expects so but cannot prove it (a file's new events): on
    PostgreSQL the rows are copied in under a savepoint and, should one repeat a cause,
    raised again the way that skips repeats. The COPY took half the time of the insert that
    looks for repeats (1.2 against 2.4 s for a file's 360,000 negative items)."""
    if rows.num_rows == 0:
        return 0
    rows = rows.select(ALERT_ROWS_SCHEMA.names).cast(ALERT_ROWS_SCHEMA)
    dialect = connection.dialect
    if (new or likely_new) and dialect.name == "postgresql":
        constants = {"kind": kind.value, "raised_at": now.astimezone(dt.UTC).isoformat()}
        if new:
            arrow_copy.copy_in(connection, "alerts", rows, constants)
            return int(rows.num_rows)
        try:
            with connection.begin_nested():
                arrow_copy.copy_in(connection, "alerts", rows, constants)
            return int(rows.num_rows)
        except IntegrityError:
            pass  # a cause raised before (the savepoint undid the copy): skip the repeats
    repeats = "" if new else " ON CONFLICT DO NOTHING"
    stamp = alerts.c.raised_at.type.dialect_impl(dialect).bind_processor(dialect)
    raised_at = stamp(now) if stamp is not None else now
    if dialect.name != "postgresql":
        # Bound from Arrow in C and copied by SQLite (`sqlite_staging`), in the rows' order.
        staged = sqlite_staging.attach(connection, rows)
        inserted = connection.exec_driver_sql(
            "INSERT INTO alerts (person_id, kind, ref, raised_at, details) "
            f"SELECT person_id, ?, ref, ?, details FROM {staged} ORDER BY rowid{repeats}",
            (kind.value, raised_at),
        )
        # Rows inserted: repeats skipped by ON CONFLICT are not counted.
        return int(inserted.rowcount)
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor()
    raised = 0
    try:
        for batch in rows.to_batches(max_chunksize=BULK_ROWS):
            columns = [batch.column(name).to_pylist() for name in ALERT_ROWS_SCHEMA.names]
            # One statement a batch: arrays unnested on the server, not a row a round trip;
            # sent binary (%b), as adapting them as text cost 13 us a row.
            cursor.execute(
                "INSERT INTO alerts (person_id, kind, ref, raised_at, details) "
                "SELECT p, %s, r, %s, d::json FROM unnest(%b::text[], %b::text[], "
                "%b::text[]) AS t(p, r, d)" + repeats,
                [kind.value, raised_at, *columns],
            )
            raised += int(cursor.rowcount)
    except dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would raise it (IntegrityError for a repeat of a new run's alert).
        raise DBAPIError.instance(None, None, error, dialect.loaded_dbapi.Error) from error
    finally:
        cursor.close()
    return raised


def record_frozen_attempts(
    connection: Connection, attempts: Sequence[FrozenAttempt]
) -> list[FrozenAttempt]:
    """Log each attempt on a person whose file is frozen now (and who is active), with its
    alert; the attempts logged. Reads the freeze in the caller's transaction."""
    if not attempts:
        return []
    ids = sorted({a.person_id for a in attempts})
    frozen = set(
        connection.execute(
            select(people.c.person_id).where(
                people.c.person_id.in_(ids),
                people.c.status == "active",
                people.c.frozen_at.is_not(None),
            )
        ).scalars()
    )
    logged = [a for a in attempts if a.person_id in frozen]
    if not logged:
        return []
    for a in logged:
        access_log.record(
            connection,
            a.person_id,
            a.actor,
            a.purpose,
            REFUSED_WHAT,
            attempt_disclosed(a.asked),
            a.at,
            FROZEN_FLAG,
        )
        raise_many(
            connection,
            [NewAlert(a.person_id, AlertKind.FROZEN_ATTEMPT, a.ref, attempt_details(a))],
            a.at,
        )
    return logged


def attempt_disclosed(asked: str) -> JsonObject:
    return {"asked": asked, "disclosed": REFUSED_DISCLOSED}


def attempt_details(attempt: FrozenAttempt) -> JsonObject:
    return {"partner_id": attempt.partner_id, "asked": attempt.asked}


@dataclass(frozen=True)
class PreviousRun:
    """The run published before a month's run, with its scores (`person_id`, `score`; thin
    files left out) and, when the new run's scores were at hand, the alerts they raise
    against them (`_change_alerts`: people no longer active not yet left out)."""

    month: str
    model_version: str
    scores: pa.Table
    alerts: pa.Table | None = None


def _previous_run(connection: Connection, month: str, model_version: str) -> Any:
    """The (month, model_version) of the run published before this one, or None."""
    this_run = (score_runs.c.month == month) & (score_runs.c.model_version == model_version)
    return connection.execute(
        select(score_runs.c.month, score_runs.c.model_version)
        .where(~this_run, score_runs.c.month <= month)
        .order_by(score_runs.c.month.desc(), score_runs.c.published_at.desc())
        .limit(1)
    ).first()


def previous_run_scores(
    connection: Connection, month: str, model_version: str, new: pa.Table | None = None
) -> PreviousRun | None:
    """The run published before (`month`, `model_version`) with its scores (by COPY on
    PostgreSQL); None when there is none. It can be read on a connection of its own while the
    month's rows are written (`store.month_publication`): under READ COMMITTED the
    publication's own transaction would read the same committed rows. With the new run's
    scores (`new`), they are matched against the previous run's here too: on that thread,
    beside the rows, rather than after them (0.4 s at a million people)."""
    previous = _previous_run(connection, month, model_version)
    if previous is None:
        return None
    found = PreviousRun(previous.month, previous.model_version, _run_scores(connection, *previous))
    if new is None:
        return found
    made = _change_alerts(_matched(new, found.scores), month, model_version, found)
    return dataclasses.replace(found, alerts=made)


def _change_alerts(
    both: pa.Table, month: str, model_version: str, previous: PreviousRun
) -> pa.Table:
    """The score-change alerts (ALERT_ROWS_SCHEMA, by person) of the people in `both`
    (`_matched`) whose score moved SCORE_CHANGE_POINTS or more, active or not."""
    change = pc.abs(pc.subtract(both.column("score"), both.column("score_before")))
    moved = both.filter(pc.fill_null(pc.greater_equal(change, SCORE_CHANGE_POINTS), False))
    moved = moved.sort_by("person_id")
    details = pc.binary_join_element_wise(
        f'{{"month":"{month}","from_score":',
        pc.cast(moved.column("score_before"), pa.string()),
        ',"to_score":',
        pc.cast(moved.column("score"), pa.string()),
        f',"from_month":"{previous.month}"}}',
        "",
    )
    return pa.table(
        {
            "person_id": moved.column("person_id"),
            "ref": pa.array([f"{month}/{model_version}"] * moved.num_rows, pa.string()),
            "details": details,
        },
        schema=ALERT_ROWS_SCHEMA,
    )


def _matched(scores: pa.Table, previous: pa.Table) -> pa.Table:
    """The new run's scored people (`scores`: `person_id`, `score`, in their order) with
    their score in the previous run (`score_before`, null where they had none)."""
    new = scores.select(["person_id", "score"]).cast(_RUN_SCORES)
    new = new.filter(pc.is_valid(new.column("score")))
    # Looked up by position, which keeps the new rows' order: a fifth of the time of
    # Arrow's hash join at 1M.
    position = pc.index_in(new.column("person_id"), value_set=previous.column("person_id"))
    return new.append_column("score_before", pc.take(previous.column("score"), position))


def raise_score_changes(
    connection: Connection,
    month: str,
    model_version: str,
    now: dt.datetime,
    scores: pa.Table | None = None,
    previous: PreviousRun | None = None,
) -> int:
    """Alerts for every active person whose score in the run just published (`month`,
    `model_version`) is `SCORE_CHANGE_POINTS` or more from their score in the run published
    before it; how many were raised. Call it after the run's own row.

    `scores` are the run's published scores (`person_id`, `score`) when the caller has them
    in hand (the monthly batch); the run's row was then inserted in this same transaction
    (a run is published once), so none of its alerts can exist yet. `previous` is the run
    before with its scores when the caller read them already (`previous_run_scores`, given
    these same `scores` if it is to match them too); they are used only if it is still the
    run before as this transaction sees it.
    """
    found = _previous_run(connection, month, model_version)
    if found is None:
        return 0
    if previous is None or (previous.month, previous.model_version) != tuple(found):
        previous = PreviousRun(found.month, found.model_version, _run_scores(connection, *found))
    # The people matched in Arrow, only the alerts sent back (by COPY for a new run on
    # PostgreSQL). Joining the runs' rows in the server and inserting with ON CONFLICT took
    # 8.2 s of a million people's batch on PostgreSQL; SQLite's own join (the new run walked,
    # the old one looked up) took 2.6 against 2.0 s this way, one after the other in one store.
    fresh = scores is not None
    # Made already where the caller read the previous run with these scores.
    rows = previous.alerts if fresh and previous.alerts is not None else None
    if rows is None:
        if scores is None:
            scores = _run_scores(connection, month, model_version)
        rows = _change_alerts(_matched(scores, previous.scores), month, model_version, previous)
    inactive = _inactive(connection, rows.column("person_id"))
    if len(inactive):
        rows = rows.filter(pc.invert(pc.is_in(rows.column("person_id"), inactive)))
    return raise_for_rows(connection, AlertKind.SCORE_CHANGE, rows, now, new=fresh)


_RUN_SCORES = pa.schema([("person_id", pa.string()), ("score", pa.int64())])


def _run_scores(connection: Connection, month: str, model_version: str) -> pa.Table:
    """A published run's scores (`person_id`, `score`; thin files left out), in bulk."""
    query = (
        "SELECT person_id, score FROM score_snapshots "
        "WHERE month = {} AND model_version = {} AND score IS NOT NULL"
    )
    if connection.dialect.name == "postgresql":
        return arrow_copy.copy_out(connection, query, [month, model_version], _RUN_SCORES)
    bound = query.format("?", "?")
    return sqlite_columns.read(connection, bound, [month, model_version], _RUN_SCORES)


def _inactive(connection: Connection, person_ids: pa.ChunkedArray) -> pa.Array:
    """Which of `person_ids` are not active now (erased, opted out...), read in the
    caller's transaction: few, so they are read rather than every active person."""
    # The condition of the partial index `ix_people_not_active`, as written there.
    found = connection.execute(select(people.c.person_id).where(text("people.status <> 'active'")))
    gone = pa.array(list(found.scalars()), pa.string())
    # The few looked up among the many, not the many hashed to look up the few.
    return pc.filter(person_ids, pc.is_in(person_ids, value_set=gone)).combine_chunks()


def _alert(row: Any) -> Alert:
    return Alert(
        row.alert_id, AlertKind(row.kind), row.ref, row.raised_at, row.read_at, row.details
    )


def of_person(connection: Connection, person_id: str, unread_only: bool = False) -> list[Alert]:
    """The person's alerts, newest first."""
    query = select(alerts).where(alerts.c.alert_id.in_(person_alert_ids(person_id)))
    if unread_only:
        query = query.where(alerts.c.read_at.is_(None))
    rows = connection.execute(query.order_by(alerts.c.alert_id.desc()))
    return [_alert(r) for r in rows]


def mark_read(
    connection: Connection, person_id: str, alert_id: int, now: dt.datetime
) -> tuple[Alert, bool]:
    """Mark one of the person's alerts read (once: a second time keeps the first time); the
    alert, and whether this marked it."""
    result = connection.execute(
        update(alerts)
        .where(
            alerts.c.alert_id == alert_id,
            alerts.c.person_id == person_id,
            alerts.c.read_at.is_(None),
        )
        .values(read_at=now)
    )
    row = connection.execute(
        select(alerts).where(alerts.c.alert_id == alert_id, alerts.c.person_id == person_id)
    ).first()
    if row is None:
        raise UnknownAlert(f"no alert {alert_id} of yours")
    return _alert(row), result.rowcount == 1


def frozen_since(connection: Connection, person_id: str, lock: bool = False) -> dt.datetime | None:
    """When the person froze their file, or None while it is not frozen."""
    query = select(people.c.frozen_at).where(people.c.person_id == person_id)
    if lock:
        query = query.with_for_update()
    return connection.execute(query).scalar_one_or_none()


def set_frozen(connection: Connection, person_id: str, frozen_at: dt.datetime | None) -> bool:
    """Freeze (a time) or unfreeze (None) an active person's file; False when that changed
    nothing (already so)."""
    condition = (
        people.c.frozen_at.is_(None) if frozen_at is not None else people.c.frozen_at.is_not(None)
    )
    result = connection.execute(
        update(people)
        .where(people.c.person_id == person_id, people.c.status == "active", condition)
        .values(frozen_at=frozen_at)
    )
    return result.rowcount == 1


def frozen_among(connection: Connection, person_ids: Sequence[str]) -> set[str]:
    """Which of `person_ids` are active with a frozen file."""
    if not person_ids:
        return set()
    rows = connection.execute(
        select(people.c.person_id).where(
            people.c.person_id.in_(sorted(set(person_ids))),
            people.c.status == "active",
            people.c.frozen_at.is_not(None),
        )
    )
    return set(rows.scalars())
