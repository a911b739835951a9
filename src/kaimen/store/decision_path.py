"""A partner's decision in one transaction on one pooled connection, with its statements
written once per dialect and run on the driver itself.

`POST /v1/decisions` is the path partners call most. Built per call through SQLAlchemy's
expression language, its statements cost about half of its CPU (coercions, cache keys,
compilation) before the database saw them. Here the SQL is text fixed at import, executed on
the DBAPI connection the engine's pool hands out, so the driver's own statement cache
(SQLite) or a server-side prepared statement per connection (PostgreSQL) does the rest:

- one read on PostgreSQL: the API key (gating everything else), the partner's open offer,
  the person's live `decision` consent (only with the offer) and their latest published
  snapshot (only with the consent), one row; on SQLite, which is in-process, the same in
  simple statements (the key and its offer once a transaction, see `SQLITE_KEY`);
- one write: the decision and its access-log row, a single statement on PostgreSQL (a
  data-modifying CTE), so one round trip; two inserts on SQLite, which is in-process.

Both are in one transaction that the caller opens with `transaction(engine)`. The tables'
types are kept as SQLAlchemy writes them (UTC datetimes as naive text on SQLite, JSON as
text), so every other reader sees the same rows.

The API decides in batches: the questions that arrived while the previous batch was being
answered are answered together (group commit), which is where most of a decision's cost went
(a commit on SQLite, a statement's fixed cost and a round trip on PostgreSQL). On SQLite a
batch is one transaction (`record_many` writes its rows with one `executemany` per table). On
PostgreSQL it is two statements on an async connection of the path's own
(`PostgresDecisionConnections`): `read_many`, the one read above for every question at once,
and `record_many_async`, which writes each decision with its access-log row only while the
person's consent is still live, checked by the same statement (autocommit: one statement,
one transaction), so a revocation that commits between the read and the write still refuses.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json
from sqlalchemy import URL, Engine

from kaimen.domain.decisions import Decision
from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import Snapshot, points_from_stored, reasons_from_stored

# Re-exported: the decision path's callers name the row they hand it from here.
from kaimen.store.access_log import Disclosure as Disclosure
from kaimen.store.alerts import (
    FROZEN_FLAG,
    REFUSED_WHAT,
    FrozenAttempt,
    attempt_details,
    attempt_disclosed,
)
from kaimen.store.database import SQLITE_BUSY_TIMEOUT_MS
from kaimen.store.offers import Offer
from kaimen.store.run_characteristics import characteristics_of
from kaimen.store.score_read_path import SNAPSHOT_HISTORY

if TYPE_CHECKING:
    from psycopg import AsyncConnection

# Written with named parameters (`:name`); PostgreSQL's text is derived below. No `::`
# casts in it, so the conversion cannot touch anything but parameters. The snapshot is
# looked for run by run, newest first, each run's month naming its one partition
# (migration 0029): a person's key probed in one month's table, not in every month's.
_DIMENSIONS = tuple(d.value for d in Dimension)
_DIMENSION_MEMBERS = tuple(Dimension)  # iterating the enum itself costs a call per member
READ = f"""
WITH k AS (
    SELECT partner_id, secret_hash, scopes, revoked_at IS NULL AS live,
           (revoked_at IS NULL AND secret_hash = :secret_hash
            AND ',' || scopes || ',' LIKE :scope_pattern) AS admitted
    FROM api_keys
    WHERE key_id = :key_id
),
o AS (
    SELECT offers.offer_id, offers.name, offers.purpose, offers.min_score, offers.min_band,
           offers.min_dimensions
    FROM offers
    JOIN k ON k.admitted AND offers.partner_id = k.partner_id
    WHERE offers.offer_id = :offer_id AND offers.withdrawn_at IS NULL
),
c AS (
    SELECT consents.share_score,
           (SELECT count(*) FROM disputes
            WHERE disputes.person_id = :person_id AND disputes.state = 'open') AS open_disputes
    FROM consents
    JOIN people ON people.person_id = consents.person_id
    JOIN k ON consents.partner_id = k.partner_id
    JOIN o ON 1 = 1
    WHERE consents.person_id = :person_id AND consents.purpose = 'decision'
      AND people.status = 'active' AND people.frozen_at IS NULL
      AND consents.revoked_at IS NULL
      AND (consents.expires_at IS NULL OR consents.expires_at > :now)
    ORDER BY consents.granted_at DESC, consents.consent_id DESC
    LIMIT 1
),
s AS (
    SELECT snap.month, snap.model_version, score_runs.published_at,
           snap.score, snap.band, snap.thin_file,
           {", ".join(f"snap.{d}" for d in _DIMENSIONS)},
           snap.reasons, snap.points, score_runs.characteristics
    FROM score_runs
    JOIN c ON 1 = 1
    CROSS JOIN LATERAL (
        SELECT * FROM score_snapshots
        WHERE score_snapshots.person_id = :person_id
          AND score_snapshots.month = score_runs.month
          AND score_snapshots.model_version = score_runs.model_version
    ) AS snap
    ORDER BY score_runs.month DESC, score_runs.published_at DESC
    LIMIT 1
)
SELECT k.partner_id, k.secret_hash, k.scopes, k.live,
       o.offer_id, o.name, o.purpose, o.min_score, o.min_band, o.min_dimensions,
       c.share_score, c.open_disputes,
       s.*
FROM k
LEFT JOIN o ON 1 = 1
LEFT JOIN c ON 1 = 1
LEFT JOIN s ON 1 = 1
"""
_DECISION_COLUMNS = (
    "decision_id, partner_id, offer_id, person_id, decided_at, month, model_version, "
    "approved, score, points_short, reasons, score_shared"
)
_DECISION_VALUES = (
    ":decision_id, :partner_id, :offer_id, :person_id, :decided_at, :month, :model_version, "
    ":approved, :score, :points_short, {reasons}, :score_shared"
)
_LOG_COLUMNS = "person_id, accessed_at, actor, purpose, what, disclosed, flag"
_LOG_VALUES = ":person_id, :decided_at, :actor, :purpose, :what, {disclosed}, :flag"
# An attempt that was refused but that the person sees (`Attempt`): one statement whether or
# not the person exists, a row only for an active one (the log belongs to a person). A scalar
# subquery, run per row on the primary key: written as EXISTS, PostgreSQL's generic plan for
# a batch (a hundred rows guessed from the JSON) hashed the whole people table instead, and
# PostgreSQL's time per decision went up fivefold (benchmarks/decisions_load.py).
# A frozen file's attempts are logged as such, with their alert (`SQLITE_ATTEMPTS`), not twice.
_ATTEMPT_WHERE = (
    "WHERE (SELECT status FROM people WHERE person_id = {p} AND frozen_at IS NULL) = 'active'"
)
SQLITE_ATTEMPT = (
    f"INSERT INTO access_log ({_LOG_COLUMNS}) "
    f"SELECT {_LOG_VALUES.format(disclosed=':disclosed')} "
    f"{_ATTEMPT_WHERE.format(p=':person_id')}"
)
# The person's alert of the inquiry, written with the decision (its id is the alert's cause).
_ALERT_COLUMNS = "person_id, kind, ref, raised_at, details"
_ALERT_VALUES = ":person_id, 'inquiry', :decision_id, :decided_at, {alert}"
SQLITE_WRITES = (
    f"INSERT INTO decisions ({_DECISION_COLUMNS}) "
    f"VALUES ({_DECISION_VALUES.format(reasons=':reasons')})",
    f"INSERT INTO access_log ({_LOG_COLUMNS}) "
    f"VALUES ({_LOG_VALUES.format(disclosed=':disclosed')})",
    f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES ({_ALERT_VALUES.format(alert=':alert')})",
)
# An attempt refused because the person's file is frozen: its access-log row and its alert,
# each written only while the file is still frozen (and the person active), read by the
# statement that writes. Nothing of the person is disclosed.
_FROZEN_NOW = (
    "FROM people WHERE people.person_id = :person_id AND people.status = 'active' "
    "AND people.frozen_at IS NOT NULL"
)
SQLITE_ATTEMPTS = (
    f"INSERT INTO access_log ({_LOG_COLUMNS}) "
    f"SELECT people.person_id, :at, :actor, :purpose, '{REFUSED_WHAT}', :disclosed, '{FROZEN_FLAG}' "
    f"{_FROZEN_NOW}",
    f"INSERT INTO alerts ({_ALERT_COLUMNS}) "
    f"SELECT people.person_id, 'frozen_attempt', :ref, :at, :details {_FROZEN_NOW}",
)
# SQLite reads the same as `READ` in simple statements, each planned as it should be: READ's
# CTEs are materialised there, with an automatic index and two sorts (about 36 us a question
# inside a transaction, against about 5 + 20 here). In a batch the key and its offer are
# read once for every key and offer its questions present, the consent with the snapshot in
# one statement per question (`SQLITE_GROUNDS`); all inside the batch's one transaction, so
# the key is checked, and the consent read, in the transaction that writes.
SQLITE_KEY = (
    "SELECT partner_id, secret_hash, scopes, revoked_at IS NULL FROM api_keys WHERE key_id = ?"
)
SQLITE_OFFER = (
    "SELECT offer_id, name, purpose, min_score, min_band, min_dimensions FROM offers "
    "WHERE offer_id = ? AND partner_id = ? AND withdrawn_at IS NULL"
)
SQLITE_CONSENT = """
SELECT consents.share_score,
       (SELECT count(*) FROM disputes
        WHERE disputes.person_id = :person_id AND disputes.state = 'open') AS open_disputes
FROM consents
JOIN people ON people.person_id = consents.person_id
WHERE consents.person_id = :person_id AND consents.partner_id = :partner_id
  AND consents.purpose = 'decision' AND people.status = 'active'
  AND people.frozen_at IS NULL AND consents.revoked_at IS NULL
  AND (consents.expires_at IS NULL OR consents.expires_at > :now)
ORDER BY consents.granted_at DESC, consents.consent_id DESC
LIMIT 1
"""
# The consent, and the latest snapshot beside it, in one statement: no row for a person
# without a live consent, whose snapshot SQLite then never materialises (it does so when the
# consent's row asks for it). Measured against the two statements it replaced: 19.5-25.6
# against 21.4-25.7 us a question.
SQLITE_GROUNDS = (
    f"SELECT c.*, s.* FROM ({SQLITE_CONSENT}) AS c LEFT JOIN "
    f"({SNAPSHOT_HISTORY.format(p=':person_id')}LIMIT 1) AS s ON 1 = 1"
)
# One statement: a data-modifying CTE runs to completion whether or not the outer statement
# reads it, and both rows stand or fall together.
POSTGRES_WRITE = (
    f"WITH d AS (INSERT INTO decisions ({_DECISION_COLUMNS}) "
    f"VALUES ({_DECISION_VALUES.format(reasons='CAST(:reasons AS json)')})), "
    f"a AS (INSERT INTO alerts ({_ALERT_COLUMNS}) "
    f"VALUES ({_ALERT_VALUES.format(alert='CAST(:alert AS json)')})) "
    f"INSERT INTO access_log ({_LOG_COLUMNS}) "
    f"VALUES ({_LOG_VALUES.format(disclosed='CAST(:disclosed AS json)')})"
)
_NAMED = re.compile(r"(?<!:):([a-z_]+)")


def _pyformat(sql: str) -> str:
    """`:name` as psycopg's `%(name)s`."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


POSTGRES_READ = _pyformat(READ)
POSTGRES_WRITE = _pyformat(POSTGRES_WRITE)
POSTGRES_ATTEMPTS = tuple(
    _pyformat(
        statement.replace(":disclosed", "CAST(:disclosed AS json)").replace(
            ":details", "CAST(:details AS json)"
        )
    )
    for statement in SQLITE_ATTEMPTS
)

# The same read for many questions: one row per question, in their order, each read exactly
# as above with the question's values in place of the parameters (a lateral subquery). The
# questions go as one JSON array of objects (`json_to_recordset`): one parameter that Python
# encodes in C and PostgreSQL parses in C, where psycopg's array dumpers are Python per element
# and cost more than the rest of the batch.
_QUESTION = (
    ("key_id", "text"),
    ("secret_hash", "text"),
    ("scope_pattern", "text"),
    ("offer_id", "bigint"),
    ("person_id", "text"),
    ("now", "timestamptz"),
    ("position", "bigint"),
)
_PER_QUESTION = READ
for _name, _ in _QUESTION:
    _PER_QUESTION = re.sub(rf"(?<!:):{_name}\b", f"q.{_name}", _PER_QUESTION)
POSTGRES_READ_MANY = (
    "SELECT g.* FROM json_to_recordset(%(questions)s::json) "
    f"AS q({', '.join(f'{n} {t}' for n, t in _QUESTION)}) "
    f"LEFT JOIN LATERAL ({_PER_QUESTION}) g ON true ORDER BY q.position"
)
_WRITTEN = (
    ("decision_id", "text"),
    ("partner_id", "text"),
    ("offer_id", "bigint"),
    ("person_id", "text"),
    ("decided_at", "timestamptz"),
    ("month", "text"),
    ("model_version", "text"),
    ("approved", "boolean"),
    ("score", "bigint"),
    ("points_short", "bigint"),
    ("reasons", "json"),
    ("score_shared", "boolean"),
    ("actor", "text"),
    ("purpose", "text"),
    ("what", "text"),
    ("disclosed", "json"),
    ("alert", "json"),
    ("flag", "text"),
)
# Many decisions with their access-log rows (one JSON array of objects, as above), each only
# while the person's `decision` consent for the partner is live (the read's condition, at the
# decision's time): checked by the statement that writes, so in the write's own transaction.
# Returns the ids written.
POSTGRES_RECORD_MANY = f"""
WITH v AS (
    SELECT * FROM json_to_recordset(%(decided)s::json)
        AS v({", ".join(f"{n} {t}" for n, t in _WRITTEN)})
),
d AS (
    INSERT INTO decisions ({_DECISION_COLUMNS})
    SELECT v.decision_id, v.partner_id, v.offer_id, v.person_id, v.decided_at, v.month,
           v.model_version, v.approved, v.score, v.points_short, v.reasons, v.score_shared
    FROM v
    WHERE EXISTS (
        SELECT 1 FROM consents JOIN people ON people.person_id = consents.person_id
        WHERE consents.person_id = v.person_id AND consents.partner_id = v.partner_id
          AND consents.purpose = 'decision' AND people.status = 'active'
          AND people.frozen_at IS NULL AND consents.revoked_at IS NULL
          AND (consents.expires_at IS NULL OR consents.expires_at > v.decided_at)
    )
    RETURNING decision_id
),
l AS (
    INSERT INTO access_log ({_LOG_COLUMNS})
    SELECT v.person_id, v.decided_at, v.actor, v.purpose, v.what, v.disclosed, v.flag
    FROM v JOIN d ON d.decision_id = v.decision_id
),
a AS (
    INSERT INTO alerts ({_ALERT_COLUMNS})
    SELECT v.person_id, 'inquiry', v.decision_id, v.decided_at, v.alert
    FROM v JOIN d ON d.decision_id = v.decision_id
)
SELECT decision_id FROM d
"""
_ATTEMPTED = (
    ("person_id", "text"),
    ("decided_at", "timestamptz"),
    ("actor", "text"),
    ("purpose", "text"),
    ("what", "text"),
    ("disclosed", "json"),
    ("flag", "text"),
)
POSTGRES_RECORD_ATTEMPTS = f"""
INSERT INTO access_log ({_LOG_COLUMNS})
SELECT v.person_id, v.decided_at, v.actor, v.purpose, v.what, v.disclosed, v.flag
FROM json_to_recordset(%(attempts)s::json) AS v({", ".join(f"{n} {t}" for n, t in _ATTEMPTED)})
{_ATTEMPT_WHERE.format(p="v.person_id")}
"""
# The decisions' write with the refused attempts' rows (a second array) in the same statement
# (a data-modifying CTE runs whether or not the outer statement reads it): a batch with
# refusals the person sees costs no statement more.
POSTGRES_RECORD_WITH_ATTEMPTS = POSTGRES_RECORD_MANY.replace(
    "\nSELECT decision_id FROM d\n",
    f",\nr AS ({POSTGRES_RECORD_ATTEMPTS.strip()})\nSELECT decision_id FROM d\n",
)


@dataclass(frozen=True)
class Question:
    """One partner's question as the decision path reads for it: the presented key (its id
    and its secret's hash), the offer, the person, and when it is asked."""

    key_id: str
    secret_hash: str
    offer_id: int
    person_id: str
    now: dt.datetime


@dataclass(frozen=True)
class KeyOnRecord:
    """The stored side of the presented API key: whose it is, its secret's hash, its scopes
    and whether it is still live."""

    partner_id: str
    secret_hash: str
    scopes: tuple[str, ...]
    live: bool


@dataclass(frozen=True)
class Grounds:
    """What a decision rests on, as one read found it. `offer` is there only for a live key
    with the scope and the secret it was presented with, open and the key's partner's;
    `share_score` (the consent) only with the offer; `snapshot` only with the consent."""

    key: KeyOnRecord | None
    offer: Offer | None
    share_score: bool | None
    snapshot: Snapshot | None
    # Disputes of the person's items awaiting an answer (only with the consent).
    open_disputes: int = 0


@dataclass(frozen=True)
class Attempt:
    """A refused question the person still sees in their access log (without consent, say):
    whose, when, and the row, whose `disclosed` is the refusal the asker was given."""

    person_id: str
    at: dt.datetime
    logged: Disclosure


def _json(value: Any) -> Any:
    """A JSON column as read: text on SQLite, already decoded by psycopg on PostgreSQL.
    pydantic-core's parser (Rust) reads a snapshot's reasons and points in a third of
    `json.loads`'s time, to the same values."""
    return from_json(value) if isinstance(value, str) else value


def _json_text(value: Any) -> str:
    """A JSON value as compact text: pydantic-core's serialiser, a third of
    `json.JSONEncoder`'s time on a decision's values (strings, numbers, booleans, lists and
    objects of them: the same JSON, without the spaces and with UTF-8 left as it is)."""
    return to_json(value).decode()


def _grounds(
    row: tuple[Any, ...] | None, person_id: str, utc: Callable[[Any], dt.datetime]
) -> Grounds:
    if row is None:
        return Grounds(None, None, None, None)
    key, offer = _key_and_offer(row)
    return _person_grounds(key, offer, row[10:], person_id, utc)


def _key_and_offer(row: tuple[Any, ...]) -> tuple[KeyOnRecord, Offer | None]:
    """The key and the offer from a read's first ten columns."""
    partner_id, secret_hash, scopes, live = row[:4]
    key = KeyOnRecord(partner_id, secret_hash, tuple(scopes.split(",")), bool(live))
    offer_id, name, purpose, min_score, min_band, min_dimensions = row[4:10]
    offer = (
        None
        if offer_id is None
        else Offer(
            offer_id,
            partner_id,
            name,
            purpose,
            min_score,
            min_band,
            {Dimension(d): minimum for d, minimum in _json(min_dimensions).items()},
        )
    )
    return key, offer


def _person_grounds(
    key: KeyOnRecord,
    offer: Offer | None,
    row: Sequence[Any],
    person_id: str,
    utc: Callable[[Any], dt.datetime],
) -> Grounds:
    """Grounds with the consent and snapshot columns of a read (from `share_score` on)."""
    share, disputed = row[:2]
    snapshot = None
    month, model_version, published_at, score, band, thin_file = row[2:8]
    if month is not None:
        dimensions = dict(zip(_DIMENSION_MEMBERS, row[8 : 8 + len(_DIMENSIONS)], strict=True))
        reasons, points, characteristics = row[8 + len(_DIMENSIONS) :]
        names = characteristics_of(characteristics)
        snapshot = Snapshot(
            person_id,
            month,
            model_version,
            utc(published_at),
            score,
            band,
            bool(thin_file),
            dimensions,
            reasons_from_stored(names, _json(reasons)),
            points_from_stored(names, _json(points)),
        )
    shared = None if share is None else bool(share)
    return Grounds(key, offer, shared, snapshot, int(disputed or 0))


def _sqlite_time(value: dt.datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite (naive, microseconds always shown),
    so that text comparisons and other readers agree."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _from_sqlite_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


class DecisionTransaction:
    """One decision's transaction on one checked-out connection (see `transaction`)."""

    def __init__(self, driver: Any, postgres: bool) -> None:
        self._driver = driver
        self._postgres = postgres
        self._cursor = driver.cursor()
        # SQLite: each presented key with the offer asked for, read once a transaction.
        self._keys: dict[tuple[str, str, str, int], tuple[KeyOnRecord, Offer | None] | None] = {}

    def grounds(
        self,
        key_id: str,
        secret_hash: str,
        scope: str,
        offer_id: int,
        person_id: str,
        now: dt.datetime,
    ) -> Grounds:
        """Everything the decision needs: one statement on PostgreSQL (see the module's
        docstring); on SQLite, the key and its offer once a transaction, then the consent and
        the snapshot (see `SQLITE_KEY`)."""
        if not self._postgres:
            return self._sqlite_grounds((key_id, secret_hash, scope, offer_id), person_id, now)
        params = {
            "key_id": key_id,
            "secret_hash": secret_hash,
            "scope_pattern": f"%,{scope},%",
            "offer_id": offer_id,
            "person_id": person_id,
            "now": now,
        }
        self._cursor.execute(POSTGRES_READ, params, prepare=True)
        return _grounds(self._cursor.fetchone(), person_id, _aware)

    def _sqlite_grounds(
        self, asked: tuple[str, str, str, int], person_id: str, now: dt.datetime
    ) -> Grounds:
        if asked in self._keys:
            found = self._keys[asked]
        else:
            found = self._keys[asked] = self._sqlite_key(*asked)
        if found is None:
            return Grounds(None, None, None, None)
        key, offer = found
        if offer is None:
            return Grounds(key, None, None, None)
        found_row = self._cursor.execute(
            SQLITE_GROUNDS,
            {"person_id": person_id, "partner_id": key.partner_id, "now": _sqlite_time(now)},
        ).fetchone()
        if found_row is None:
            return Grounds(key, offer, None, None)
        return _person_grounds(key, offer, found_row, person_id, _from_sqlite_time)

    def _sqlite_key(
        self, key_id: str, secret_hash: str, scope: str, offer_id: int
    ) -> tuple[KeyOnRecord, Offer | None] | None:
        """The stored key, and the offer only when the key is live, opens for the presented
        secret and carries the scope (as `READ` reads it)."""
        row = self._cursor.execute(SQLITE_KEY, (key_id,)).fetchone()
        if row is None:
            return None
        partner_id, stored_hash, scopes, live = row
        admitted = (
            live and hmac.compare_digest(stored_hash, secret_hash) and scope in scopes.split(",")
        )
        offer_row = (
            self._cursor.execute(SQLITE_OFFER, (offer_id, partner_id)).fetchone()
            if admitted
            else None
        )
        return _key_and_offer((*row, *(offer_row or (None,) * 6)))

    def record(self, decision: Decision, disclosure: Disclosure) -> None:
        """Write the decision and its access-log row (committed when the transaction ends)."""
        if self._postgres:
            self._cursor.execute(POSTGRES_WRITE, _written(decision, disclosure), prepare=True)
            return
        self.record_many([(decision, disclosure)])

    def record_many(self, decided: Sequence[tuple[Decision, Disclosure]]) -> None:
        """Write each decision with its access-log row (committed when the transaction ends)."""
        if self._postgres:
            for decision, disclosure in decided:
                self.record(decision, disclosure)
            return
        rows = [_written(decision, disclosure, _sqlite_time) for decision, disclosure in decided]
        for statement in SQLITE_WRITES:
            self._cursor.executemany(statement, rows)

    def record_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Log each refused attempt for its person, where there is an active one."""
        if self._postgres:
            if attempts:
                rows = [
                    _attempted(attempt, dt.datetime.isoformat, lambda v: v) for attempt in attempts
                ]
                self._cursor.execute(
                    POSTGRES_RECORD_ATTEMPTS, {"attempts": _json_text(rows)}, prepare=True
                )
            return
        self._cursor.executemany(
            SQLITE_ATTEMPT, [_attempted(attempt, _sqlite_time) for attempt in attempts]
        )

    def record_frozen_attempts(self, attempts: Sequence[FrozenAttempt]) -> None:
        """Log each attempt refused on a frozen file, with its alert (committed when the
        transaction ends); one whose person is not frozen (or active) now writes nothing."""
        if not attempts:
            return
        if self._postgres:
            for attempt in attempts:
                for statement in POSTGRES_ATTEMPTS:
                    self._cursor.execute(statement, _frozen_attempted(attempt))
            return
        rows = [_frozen_attempted(attempt, _sqlite_time) for attempt in attempts]
        for statement in SQLITE_ATTEMPTS:
            self._cursor.executemany(statement, rows)


def _frozen_attempted(
    attempt: FrozenAttempt,
    stored_time: Callable[[dt.datetime], Any] = lambda value: value,
    json_value: Callable[[Any], Any] = _json_text,
) -> dict[str, Any]:
    """The parameters of a refused attempt's two rows (see `_written`)."""
    return {
        "person_id": attempt.person_id,
        "at": stored_time(attempt.at),
        "actor": attempt.actor,
        "purpose": attempt.purpose,
        "disclosed": json_value(attempt_disclosed(attempt.asked)),
        "ref": attempt.ref,
        "details": json_value(attempt_details(attempt)),
    }


def _written(
    decision: Decision,
    disclosure: Disclosure,
    stored_time: Callable[[dt.datetime], Any] = lambda value: value,
    json_value: Callable[[Any], Any] = _json_text,
) -> dict[str, Any]:
    """The parameters of a decision's two rows: times through `stored_time`, JSON values
    through `json_value` (as text, or left as they are to go inside a JSON document)."""
    return {
        "decision_id": decision.decision_id,
        "partner_id": decision.partner_id,
        "offer_id": decision.offer_id,
        "person_id": decision.person_id,
        "decided_at": stored_time(decision.decided_at),
        "month": decision.month,
        "model_version": decision.model_version,
        "approved": decision.approved,
        "score": decision.score,
        "points_short": decision.points_short,
        # `asdict` would deep-copy each field: the three, as the record names them.
        "reasons": json_value(
            [{"feature": r.feature, "text": r.text, "points": r.points} for r in decision.reasons]
        ),
        "score_shared": decision.score_shared,
        "actor": disclosure.actor,
        "purpose": disclosure.purpose,
        "what": disclosure.what,
        "disclosed": json_value(dict(disclosure.disclosed)),
        "alert": json_value(
            {"partner_id": decision.partner_id, "asked": "decision", "offer_id": decision.offer_id}
        ),
        "flag": disclosure.flag,
    }


def _attempted(
    attempt: Attempt,
    stored_time: Callable[[dt.datetime], Any],
    json_value: Callable[[Any], Any] = _json_text,
) -> dict[str, Any]:
    """The parameters of a refused attempt's access-log row (see `_written`)."""
    logged = attempt.logged
    return {
        "person_id": attempt.person_id,
        "decided_at": stored_time(attempt.at),
        "actor": logged.actor,
        "purpose": logged.purpose,
        "what": logged.what,
        "disclosed": json_value(dict(logged.disclosed)),
        "flag": logged.flag,
    }


class WriterBusy(Exception):
    """SQLite's write lock is held (by another thread or process), and the caller asked not to
    wait for it: nothing was read or written."""


# SQLite has one writer at a time. Threads of this process take turns on a lock, which wakes
# the next at once; left to SQLite's busy handler they would sleep in steps of milliseconds.
# By URL; each engine's lock found again by the engine itself (a URL's hash renders it as
# text, which cost more than a statement on every batch).
_SQLITE_WRITERS: dict[URL, threading.Lock] = {}
_ENGINE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
SQLITE_BUSY = 5  # SQLite's primary result code for a lock held elsewhere


# SQLite's default: a commit that leaves this many pages or more in the WAL copies them back
# into the database file, and syncs it, before it returns.
SQLITE_AUTOCHECKPOINT_PAGES = 1000


@contextmanager
def _committed(driver: Any, checkpoint: bool = True) -> Iterator[None]:
    """Commit when the block ends, roll back if it raises. `checkpoint=False` (SQLite): the
    commit never copies the WAL back into the database file itself (see `checkpoint`)."""
    try:
        yield
    except BaseException:
        driver.rollback()
        raise
    if checkpoint:
        driver.commit()
        return
    driver.execute("PRAGMA wal_autocheckpoint=0")
    try:
        driver.commit()
    finally:
        driver.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")


def checkpoint(engine: Engine) -> int:
    """Copy SQLite's WAL back into the database file as far as no reader still needs it
    (a passive checkpoint: it waits for no one and no one waits for it); how many of the
    WAL's frames are in the database file now. For the decisions committed on the event
    loop, which leave that to a worker thread: with the sync of the database file it takes
    milliseconds, and on the event loop nothing else would run."""
    pooled = engine.raw_connection()
    try:
        driver: Any = pooled.driver_connection
        _busy, _frames, copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(copied)
    finally:
        pooled.close()


def _begin_without_waiting(driver: Any) -> None:
    """BEGIN IMMEDIATE, or `WriterBusy` at once if another connection is writing."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF == SQLITE_BUSY:  # extended codes keep it low
            raise WriterBusy("another connection holds the write lock") from error
        raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


@contextmanager
def transaction(engine: Engine, wait: bool = True) -> Iterator[DecisionTransaction]:
    """One connection from the engine's pool and one transaction on it, committed when the
    block ends and rolled back if it raises. On SQLite, `wait=False` raises `WriterBusy`
    instead of waiting for the write lock (PostgreSQL has no such lock to wait for), and its
    commit leaves the WAL for `checkpoint`."""
    pooled = engine.raw_connection()
    driver: Any = pooled.driver_connection
    try:
        if engine.dialect.name == "postgresql":
            # Not pipelined: psycopg's pipeline saves two round trips (BEGIN, COMMIT) but
            # costs more CPU in Python than they do (measured: 1.85 against 1.6 ms a
            # decision), and the CPU of the one server process is what bounds throughput.
            with _committed(driver):
                yield DecisionTransaction(driver, postgres=True)
            return
        writers = _ENGINE_WRITERS.get(engine)
        if writers is None:
            writers = _SQLITE_WRITERS.setdefault(engine.url, threading.Lock())
            _ENGINE_WRITERS[engine] = writers
        if not writers.acquire(blocking=wait):
            raise WriterBusy("another thread of this process is writing")
        try:
            # IMMEDIATE: the write lock from the start, so the read and the writes see one
            # state of the database (a deferred transaction that read first could be refused
            # the upgrade to writing).
            if wait:
                driver.execute("BEGIN IMMEDIATE")
            else:
                _begin_without_waiting(driver)
            # On the event loop (`wait=False`) the WAL is checkpointed elsewhere.
            with _committed(driver, checkpoint=wait):
                yield DecisionTransaction(driver, postgres=False)
        finally:
            writers.release()
    finally:
        pooled.close()


# -- PostgreSQL, on the event loop ---------------------------------------------------------

# The generic plan of the two batch statements is the plan every execution gets anyway (index
# lookups per question, nested loops); planning them afresh each time, as PostgreSQL does for
# the first executions of a prepared statement and whenever it judges a custom plan cheaper,
# cost more CPU than executing them (measured: 0.27 against 0.75 ms a batch of one).
_SESSION_OPTIONS = "-c plan_cache_mode=force_generic_plan"


def _json_from_utf8(data: str | bytes) -> Any:
    """A JSON column's value as psycopg hands it over (UTF-8 bytes), decoded (see `_json`)."""
    return from_json(data if isinstance(data, str | bytes) else bytes(data))


class PostgresDecisionConnections:
    """At most `size` async psycopg connections for the API's decisions (autocommit), opened
    on first use in the event loop that uses them. Not SQLAlchemy's pool: its connections are
    blocking, and a decision in a worker thread costs a hand-over of the interpreter lock each
    way besides its round trips."""

    def __init__(self, url: URL, size: int) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._idle: list[AsyncConnection[Any]] = []
        self._open = 0
        self.size = size

    async def acquire(self) -> AsyncConnection[Any]:
        """An idle connection, or a new one: the caller keeps to `size` at once."""
        if self._idle:
            return self._idle.pop()
        from psycopg import AsyncConnection  # only where PostgreSQL is the store
        from psycopg.types.json import set_json_loads

        self._open += 1
        try:
            connection = await AsyncConnection.connect(
                self._conninfo, autocommit=True, options=_SESSION_OPTIONS
            )
        except BaseException:
            self._open -= 1
            raise
        set_json_loads(_json_from_utf8, connection)
        return connection

    def release(self, connection: AsyncConnection[Any]) -> None:
        """Back for the next batch, or closed and forgotten when it broke."""
        if connection.broken or connection.closed:
            self._open -= 1
            connection.pgconn.finish()
            return
        self._idle.append(connection)

    def close(self) -> None:
        """Close the idle connections now (without the event loop: it may be gone)."""
        for connection in self._idle:
            connection.pgconn.finish()
        self._open -= len(self._idle)
        self._idle.clear()


async def read_many(
    connection: AsyncConnection[Any], questions: Sequence[Question], scope: str
) -> list[Grounds]:
    """`DecisionTransaction.grounds` for every question, in one statement."""
    pattern = f"%,{scope},%"
    asked = [
        {
            "key_id": q.key_id,
            "secret_hash": q.secret_hash,
            "scope_pattern": pattern,
            "offer_id": q.offer_id,
            "person_id": q.person_id,
            "now": q.now.isoformat(),
            "position": position,
        }
        for position, q in enumerate(questions)
    ]
    cursor = await connection.execute(
        POSTGRES_READ_MANY, {"questions": _json_text(asked)}, prepare=True
    )
    rows = await cursor.fetchall()
    if len(rows) != len(questions):
        raise RuntimeError(f"{len(rows)} rows read for {len(questions)} questions")
    return [
        _grounds(row if row[0] is not None else None, q.person_id, _aware)
        for row, q in zip(rows, questions, strict=True)
    ]


async def record_many_async(
    connection: AsyncConnection[Any],
    decided: Sequence[tuple[Decision, Disclosure]],
    attempts: Sequence[Attempt] = (),
    frozen: Sequence[FrozenAttempt] = (),
) -> set[str]:
    """Write each decision with its access-log row while the person's consent is still live
    (see `POSTGRES_RECORD_MANY`), each refused attempt's row for an active person, and each
    attempt refused on a frozen file with its alert (see `record_frozen_attempts_async`), in
    one statement; the ids of the decisions written."""
    rows = [
        _written(decision, disclosure, dt.datetime.isoformat, lambda value: value)
        for decision, disclosure in decided
    ]
    params = {"decided": _json_text(rows)}
    if attempts:
        tried = [_attempted(attempt, dt.datetime.isoformat, lambda v: v) for attempt in attempts]
        params["attempts"] = _json_text(tried)
    if frozen:
        params["frozen"] = _json_text(_frozen_rows(frozen))
    statement = POSTGRES_RECORDS[bool(attempts), bool(frozen)]
    cursor = await connection.execute(statement, params, prepare=True)
    return {decision_id for (decision_id,) in await cursor.fetchall()}


def _frozen_ctes(rows: str, prefix: str) -> str:
    """The CTEs that write, for the attempts in the JSON array `rows` whose person is active
    and frozen now, an access-log row (the alert is the statement's to write, from `f`); each
    CTE named `<prefix><letter>`. The person is read per row on the primary key, as in
    `_ATTEMPT_WHERE`: a join would let the generic plan hash the whole people table."""
    return f"""{prefix}v AS (
    SELECT * FROM json_to_recordset({rows}::json)
        AS v(person_id text, at timestamptz, actor text, purpose text, disclosed json,
             ref text, details json)
),
{prefix}f AS (
    SELECT v.* FROM {prefix}v AS v
    WHERE (SELECT status FROM people
           WHERE person_id = v.person_id AND frozen_at IS NOT NULL) = 'active'
),
{prefix}l AS (
    INSERT INTO access_log ({_LOG_COLUMNS})
    SELECT f.person_id, f.at, f.actor, f.purpose, '{REFUSED_WHAT}', f.disclosed, '{FROZEN_FLAG}'
    FROM {prefix}f AS f
)"""


POSTGRES_ATTEMPTS_MANY = f"""
WITH {_frozen_ctes("%(attempts)s", "")}
INSERT INTO alerts ({_ALERT_COLUMNS})
SELECT f.person_id, 'frozen_attempt', f.ref, f.at, f.details FROM f
"""
# The batch's write with the attempts refused on a frozen file at the read (a third array, as
# in `POSTGRES_ATTEMPTS_MANY`): no statement of their own, so a batch with a refusal the person
# does not see (no consent: most refusals) costs no round trip more. In the write's snapshot,
# the freeze is read once for both kinds of attempt: exactly one of their rows is written.
_WITH_FROZEN = (
    f",\n{_frozen_ctes('%(frozen)s', 'z')},\n"
    f"za AS (INSERT INTO alerts ({_ALERT_COLUMNS})\n"
    "    SELECT f.person_id, 'frozen_attempt', f.ref, f.at, f.details FROM zf AS f)\n"
    "SELECT decision_id FROM d\n"
)
POSTGRES_RECORDS = {
    (False, False): POSTGRES_RECORD_MANY,
    (True, False): POSTGRES_RECORD_WITH_ATTEMPTS,
    (False, True): POSTGRES_RECORD_MANY.replace("\nSELECT decision_id FROM d\n", _WITH_FROZEN),
    (True, True): POSTGRES_RECORD_WITH_ATTEMPTS.replace(
        "\nSELECT decision_id FROM d\n", _WITH_FROZEN
    ),
}


def _frozen_rows(attempts: Sequence[FrozenAttempt]) -> list[dict[str, Any]]:
    return [_frozen_attempted(a, dt.datetime.isoformat, lambda value: value) for a in attempts]


async def record_frozen_attempts_async(
    connection: AsyncConnection[Any], attempts: Sequence[FrozenAttempt]
) -> None:
    """`DecisionTransaction.record_frozen_attempts` on an async connection, in one statement
    (its own transaction: autocommit)."""
    if not attempts:
        return
    await connection.execute(
        POSTGRES_ATTEMPTS_MANY, {"attempts": _json_text(_frozen_rows(attempts))}
    )
