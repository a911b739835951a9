"""Payments of judgments in the store: imports, the payments themselves (never deleted), the
courts' collection accounts, and settlements (a listing settled-pending until it is lifted or
the court objects).

Payer names and ID numbers arrive here already hashed and encrypted (see `identity_vault`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from kaimen.domain.json_values import JsonObject
from kaimen.store.tables import (
    court_accounts,
    court_listings,
    identity_links,
    listing_settlements,
    payment_imports,
    payments,
)

LOOKUP_CHUNK = 5_000


@dataclass(frozen=True)
class PaymentImport:
    import_id: int
    sha256: str
    name: str
    imported_at: dt.datetime
    rows: int
    already_held: int
    matched: int
    review: int
    unmatched: int


@dataclass(frozen=True)
class StoredPayment:
    payment_id: str
    transaction_id: str
    import_id: int
    line: int
    payer_name_hash: str | None
    payer_name_encrypted: str | None
    payer_id_hash: str | None
    amount: Decimal
    currency: str
    paid_on: dt.date
    destination_account: str
    reference: str
    state: str
    listing_id: str | None
    match_score: Decimal
    evidence: JsonObject | None
    received_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    note: str | None


@dataclass(frozen=True)
class Settlement:
    settlement_id: int
    listing_id: str
    payment_id: str
    settled_at: dt.datetime
    last_day: dt.date
    lift_at: dt.datetime
    state: str
    ended_at: dt.datetime | None
    ended_by: str | None
    objection: str | None


def _payment(row: Any) -> StoredPayment:
    return StoredPayment(
        row.payment_id,
        row.transaction_id,
        row.import_id,
        row.line,
        row.payer_name_hash,
        row.payer_name_encrypted,
        row.payer_id_hash,
        row.amount,
        row.currency,
        row.paid_on,
        row.destination_account,
        row.reference,
        row.state,
        row.listing_id,
        row.match_score,
        row.evidence,
        row.received_at,
        row.decided_by,
        row.decided_at,
        row.note,
    )


def _settlement(row: Any) -> Settlement:
    return Settlement(
        row.settlement_id,
        row.listing_id,
        row.payment_id,
        row.settled_at,
        row.last_day,
        row.lift_at,
        row.state,
        row.ended_at,
        row.ended_by,
        row.objection,
    )


# -- imports --------------------------------------------------------------------------------


def import_by_hash(connection: Connection, sha256: str) -> PaymentImport | None:
    row = connection.execute(
        select(payment_imports).where(payment_imports.c.sha256 == sha256)
    ).first()
    if row is None:
        return None
    return PaymentImport(
        row.import_id,
        row.sha256,
        row.name,
        row.imported_at,
        row.rows,
        row.already_held,
        row.matched,
        row.review,
        row.unmatched,
    )


def add_import(connection: Connection, values: dict[str, Any]) -> int:
    """Record an import (a dict of `payment_imports` columns); returns its id. The unique hash
    refuses a concurrent twin."""
    key = connection.execute(insert(payment_imports).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def count_import(connection: Connection, import_id: int, counts: dict[str, int]) -> None:
    connection.execute(
        update(payment_imports).where(payment_imports.c.import_id == import_id).values(**counts)
    )


# -- payments -------------------------------------------------------------------------------


# What a payment is, as a file or request sends it again: its transaction id names these.
HELD_FIELDS = (
    "amount",
    "currency",
    "paid_on",
    "destination_account",
    "reference",
    "payer_id_hash",
    "payer_name_hash",
)


def held_transactions(
    connection: Connection, transaction_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The payments already stored under any of `transaction_ids`: by transaction id, each
    its `payment_id` and `HELD_FIELDS`."""
    held: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(transaction_ids))
    columns = [payments.c.transaction_id, payments.c.payment_id] + [
        payments.c[name] for name in HELD_FIELDS
    ]
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        for row in connection.execute(
            select(*columns).where(payments.c.transaction_id.in_(chunk))
        ).mappings():
            held[str(row["transaction_id"])] = dict(row)
    return held


def insert_payments(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert payments (dicts of `payments` columns) in one executemany."""
    if rows:
        connection.execute(insert(payments), list(rows))


def payment(connection: Connection, payment_id: str, lock: bool = False) -> StoredPayment | None:
    query = select(payments).where(payments.c.payment_id == payment_id)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else _payment(row)


def decide(
    connection: Connection,
    payment_id: str,
    old_state: str,
    new_state: str,
    listing_id: str | None,
    actor: str,
    note: str | None,
    now: dt.datetime,
) -> bool:
    """Move a payment from `old_state`; False when it was no longer in it (decided meanwhile)."""
    result = connection.execute(
        update(payments)
        .where(payments.c.payment_id == payment_id, payments.c.state == old_state)
        .values(state=new_state, listing_id=listing_id, decided_by=actor, decided_at=now, note=note)
    )
    return result.rowcount == 1


def waiting(connection: Connection, limit: int) -> list[StoredPayment]:
    """Payments no one has settled or rejected: review first, then unmatched, oldest payment
    first within each."""
    query = (
        select(payments)
        .where(payments.c.state.in_(("review", "unmatched")))
        .order_by(payments.c.state, payments.c.paid_on, payments.c.payment_id)
        .limit(limit)
    )
    return [_payment(row) for row in connection.execute(query)]


def count_waiting(connection: Connection) -> dict[str, int]:
    """How many payments wait in each of `review` and `unmatched`."""
    rows = connection.execute(
        select(payments.c.state, func.count())
        .where(payments.c.state.in_(("review", "unmatched")))
        .group_by(payments.c.state)
    )
    return {state: int(n) for state, n in rows}


# -- listings as settlement sees them ---------------------------------------------------------


@dataclass(frozen=True)
class OpenListing:
    """What matching needs of a listing in force; the name only encrypted."""

    listing_id: str
    court: str
    case_number: str
    amount: Decimal
    currency: str
    judgment_date: dt.date
    id_hash: str | None
    name_encrypted: str


def listings_with_status(connection: Connection, status: str) -> list[OpenListing]:
    query = (
        select(
            court_listings.c.listing_id,
            court_listings.c.court,
            court_listings.c.case_number,
            court_listings.c.amount,
            court_listings.c.currency,
            court_listings.c.judgment_date,
            court_listings.c.id_hash,
            court_listings.c.name_encrypted,
        )
        .where(court_listings.c.status == status)
        .order_by(court_listings.c.listing_id)
    )
    return [OpenListing(*row) for row in connection.execute(query)]


def listing_statuses(connection: Connection, listing_ids: Sequence[str]) -> dict[str, str]:
    """Each listing's status now, by listing."""
    found: dict[str, str] = {}
    wanted = sorted(set(listing_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(court_listings.c.listing_id, court_listings.c.status).where(
                court_listings.c.listing_id.in_(chunk)
            )
        )
        found.update({r.listing_id: r.status for r in rows})
    return found


def linked_people(connection: Connection, listing_ids: Sequence[str]) -> dict[str, str]:
    """The person each listing is live-linked to, by listing (unlinked ones left out)."""
    found: dict[str, str] = {}
    wanted = sorted(set(listing_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(identity_links.c.listing_id, identity_links.c.person_id).where(
                identity_links.c.listing_id.in_(chunk), identity_links.c.undone_at.is_(None)
            )
        )
        found.update({r.listing_id: r.person_id for r in rows})
    return found


# -- collection accounts --------------------------------------------------------------------


def accounts(connection: Connection) -> dict[str, str]:
    """Each court's collection account, by court."""
    rows = connection.execute(select(court_accounts.c.court, court_accounts.c.account))
    return {r.court: r.account for r in rows}


def set_account(
    connection: Connection, court: str, account: str, actor: str, now: dt.datetime
) -> bool:
    """Register or replace a court's account; True when it was new."""
    updated = connection.execute(
        update(court_accounts)
        .where(court_accounts.c.court == court)
        .values(account=account, registered_at=now, actor=actor)
    )
    if updated.rowcount:
        return False
    connection.execute(
        insert(court_accounts).values(court=court, account=account, registered_at=now, actor=actor)
    )
    return True


# -- settlements ----------------------------------------------------------------------------


def add_settlements(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(listing_settlements), list(rows))


def pending_settlement(
    connection: Connection, listing_id: str, lock: bool = False
) -> Settlement | None:
    query = select(listing_settlements).where(
        listing_settlements.c.listing_id == listing_id, listing_settlements.c.state == "pending"
    )
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else _settlement(row)


def pending_settlements(
    connection: Connection, due_by: dt.datetime | None = None
) -> list[Settlement]:
    """Pending settlements (only those whose lifting time has come by `due_by`, if given),
    soonest first."""
    query = select(listing_settlements).where(listing_settlements.c.state == "pending")
    if due_by is not None:
        query = query.where(listing_settlements.c.lift_at <= due_by)
    query = query.order_by(listing_settlements.c.lift_at, listing_settlements.c.settlement_id)
    return [_settlement(r) for r in connection.execute(query)]


def settlements_of_listing(connection: Connection, listing_id: str) -> list[Settlement]:
    rows = connection.execute(
        select(listing_settlements)
        .where(listing_settlements.c.listing_id == listing_id)
        .order_by(listing_settlements.c.settlement_id)
    )
    return [_settlement(r) for r in rows]


def end_settlements(
    connection: Connection,
    settlement_ids: Sequence[int],
    state: str,
    actor: str,
    now: dt.datetime,
    objection: str | None = None,
) -> int:
    """End pending settlements as `lifted` or `objected`; returns how many were still pending."""
    if not settlement_ids:
        return 0
    result = connection.execute(
        update(listing_settlements)
        .where(
            listing_settlements.c.settlement_id.in_(list(settlement_ids)),
            listing_settlements.c.state == "pending",
        )
        .values(state=state, ended_at=now, ended_by=actor, objection=objection)
    )
    return int(result.rowcount)
