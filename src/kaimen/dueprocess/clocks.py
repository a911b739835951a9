"""The clocks that run against kaimen and its furnishers: one list of typed `ClockItem`s that
several sources append to: open disputes, furnisher notices, the outbox, the court list's
pending removals (settled-pending listings), the payments waiting for review and the
candidate identity links waiting for review (both due the profile's `review_within` after
they were queued)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.profiles import Profile
from kaimen.dueprocess import settlement
from kaimen.dueprocess.clock_item import ClockItem as ClockItem
from kaimen.store import court_list, outbox
from kaimen.store import disputes as dispute_rows

# Candidate links listed among the clocks at most (the queue itself shows them all).
MAX_REVIEW_ITEMS = 1000

ClockSource = Callable[[Connection, Profile, dt.datetime], list[ClockItem]]


def open_disputes(store: Connection, profile: Profile, now: dt.datetime) -> list[ClockItem]:
    return [
        ClockItem(
            "dispute",
            d.dispute_id,
            d.person_id,
            d.answer_due_at,
            d.answer_due_at <= now,
            f"{d.item} awaits {d.furnisher}'s answer",
        )
        for d in dispute_rows.open_disputes(store)
    ]


def furnisher_notices(store: Connection, profile: Profile, now: dt.datetime) -> list[ClockItem]:
    return [
        ClockItem(
            "furnisher_notice",
            d.dispute_id,
            d.furnisher,
            d.furnisher_notice_due_at,
            d.furnisher_notice_due_at <= now,
            f"{d.furnisher} not yet told of the dispute of {d.item}",
        )
        for d in dispute_rows.open_disputes(store)
        if d.furnisher_notified_at is None
    ]


def outbox_messages(store: Connection, profile: Profile, now: dt.datetime) -> list[ClockItem]:
    items: list[ClockItem] = []
    for m in outbox.undelivered(store):
        dead = m.dead_at is not None
        items.append(
            ClockItem(
                "dead_letter" if dead else "outbox",
                m.message_id,
                m.recipient,
                None if dead else m.next_attempt_at,
                dead,
                f"{m.topic}, {m.attempts} attempt(s)"
                + (f", last error: {m.last_error}" if m.last_error else ""),
            )
        )
    return items


def pending_removals(store: Connection, profile: Profile, now: dt.datetime) -> list[ClockItem]:
    """Settled-pending listings, due when they are lifted (counted when they were settled)."""
    return settlement.pending_removals(store, now)


def payment_reviews(store: Connection, profile: Profile, now: dt.datetime) -> list[ClockItem]:
    return settlement.payments_waiting(store, now, profile)


def link_reviews(store: Connection, profile: Profile, now: dt.datetime) -> list[ClockItem]:
    """Candidate identity links waiting for a person's decision, with their age."""
    items: list[ClockItem] = []
    for review, listing in court_list.pending_reviews(store, MAX_REVIEW_ITEMS):
        due = profile.deadline(review.queued_at, profile.review_within)
        items.append(
            ClockItem(
                "link_review",
                str(review.review_id),
                review.person_id,
                due,
                due <= now,
                f"candidate link to listing {listing.listing_id} ({listing.case_number}), "
                f"probability {review.match_probability:.3f}, waiting "
                f"{(now - review.queued_at).days} days",
            )
        )
    return items


SOURCES: list[ClockSource] = [
    open_disputes,
    furnisher_notices,
    outbox_messages,
    pending_removals,
    payment_reviews,
    link_reviews,
]


@dataclass(frozen=True)
class SlaView:
    at: dt.datetime
    items: tuple[ClockItem, ...]
    outbox: outbox.Backlog

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.overdue)


def sla_view(engine: Engine, profile: Profile, now: dt.datetime | None = None) -> SlaView:
    """Every running clock, overdue ones first, then by deadline (review deadlines from
    `profile`)."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        items = [item for source in SOURCES for item in source(store, profile, now)]
        backlog = outbox.backlog(store)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    items.sort(key=lambda i: (not i.overdue, i.due_at or far, i.source, i.ref))
    return SlaView(now, tuple(items), backlog)
