"""The clocks that run against kaimen and its furnishers: one list of typed `ClockItem`s that
several sources append to (open disputes, furnisher notices, the outbox; the court list's
review queue and pending removals add their own source to `SOURCES`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.store import disputes as dispute_rows
from kaimen.store import outbox


@dataclass(frozen=True)
class ClockItem:
    source: str  # "dispute", "furnisher_notice", "outbox", "dead_letter", ...
    ref: str  # the dispute's or message's id
    subject: str  # whom it concerns: a person id, a partner id or "court"
    due_at: dt.datetime | None
    overdue: bool
    detail: str


ClockSource = Callable[[Connection, dt.datetime], list[ClockItem]]


def open_disputes(store: Connection, now: dt.datetime) -> list[ClockItem]:
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


def furnisher_notices(store: Connection, now: dt.datetime) -> list[ClockItem]:
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


def outbox_messages(store: Connection, now: dt.datetime) -> list[ClockItem]:
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


SOURCES: list[ClockSource] = [open_disputes, furnisher_notices, outbox_messages]


@dataclass(frozen=True)
class SlaView:
    at: dt.datetime
    items: tuple[ClockItem, ...]
    outbox: outbox.Backlog

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.overdue)


def sla_view(engine: Engine, now: dt.datetime | None = None) -> SlaView:
    """Every running clock, overdue ones first, then by deadline."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        items = [item for source in SOURCES for item in source(store, now)]
        backlog = outbox.backlog(store)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    items.sort(key=lambda i: (not i.overdue, i.due_at or far, i.source, i.ref))
    return SlaView(now, tuple(items), backlog)
