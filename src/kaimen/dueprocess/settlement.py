"""Settlement reconciliation: listings settled by matched payments, and lifted within the
profile's deadline unless the court objects. Payments come in through `payment_import`, which
matches them against every listing still `entered` (see `matching.payments`):

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
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine

from kaimen.domain.court_list import NAME_KIND
from kaimen.domain.errors import Conflict, NotFound, Rejected
from kaimen.domain.json_values import JsonObject, JsonValue
from kaimen.domain.profiles import Profile
from kaimen.domain.text import readable_problem
from kaimen.dueprocess.clock_item import ClockItem
from kaimen.dueprocess.court_listings import UnknownListing
from kaimen.dueprocess.identity_links import record_listing_change
from kaimen.dueprocess.rescoring import Rescoring, rescore_touched
from kaimen.store import audit, court_list, disclosure_recipients, outbox
from kaimen.store import payments as payment_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.payments import Settlement, StoredPayment
from kaimen.store.score_revisions import Revision

MAX_REASON = 1000
# The outbox topic of a lifted listing's notice to partners that saw the person's record.
LISTING_LIFTED = "court_list.lifted"
# Waiting payments listed among the clocks at most (the queue itself shows them all).
MAX_CLOCK_ITEMS = 1000


class UnknownPayment(NotFound):
    """No payment with that id."""


class PaymentDecided(Conflict):
    """The payment was already settled or rejected."""


class NotSettlable(Conflict):
    """The listing cannot take this step in its present status."""


class ReasonRequired(Rejected):
    """A rejection or an objection needs a reason."""


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
    # The re-scores of people_changed, published at once.
    revisions: tuple[Revision, ...] = ()


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
    # NUL and other control or invisible characters: PostgreSQL refuses NUL in text (a 500),
    # and a person reads this reason.
    problem = readable_problem(cleaned)
    if problem is not None:
        raise ReasonRequired(f"{what}'s reason {problem}")
    return cleaned


# -- settling and lifting, inside the caller's transaction ----------------------------------


def settle_listings(
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
        people = settle_listings(store, profile, settles, actor, stamp)
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


def lift_due_listings(
    engine: Engine,
    profile: Profile,
    now: dt.datetime,
    actor: str,
    rescoring: Rescoring | None = None,
) -> LiftReport:
    """The sweep: lift every settled-pending listing whose lifting time (the first instant of
    its last day; see the module docstring) has come by `now`. `profile` is the one the
    lifting times were counted in (they are stored when a listing is settled, so a sweep never
    recounts them); a listing lifted after its deadline is named in the audit row as late."""

    def work(store: Connection) -> LiftReport:
        due = payment_store.pending_settlements(store, due_by=now)
        statuses = payment_store.listing_statuses(store, [s.listing_id for s in due])
        # The court list may have moved a listing on meanwhile (satisfied, say): its
        # settlement ends without a lifting, and the court's word stands.
        moved = [s for s in due if statuses.get(s.listing_id) != "settled-pending"]
        for settlement in moved:
            payment_store.end_settlements(
                store,
                [settlement.settlement_id],
                "objected",
                actor,
                now,
                objection=f"the court list made the listing {statuses.get(settlement.listing_id)}",
            )
        due = [s for s in due if statuses.get(s.listing_id) == "settled-pending"]
        if not due:
            return LiftReport((), ())
        listing_ids = [s.listing_id for s in due]
        payment_store.end_settlements(store, [s.settlement_id for s in due], "lifted", actor, now)
        court_list.set_statuses(store, [(listing, "lifted") for listing in listing_ids], now)
        court_list.add_history(store, [_lift_history(s, actor, now) for s in due])
        people = record_listing_change(
            store, [(listing, "settled-pending", "lifted") for listing in listing_ids], actor, now
        )
        told = _tell_lifted(store, listing_ids, now)
        audit.append(
            store,
            actor,
            "court_list.lifted",
            details={
                "listings": list[JsonValue](listing_ids),
                "partners_told": told,
                "late": [s.listing_id for s in due if now >= _deadline_end(s, profile)],
            },
            now=now,
        )
        return LiftReport(tuple(listing_ids), tuple(people))

    report = audit.audited_transaction(engine, work)
    revisions = rescore_touched(
        engine,
        rescoring,
        report.people_changed,
        "settlement",
        ",".join(report.lifted),
        "a court judgment was paid and its listing lifted",
        actor,
        now,
    )
    return replace(report, revisions=revisions)


def _tell_lifted(store: Connection, listing_ids: Sequence[str], now: dt.datetime) -> int:
    """An outbox notice to every partner that saw the linked person's record (a decision, a
    report, a restriction check) since the judgment: the listing they may have relied on is
    lifted. Returns how many notices were queued."""
    links = court_list.live_links_of_listings(store, listing_ids)
    listings = court_list.listings_by_id(store, list(links))
    told = 0
    for listing_id, link in sorted(links.items()):
        listing = listings[listing_id]
        since = dt.datetime.combine(listing.judgment_date, dt.time(), dt.UTC)
        for partner_id in disclosure_recipients.partners_since(store, link.person_id, since):
            payload: JsonObject = {
                "person_id": link.person_id,
                "item_kind": "court_listing",
                "item_ref": listing_id,
                "case_number": listing.case_number,
                "court": listing.court,
                "status": "lifted",
                "since": now.isoformat(),
            }
            outbox.enqueue(store, partner_id, LISTING_LIFTED, payload, now)
            told += 1
    return told


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


def pending_removals(store: Connection, now: dt.datetime) -> list[ClockItem]:
    """The clock source for `kaimen sla`: each settled-pending listing, due when the sweep
    lifts it, and overdue once that time has passed without a lifting."""
    due = payment_store.pending_settlements(store)
    statuses = payment_store.listing_statuses(store, [s.listing_id for s in due])
    due = [s for s in due if statuses.get(s.listing_id) == "settled-pending"]
    people = payment_store.linked_people(store, [s.listing_id for s in due])
    return [
        ClockItem(
            "pending_removal",
            s.listing_id,
            people.get(s.listing_id, "court"),
            s.lift_at,
            s.lift_at <= now,
            f"paid by {s.payment_id}; to be lifted by {s.last_day.isoformat()}",
        )
        for s in due
    ]


def payments_waiting(
    store: Connection, now: dt.datetime, profile: Profile | None = None
) -> list[ClockItem]:
    """The clock source for the payments review queue: each waiting payment with its age,
    due the profile's `review_within` after it was received (no due time without a
    profile)."""
    items = []
    for p in payment_store.waiting(store, limit=MAX_CLOCK_ITEMS):
        due = None if profile is None else profile.deadline(p.received_at, profile.review_within)
        items.append(
            ClockItem(
                "payment_review",
                p.payment_id,
                "court",
                due,
                due is not None and due <= now,
                f"{p.state} since {p.received_at.date().isoformat()} "
                f"({(now - p.received_at).days} days): {p.amount} {p.currency}"
                f" paid {p.paid_on.isoformat()}",
            )
        )
    return items


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
