"""The audit log: append-only rows chained by SHA-256, so any edit or deletion shows.

Each row's hash covers its own fields and the previous row's hash. Details hold no personal
data (person ids are opaque), so removing a person's data never breaks the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from kaimen.domain.errors import AuditChainBroken
from kaimen.domain.json_values import JsonValue
from kaimen.store.audit_head import Head, HeadLine, note_append
from kaimen.store.tables import audit_log

T = TypeVar("T")

GENESIS = "0" * 64
# The key of PostgreSQL's transaction-scoped advisory lock that queues appends to the chain
# ("kaimen" in ASCII): every process and server on one database agrees on it.
APPEND_LOCK_KEY = 0x6B61696D656E
_log = logging.getLogger(__name__)


def _row_hash(
    seq: int,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: str,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        [seq, occurred_at.astimezone(dt.UTC).isoformat(), actor, action, subject, details],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append(
    connection: Connection,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, JsonValue] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Append one row inside the caller's transaction; returns its sequence number.

    Appends queue on a lock held to the end of the transaction (`hold_append_slot`), so they
    never pick the same predecessor; the unique `seq` and `prev_hash` would fail one that did.
    """
    hold_append_slot(connection)
    occurred_at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    last = connection.execute(
        select(audit_log.c.seq, audit_log.c.row_hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.row_hash) if last else (1, GENESIS)
    text = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"))
    row_hash = _row_hash(seq, occurred_at, actor, action, subject, text, prev)
    connection.execute(
        insert(audit_log).values(
            seq=seq,
            occurred_at=occurred_at,
            actor=actor,
            action=action,
            subject=subject,
            details=text,
            prev_hash=prev,
            row_hash=row_hash,
        )
    )
    note_append(connection, Head(seq, row_hash))
    # The action and whom it concerns (ids only); never the details.
    _log.info("audit %s", action, extra={"action": action, "subject": subject, "actor": actor})
    return seq


def verify(engine: Engine, chunk: int = 10_000, heads: Iterable[HeadLine] = ()) -> int:
    """Check the whole chain, and that it still holds every signed head in `heads` (the same
    hash at the head's sequence); returns the number of rows, or raises naming the first bad
    row."""
    signed: dict[int, list[HeadLine]] = {}
    for line in heads:
        signed.setdefault(line.head.seq, []).append(line)
    prev = GENESIS
    expected_seq = 1
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=chunk).execute(
            select(audit_log).order_by(audit_log.c.seq)
        )
        for row in result:
            if row.seq != expected_seq:
                raise AuditChainBroken(expected_seq, "row is missing (sequence has a gap)")
            if row.prev_hash != prev:
                raise AuditChainBroken(row.seq, "does not link to the row before it")
            recomputed = _row_hash(
                row.seq,
                row.occurred_at,
                row.actor,
                row.action,
                row.subject,
                row.details,
                row.prev_hash,
            )
            if recomputed != row.row_hash:
                raise AuditChainBroken(row.seq, "content does not match its hash (edited)")
            for line in signed.pop(row.seq, ()):
                if line.head.row_hash != row.row_hash:
                    raise AuditChainBroken(
                        row.seq,
                        f"its hash differs from the head signed on line {line.number} of the "
                        f"head file at {_moment(line)} (this row or one before it was "
                        "rewritten and the chain rehashed)",
                    )
            prev = row.row_hash
            expected_seq += 1
    if signed:
        reach = max(signed)
        line = min(signed[reach], key=lambda held: held.number)
        last = expected_seq - 1
        also = "" if reach == expected_seq else f" (and every row to {reach})"
        raise AuditChainBroken(
            expected_seq,
            f"missing{also}: the log ends at row {last}, but line {line.number} of the head "
            f"file signed the chain's head at row {reach} at {_moment(line)} (the newest rows "
            "were deleted)",
        )
    return expected_seq - 1


def _moment(line: HeadLine) -> str:
    return line.head.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())


def is_chain_conflict(error: IntegrityError) -> bool:
    """True when an insert failed because another append took the same place in the chain."""
    message = str(error.orig).lower()
    return "audit_log" in message or "prev_hash" in message or "pk_audit_log" in message


# A write that changes nothing: on SQLite it begins the transaction and takes the database's
# one write lock (waiting its turn), so the chain's head is read by the only writer.
_SQLITE_WRITE_LOCK = text("UPDATE audit_log SET seq = seq WHERE 0")


def hold_append_slot(connection: Connection) -> None:
    """Wait for the right to append, held until this transaction ends (taking it again in the
    same transaction is free): on PostgreSQL the chain's advisory lock, on SQLite the write
    lock. Without it on SQLite, a transaction that had only read so far read the chain's head
    outside any transaction, so two of them could pick the same predecessor and one failed on
    the unique sequence (a 500 for parallel resends, exports and fairness reports)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.execute(_SQLITE_WRITE_LOCK)


def is_lock_deadlock(error: OperationalError) -> bool:
    """True when PostgreSQL broke a deadlock by failing this transaction (SQLSTATE 40P01):
    one that appended late while holding rows another audited transaction waits for."""
    return getattr(error.orig, "sqlstate", None) == "40P01"


def audited_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    attempts: int = 8,
    lost_race: Callable[[IntegrityError], bool] = is_chain_conflict,
) -> T:
    """Run `work` in a transaction that appends to the audit log.

    The right to append is taken first (`hold_append_slot`), so audited transactions run one
    after another and never fail each other on the chain. A deadlock (PostgreSQL) or a unique
    conflict that `lost_race` names ("someone got there first, try again and see") is retried
    whole after a short random wait, which spreads the losers out instead of colliding again
    at once."""
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                hold_append_slot(connection)
                return work(connection)
        except IntegrityError as error:
            if attempt == attempts - 1 or not lost_race(error):
                raise
        except OperationalError as error:
            if attempt == attempts - 1 or not is_lock_deadlock(error):
                raise
        time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 (not secret)
    raise AssertionError("unreachable")
