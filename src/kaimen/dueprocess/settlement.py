"""Settlement reconciliation: payments of judgments in, matched to the listings they settle,
and those listings lifted within the profile's deadline unless the court objects.

`kaimen payments import FILE` and `POST /v1/admin/payments` store a file of payments all or
nothing (the same file twice is a no-op; a transaction id already held is counted, not stored
twice) and match the new ones against every listing still `entered` (see
`matching.payments` for the signals and thresholds):

- `matched`: the listing moves to `settled-pending` at once, with its lifting time: the
  profile's `listing_lift_after_payment` counted from the payment's date in the profile's
  calendar (`cn`: three working days, holidays and make-up working days included) gives the
  last day; the listing is lifted at the first instant of that last day (local time). Lifting
  at the start of the last day rather than its end leaves a whole day for a sweep that runs
  late, so a listing is never lifted after its deadline.
- `review` and `unmatched`: kept, and shown in the review queue until a person approves one
  against a listing (which then settles it as above) or rejects it (kept, with the reason).
  No payment is ever deleted.

The court may object (`object_to_settlement`) while the listing is settled-pending: the
listing returns to `entered`, the objection is recorded and the payment goes back to review.
`lift_due_listings` is the sweep `kaimen worker` runs: every settled-pending listing whose
lifting time has come is `lifted`, with a history row, an access-log row for the person it is
linked to and an audit row. Every service returns the people whose standing changed, for the
caller to re-score.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from kaimen.domain.court_list import ENROLLED_ID_KIND, NAME_KIND
from kaimen.domain.errors import BatchRejected, Conflict, InputFileError, NotFound, Rejected
from kaimen.domain.json_values import JsonObject, JsonValue
from kaimen.domain.profiles import Profile
from kaimen.dueprocess.court_ids import new_ids
from kaimen.dueprocess.court_listings import UnknownListing
from kaimen.dueprocess.identity_links import record_listing_change
from kaimen.dueprocess.payment_rows import COLUMNS, CheckedPayments, check_payments
from kaimen.input_files import locate, read_input, records_table
from kaimen.matching.payment_records import OpenJudgment, Payment, PaymentMatch, Verdict
from kaimen.matching.payments import match_payments, normalise_name
from kaimen.store import audit, court_list
from kaimen.store import payments as payment_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.payments import Settlement, StoredPayment

FILE_TYPES = (".csv", ".jsonl", ".ndjson")
# Names are compared for matching under their own key, made fresh for each run from the
# normalised name (spaces, dots and case folded away) and never stored.
MATCH_NAME_KIND = "payment_match_name"
MAX_REASON = 1000


class PaymentsRejected(BatchRejected):
    """A payments file with at least one bad row: nothing of it was stored."""

    @property
    def detail(self) -> str:
        return f"{self.bad_lines} row(s) are invalid; nothing was stored"


class UnknownPayment(NotFound):
    """No payment with that id."""


class PaymentDecided(Conflict):
    """The payment was already settled or rejected."""


class NotSettlable(Conflict):
    """The listing cannot take this step in its present status."""


class ReasonRequired(Rejected):
    """A rejection or an objection needs a reason."""


@dataclass(frozen=True)
class PaymentImportReport:
    """What an import did. `people_changed`: the people whose listings changed status."""

    file_sha256: str
    rows: int
    already_held: int
    matched: int
    review: int
    unmatched: int
    replayed_file: bool
    settled_listings: tuple[str, ...]
    people_changed: tuple[str, ...]


@dataclass(frozen=True)
class SettlementChange:
    """A listing's step (settled-pending, entered again, lifted) and whom it concerns."""

    listing_id: str
    status: str
    lift_at: dt.datetime | None
    last_day: dt.date | None
    people_changed: tuple[str, ...]


@dataclass(frozen=True)
class LiftReport:
    lifted: tuple[str, ...]
    people_changed: tuple[str, ...]


@dataclass(frozen=True)
class QueuedPayment:
    """A payment waiting for a person, as the admin sees it."""

    payment: StoredPayment
    payer_name: str | None
    candidate_case_number: str | None
    candidate_court: str | None


@dataclass(frozen=True)
class ReviewQueue:
    items: tuple[QueuedPayment, ...]
    review: int
    unmatched: int


@dataclass(frozen=True)
class PendingRemoval:
    """A clock (see `kaimen sla`): a settled-pending listing and when it is lifted at the
    latest; the fields are the clocks list's `ClockItem`'s."""

    source: str
    ref: str
    subject: str
    due_at: dt.datetime | None
    overdue: bool
    detail: str


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def lift_schedule(profile: Profile, paid_on: dt.date) -> tuple[dt.date, dt.datetime]:
    """(the last day to lift a listing paid on `paid_on`, the moment the sweep lifts it)."""
    start = dt.datetime.combine(paid_on, dt.time(12), profile.zone)
    last = profile.last_day(start, profile.listing_lift_after_payment)
    return last, dt.datetime.combine(last, dt.time(), profile.zone).astimezone(dt.UTC)


def _reason(text: str, what: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ReasonRequired(f"{what} needs a reason")
    if len(cleaned) > MAX_REASON:
        raise ReasonRequired(f"{what}'s reason is longer than {MAX_REASON} characters")
    return cleaned


# -- settling and lifting, inside the caller's transaction ----------------------------------


def _settle(
    store: Connection,
    profile: Profile,
    settles: Sequence[tuple[str, str, dt.date]],
    actor: str,
    now: dt.datetime,
) -> list[str]:
    """Move each (listing id, payment id, paid on) listing from entered to settled-pending;
    returns the people concerned."""
    if not settles:
        return []
    schedules = [lift_schedule(profile, paid_on) for _, _, paid_on in settles]
    court_list.set_statuses(store, [(listing, "settled-pending") for listing, _, _ in settles], now)
    court_list.add_history(
        store,
        [
            {
                "listing_id": listing,
                "changed_at": now,
                "old_status": "entered",
                "new_status": "settled-pending",
                "source": f"payment {payment_id}; lifted by {last.isoformat()}",
                "file_id": None,
                "actor": actor,
            }
            for (listing, payment_id, _), (last, _) in zip(settles, schedules, strict=True)
        ],
    )
    payment_store.add_settlements(
        store,
        [
            {
                "listing_id": listing,
                "payment_id": payment_id,
                "settled_at": now,
                "last_day": last,
                "lift_at": lift_at,
                "state": "pending",
            }
            for (listing, payment_id, _), (last, lift_at) in zip(settles, schedules, strict=True)
        ],
    )
    return record_listing_change(
        store, [(listing, "entered", "settled-pending") for listing, _, _ in settles], actor, now
    )


# -- import ---------------------------------------------------------------------------------


def import_payments_file(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    path: Path,
    actor: str,
    now: dt.datetime | None = None,
) -> PaymentImportReport:
    """Import a CSV or JSON Lines file of payments (see `payment_rows.COLUMNS`); all or none."""
    if path.suffix.lower() not in FILE_TYPES:
        raise InputFileError(f"{path.name}: a payments file is a .csv or .jsonl file")
    parsed = read_input(path, COLUMNS)
    if parsed.errors:
        raise PaymentsRejected(locate(path, parsed.errors), parsed.name)
    try:
        return _import(
            engine, vault, profile, parsed.table, parsed.sha256, parsed.name, "file", actor, now
        )
    except PaymentsRejected as rejected:
        raise PaymentsRejected(locate(path, rejected.errors), parsed.name) from None


def import_payment_entries(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    entries: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
) -> PaymentImportReport:
    """Import payments sent over HTTP (line n is the n-th entry); the same entries twice (by
    content) are a no-op, like the same file twice."""
    table, errors = records_table(entries, COLUMNS)
    if errors:
        raise PaymentsRejected(errors, "payments")
    canonical = json.dumps([dict(e) for e in entries], sort_keys=True, separators=(",", ":"))
    sha256 = hashlib.sha256(canonical.encode()).hexdigest()
    return _import(engine, vault, profile, table, sha256, "api", "api", actor, now)


def _replay(seen: payment_store.PaymentImport) -> PaymentImportReport:
    return PaymentImportReport(seen.sha256, seen.rows, seen.rows, 0, 0, 0, True, (), ())


@dataclass(frozen=True)
class _Protected:
    name_hash: list[str | None]
    name_encrypted: list[str | None]
    id_hash: list[str | None]
    id_encrypted: list[str | None]
    name_key: list[str | None]


def _protect(vault: IdentityVault, rows: CheckedPayments) -> _Protected:
    """Names hashed as the court list hashes them (equal names, equal hashes in SQL), ID
    numbers as enrolment does, both encrypted; and each name's matching key."""
    names: list[str | None] = rows.payer_name.to_pylist()
    numbers: list[str | None] = rows.payer_id_number.to_pylist()

    def spread(values: list[str | None], made: list[str]) -> list[str | None]:
        out: list[str | None] = [None] * len(values)
        given = [i for i, v in enumerate(values) if v is not None]
        for i, value in zip(given, made, strict=True):
            out[i] = value
        return out

    named = [n for n in names if n is not None]
    numbered = [n for n in numbers if n is not None]
    return _Protected(
        name_hash=spread(names, vault.lookup_hashes(NAME_KIND, named)),
        name_encrypted=spread(names, vault.encrypt_many(NAME_KIND, named)),
        id_hash=spread(numbers, vault.lookup_hashes(ENROLLED_ID_KIND, numbered)),
        id_encrypted=spread(numbers, vault.encrypt_many(ENROLLED_ID_KIND, numbered)),
        name_key=spread(
            names, vault.lookup_hashes(MATCH_NAME_KIND, [normalise_name(n) for n in named])
        ),
    )


def _open_judgments(store: Connection, vault: IdentityVault) -> list[OpenJudgment]:
    """Every listing still entered, as matching takes it."""
    listings = payment_store.listings_with_status(store, "entered")
    account_of = payment_store.accounts(store)
    names = [normalise_name(vault.decrypt(NAME_KIND, x.name_encrypted)) for x in listings]
    name_keys = vault.lookup_hashes(MATCH_NAME_KIND, names)
    return [
        OpenJudgment(
            listing_id=x.listing_id,
            case_number=x.case_number,
            court=x.court,
            amount_owed=x.amount,
            currency=x.currency,
            judgment_date=x.judgment_date,
            collection_account=account_of.get(x.court),
            person_id_key=x.id_hash,
            person_name_key=key,
        )
        for x, key in zip(listings, name_keys, strict=True)
    ]


def _import(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    table: Any,
    sha256: str,
    name: str,
    channel: str,
    actor: str,
    now: dt.datetime | None,
) -> PaymentImportReport:
    stamp = _now(now)
    with engine.connect() as store:
        seen = payment_store.import_by_hash(store, sha256)
    if seen is not None:
        return _replay(seen)
    rows = check_payments(table, profile.local_date(stamp))
    if rows.errors:
        raise PaymentsRejected(rows.errors, name)
    protected = _protect(vault, rows)
    transactions: list[str] = rows.transaction_id.to_pylist()
    amounts: list[Decimal] = rows.amount.to_pylist()
    currencies: list[str] = rows.currency.to_pylist()
    paid: list[dt.date] = rows.paid_on.to_pylist()
    accounts: list[str] = rows.destination_account.to_pylist()
    references: list[str] = rows.reference.to_pylist()

    def work(store: Connection) -> PaymentImportReport:
        held = payment_store.held_transactions(store, transactions)
        fresh = [i for i, t in enumerate(transactions) if t not in held]
        ids = new_ids("P", len(fresh))
        found = match_payments(
            [
                Payment(
                    payment_key=ids[k],
                    amount=amounts[i],
                    currency=currencies[i],
                    paid_on=paid[i],
                    destination_account=accounts[i],
                    reference=references[i],
                    payer_id_key=protected.id_hash[i],
                    payer_name_key=protected.name_key[i],
                )
                for k, i in enumerate(fresh)
            ],
            _open_judgments(store, vault),
        )
        import_id = payment_store.add_import(
            store,
            {
                "sha256": sha256,
                "name": name[:400],
                "channel": channel,
                "imported_at": stamp,
                "actor": actor,
                "rows": len(rows),
                "already_held": len(held),
                "matched": 0,
                "review": 0,
                "unmatched": 0,
            },
        )
        # The earliest payment of a listing settles it; later ones are matched to it too.
        order = sorted(range(len(fresh)), key=lambda k: (paid[fresh[k]], int(rows.line[fresh[k]])))
        settles: list[tuple[str, str, dt.date]] = []
        settled_by: dict[str, str] = {}
        notes: dict[int, str] = {}
        for k in order:
            match = found[k]
            if match.verdict is not Verdict.MATCHED or match.listing_id is None:
                continue
            first = settled_by.setdefault(match.listing_id, ids[k])
            if first == ids[k]:
                settles.append((match.listing_id, ids[k], paid[fresh[k]]))
            else:
                notes[k] = f"the listing was settled by payment {first}"
        payment_store.insert_payments(
            store,
            [
                _payment_row(ids[k], i, import_id, rows, protected, found[k], notes.get(k), stamp)
                for k, i in enumerate(fresh)
            ],
        )
        people = _settle(store, profile, settles, actor, stamp)
        counts = {
            verdict.value: sum(1 for m in found if m.verdict is verdict) for verdict in Verdict
        }
        payment_store.count_import(store, import_id, counts)
        audit.append(
            store,
            actor,
            "payments.imported",
            details={
                "sha256": sha256,
                "channel": channel,
                "rows": len(rows),
                "already_held": len(held),
                **counts,
                "settled_listings": [listing for listing, _, _ in settles],
            },
            now=stamp,
        )
        return PaymentImportReport(
            sha256,
            len(rows),
            len(held),
            counts["matched"],
            counts["review"],
            counts["unmatched"],
            False,
            tuple(listing for listing, _, _ in settles),
            tuple(people),
        )

    return audit.audited_transaction(engine, work)


def _payment_row(
    payment_id: str,
    i: int,
    import_id: int,
    rows: CheckedPayments,
    protected: _Protected,
    match: PaymentMatch,
    note: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "transaction_id": rows.transaction_id[i].as_py(),
        "import_id": import_id,
        "line": int(rows.line[i]),
        "payer_name_hash": protected.name_hash[i],
        "payer_name_encrypted": protected.name_encrypted[i],
        "payer_id_hash": protected.id_hash[i],
        "payer_id_encrypted": protected.id_encrypted[i],
        "amount": rows.amount[i].as_py(),
        "currency": rows.currency[i].as_py(),
        "paid_on": rows.paid_on[i].as_py(),
        "destination_account": rows.destination_account[i].as_py(),
        "reference": rows.reference[i].as_py(),
        "state": match.verdict.value,
        "listing_id": match.listing_id,
        "match_score": Decimal(f"{match.score:.4f}"),
        "evidence": _evidence(match),
        "received_at": now,
        "note": note,
    }


def _evidence(match: PaymentMatch) -> JsonObject | None:
    if match.evidence is None:
        return None
    return match.evidence.to_json() | {"runner_up_score": match.runner_up_score}


# -- the review queue -----------------------------------------------------------------------


def review_queue(
    engine: Engine,
    vault: IdentityVault,
    actor: str,
    limit: int = 100,
    now: dt.datetime | None = None,
) -> ReviewQueue:
    """Payments waiting for a person (review first, then unmatched), with their candidates."""
    stamp = _now(now)

    def work(store: Connection) -> ReviewQueue:
        waiting = payment_store.waiting(store, limit)
        counts = payment_store.count_waiting(store)
        items: list[QueuedPayment] = []
        for found in waiting:
            candidate = (
                None if found.listing_id is None else court_list.listing(store, found.listing_id)
            )
            items.append(
                QueuedPayment(
                    found,
                    None
                    if found.payer_name_encrypted is None
                    else vault.decrypt(NAME_KIND, found.payer_name_encrypted),
                    None if candidate is None else candidate.case_number,
                    None if candidate is None else candidate.court,
                )
            )
        audit.append(store, actor, "payments.review_read", details={"shown": len(items)}, now=stamp)
        return ReviewQueue(tuple(items), counts.get("review", 0), counts.get("unmatched", 0))

    return audit.audited_transaction(engine, work)


def _waiting_payment(store: Connection, payment_id: str) -> StoredPayment:
    found = payment_store.payment(store, payment_id, lock=True)
    if found is None:
        raise UnknownPayment(f"no payment {payment_id}")
    if found.state not in ("review", "unmatched"):
        raise PaymentDecided(f"payment {payment_id} is already {found.state}")
    return found


def approve_payment(
    engine: Engine,
    profile: Profile,
    payment_id: str,
    actor: str,
    listing_id: str | None = None,
    now: dt.datetime | None = None,
) -> SettlementChange:
    """A person confirms a waiting payment paid `listing_id` (default: its candidate). An
    entered listing moves to settled-pending with its lifting time; one already settled keeps
    its status (the payment is recorded as paying it too)."""
    stamp = _now(now)

    def work(store: Connection) -> SettlementChange:
        found = _waiting_payment(store, payment_id)
        target = listing_id or found.listing_id
        if target is None:
            raise NotSettlable(f"payment {payment_id} has no candidate; name the listing")
        listing = court_list.listing(store, target)
        if listing is None:
            raise UnknownListing(f"no court listing {target}")
        if listing.status not in ("entered", "settled-pending", "lifted", "satisfied"):
            raise NotSettlable(f"listing {target} is {listing.status}: a payment cannot settle it")
        settles = [(target, payment_id, found.paid_on)] if listing.status == "entered" else []
        note = None if settles else f"the listing was already {listing.status}"
        payment_store.decide(store, payment_id, found.state, "matched", target, actor, note, stamp)
        people = _settle(store, profile, settles, actor, stamp)
        audit.append(
            store,
            actor,
            "payments.approved",
            subject=target,
            details={"payment_id": payment_id, "settled": bool(settles)},
            now=stamp,
        )
        last, lift_at = lift_schedule(profile, found.paid_on) if settles else (None, None)
        status = "settled-pending" if settles else listing.status
        return SettlementChange(target, status, lift_at, last, tuple(people))

    return audit.audited_transaction(engine, work)


def reject_payment(
    engine: Engine, payment_id: str, reason: str, actor: str, now: dt.datetime | None = None
) -> StoredPayment:
    """A person decides a waiting payment settles nothing; it is kept, with the reason."""
    stamp = _now(now)
    why = _reason(reason, "a rejection")

    def work(store: Connection) -> StoredPayment:
        found = _waiting_payment(store, payment_id)
        payment_store.decide(store, payment_id, found.state, "rejected", None, actor, why, stamp)
        audit.append(
            store, actor, "payments.rejected", details={"payment_id": payment_id}, now=stamp
        )
        kept = payment_store.payment(store, payment_id)
        assert kept is not None
        return kept

    return audit.audited_transaction(engine, work)


# -- the court's objection and the sweep ----------------------------------------------------


def object_to_settlement(
    engine: Engine, listing_id: str, reason: str, actor: str, now: dt.datetime | None = None
) -> SettlementChange:
    """The court objects to a matched payment before the listing is lifted: the listing is
    entered again, the objection recorded, and the payment back in the review queue."""
    stamp = _now(now)
    why = _reason(reason, "an objection")

    def work(store: Connection) -> SettlementChange:
        listing = court_list.listing(store, listing_id)
        if listing is None:
            raise UnknownListing(f"no court listing {listing_id}")
        pending = payment_store.pending_settlement(store, listing_id, lock=True)
        if pending is None or listing.status != "settled-pending":
            raise NotSettlable(
                f"listing {listing_id} is {listing.status}: only a settled-pending listing can "
                "be objected to (a lifted one is final)"
            )
        payment_store.end_settlements(
            store, [pending.settlement_id], "objected", actor, stamp, objection=why
        )
        court_list.set_statuses(store, [(listing_id, "entered")], stamp)
        court_list.add_history(
            store,
            [
                {
                    "listing_id": listing_id,
                    "changed_at": stamp,
                    "old_status": "settled-pending",
                    "new_status": "entered",
                    "source": f"court objection to payment {pending.payment_id}"[:200],
                    "file_id": None,
                    "actor": actor,
                }
            ],
        )
        payment_store.decide(
            store,
            pending.payment_id,
            "matched",
            "review",
            listing_id,
            actor,
            f"the court objected: {why}",
            stamp,
        )
        people = record_listing_change(
            store, [(listing_id, "settled-pending", "entered")], actor, stamp
        )
        audit.append(
            store,
            actor,
            "court_list.objection",
            subject=listing_id,
            details={"payment_id": pending.payment_id},
            now=stamp,
        )
        return SettlementChange(listing_id, "entered", None, None, tuple(people))

    return audit.audited_transaction(engine, work)


def lift_due_listings(engine: Engine, profile: Profile, now: dt.datetime, actor: str) -> LiftReport:
    """The sweep: lift every settled-pending listing whose lifting time (the first instant of
    its last day; see the module docstring) has come by `now`. `profile` is the one the
    lifting times were counted in (they are stored when a listing is settled, so a sweep never
    recounts them); a listing lifted after its deadline is named in the audit row as late."""

    def work(store: Connection) -> LiftReport:
        due = payment_store.pending_settlements(store, due_by=now)
        if not due:
            return LiftReport((), ())
        listing_ids = [s.listing_id for s in due]
        payment_store.end_settlements(store, [s.settlement_id for s in due], "lifted", actor, now)
        court_list.set_statuses(store, [(listing, "lifted") for listing in listing_ids], now)
        court_list.add_history(store, [_lift_history(s, actor, now) for s in due])
        people = record_listing_change(
            store, [(listing, "settled-pending", "lifted") for listing in listing_ids], actor, now
        )
        audit.append(
            store,
            actor,
            "court_list.lifted",
            details={
                "listings": list[JsonValue](listing_ids),
                "late": [s.listing_id for s in due if now >= _deadline_end(s, profile)],
            },
            now=now,
        )
        return LiftReport(tuple(listing_ids), tuple(people))

    return audit.audited_transaction(engine, work)


def _deadline_end(settlement: Settlement, profile: Profile) -> dt.datetime:
    """The moment the profile's deadline has passed: the first instant after the last day."""
    after = settlement.last_day + dt.timedelta(days=1)
    return dt.datetime.combine(after, dt.time(), profile.zone).astimezone(dt.UTC)


def _lift_history(settlement: Settlement, actor: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "listing_id": settlement.listing_id,
        "changed_at": now,
        "old_status": "settled-pending",
        "new_status": "lifted",
        "source": f"payment {settlement.payment_id}: lifted by its deadline "
        f"({settlement.last_day.isoformat()})",
        "file_id": None,
        "actor": actor,
    }


def pending_removals(store: Connection, now: dt.datetime) -> list[PendingRemoval]:
    """The clock source for `kaimen sla`: each settled-pending listing, due when the sweep
    lifts it, and overdue once that time has passed without a lifting."""
    due = payment_store.pending_settlements(store)
    people = payment_store.linked_people(store, [s.listing_id for s in due])
    return [
        PendingRemoval(
            "pending_removal",
            s.listing_id,
            people.get(s.listing_id, "court"),
            s.lift_at,
            s.lift_at <= now,
            f"paid by {s.payment_id}; to be lifted by {s.last_day.isoformat()}",
        )
        for s in due
    ]


def register_collection_account(
    engine: Engine, court: str, account: str, actor: str, now: dt.datetime | None = None
) -> bool:
    """Record the account `court` collects payments into; True when the court had none."""
    stamp = _now(now)
    # Court names as the court list tidies them, so the two compare equal.
    court_name = " ".join(unicodedata.normalize("NFKC", court).split())
    number = "".join(unicodedata.normalize("NFKC", account).split())
    if not court_name or len(court_name) > 200:
        raise Rejected("the court must be named (at most 200 characters)")
    if not number or len(number) > 64:
        raise Rejected("the account must be given (at most 64 characters)")

    def work(store: Connection) -> bool:
        new = payment_store.set_account(store, court_name, number, actor, stamp)
        audit.append(
            store, actor, "payments.court_account", details={"court": court_name}, now=stamp
        )
        return new

    return audit.audited_transaction(engine, work)
