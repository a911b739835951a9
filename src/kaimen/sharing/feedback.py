"""Partner feedback: a partner reports how a rental or a loan with a person ended.

Feedback becomes an ordinary catalogue event with the partner as its source and the
partner's own reference as its event id, and goes through the HTTP inbox like any other
event: validated by the same rules, all or nothing, and counted in the score once sealed.
A resend with the same content is a duplicate, never a second event. The partner needs the
person's live `feedback` consent; without it the answer is the same as for an unknown person
and nothing is stored. Partners sending raw events (scope `events`) meet the same rules:
their own source only, and only about people who consented to their feedback.

Mapping onto the catalogue:

- rental `returned` / `returned_late` / `damaged_paid` / `damaged_unpaid` -> `rental` with
  outcome `returned` / `late` / `damaged` / `unpaid` (damage paid for is still damage; damage
  left unpaid is an unpaid rental);
- loan `repaid` -> `loan_repayment` with status `on_time` when paid by the due date and
  `late` after it (the catalogue refuses an `on_time` paid after its due date); `defaulted`
  -> status `defaulted`, with no paid date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pyarrow as pa
from sqlalchemy import Connection, Engine, or_, select

from kaimen.domain.callers import Caller
from kaimen.domain.errors import BatchRejected, Forbidden, RowError
from kaimen.domain.events import FIELDS, REPAYMENT_KINDS
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.ingest.pipeline import IngestReport
from kaimen.input_files import LINE
from kaimen.sharing.deciding import NOT_FOUND, PersonNotFound
from kaimen.store import alerts, consents
from kaimen.store.tables import consents as consent_rows
from kaimen.store.tables import people

RentalOutcome = Literal["returned", "returned_late", "damaged_paid", "damaged_unpaid"]
LoanOutcome = Literal["repaid", "defaulted"]
RENTAL_OUTCOMES: dict[str, str] = {
    "returned": "returned",
    "returned_late": "late",
    "damaged_paid": "damaged",
    "damaged_unpaid": "unpaid",
}
# Kinds a partner may not send: a friend link is the person's own act, and checking its
# friend_id would tell the partner whether someone else is enrolled.
PERSONAL_KINDS = ("friend_link",)
# What a partner is a party to and may report: its rentals and the repayments owed to it.
PARTNER_KINDS = ("rental", *REPAYMENT_KINDS)
# Partners report recent outcomes only. Besides limiting stale reports, this keeps every
# accepted date long after any enrolled adult's birth, so the event rules' "before the person
# was born" answer can never be used by a partner to find out a birth date.
PARTNER_MAX_AGE = dt.timedelta(days=730)
DATE_FIELDS = ("occurred_at", "recorded_at", "due_date", "paid_date")


def partner_rules(
    records: Sequence[Mapping[str, str | None]], partner_id: str, now: dt.datetime
) -> list[RowError]:
    """What a partner may not say, whoever the person is: other kinds, other partners' names,
    dates more than two years back. Judged before anything about the person is looked up."""
    oldest = (now - PARTNER_MAX_AGE).date().isoformat()
    errors: list[RowError] = []
    for line, record in enumerate(records, start=1):
        kind = record.get("kind")
        if kind not in PARTNER_KINDS and kind not in PERSONAL_KINDS:
            errors.append(
                RowError(line, "kind", f"a partner reports only {', '.join(PARTNER_KINDS)}")
            )
        if record.get("partner") not in (None, partner_id):
            errors.append(RowError(line, "partner", f"must be {partner_id} (or empty)"))
        for name in DATE_FIELDS:
            value = record.get(name)
            # ISO dates and timestamps compare as text by their first ten characters; a
            # malformed one is left to the event rules, which name it.
            if value and len(value) >= 10 and value[:10] < oldest:
                errors.append(
                    RowError(line, name, f"before {oldest}: partners report the last two years")
                )
    return errors


CONSENT_CHUNK = 2_000


@dataclass(frozen=True)
class RentalFeedback:
    person_id: str
    reference: str
    outcome: RentalOutcome
    item: str
    deposit: str
    occurred_at: dt.datetime
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class LoanFeedback:
    person_id: str
    reference: str
    outcome: LoanOutcome
    amount: Decimal
    currency: str
    due_date: dt.date
    occurred_at: dt.datetime
    paid_date: dt.date | None = None


Feedback = RentalFeedback | LoanFeedback


@dataclass(frozen=True)
class Submitted:
    event: dict[str, str | None]  # the catalogue event, as submitted to the inbox
    new: bool  # False: the same event was already received (a resend)


def _rejected(field: str, reason: str) -> BatchRejected:
    return BatchRejected([RowError(1, field, reason)], "feedback")


def event_of(partner_id: str, feedback: Feedback) -> dict[str, str | None]:
    """The catalogue event a piece of feedback stands for; raises BatchRejected if it is
    inconsistent (the catalogue's own rules are applied when it is submitted)."""
    if feedback.occurred_at.tzinfo is None:
        raise _rejected("occurred_at", "needs a UTC offset")
    record: dict[str, str | None] = dict.fromkeys(FIELDS)
    record |= {
        "source": partner_id,
        "event_id": feedback.reference,
        "person_id": feedback.person_id,
        "occurred_at": feedback.occurred_at.isoformat(),
        "partner": partner_id,
    }
    if isinstance(feedback, RentalFeedback):
        if (feedback.amount is None) != (feedback.currency is None):
            raise _rejected("amount", "give amount and currency together, or neither")
        return record | {
            "kind": "rental",
            "item": feedback.item,
            "deposit": feedback.deposit,
            "outcome": RENTAL_OUTCOMES[feedback.outcome],
            "amount": None if feedback.amount is None else format(feedback.amount, "f"),
            "currency": feedback.currency,
        }
    if feedback.outcome == "repaid":
        if feedback.paid_date is None:
            raise _rejected("paid_date", "required when the loan was repaid")
        status = "on_time" if feedback.paid_date <= feedback.due_date else "late"
    else:
        if feedback.paid_date is not None:
            raise _rejected("paid_date", "must be empty when the loan defaulted")
        # By the date where the partner reported it (the timestamp's own offset).
        if feedback.occurred_at.date() < feedback.due_date:
            raise _rejected(
                "occurred_at",
                "is before due_date: a loan defaults only once it has fallen due",
            )
        status = "defaulted"
    return record | {
        "kind": "loan_repayment",
        "amount": format(feedback.amount, "f"),
        "currency": feedback.currency,
        "due_date": feedback.due_date.isoformat(),
        "paid_date": None if feedback.paid_date is None else feedback.paid_date.isoformat(),
        "status": status,
    }


def submit(
    engine: Engine,
    lake_root: Path,
    partner_id: str,
    feedback: Feedback,
    actor: str,
    now: dt.datetime | None = None,
) -> Submitted:
    """Put the feedback in the inbox as the partner's event; PersonNotFound without consent."""
    now = now or dt.datetime.now(dt.UTC)
    event = event_of(partner_id, feedback)  # inconsistent input is refused before anything
    errors = partner_rules([event], partner_id, now)
    if errors:
        raise BatchRejected(errors, "feedback")
    with engine.connect() as store:
        consented = consents.live(store, feedback.person_id, partner_id, "feedback", now)
    if consented is None:
        _log_frozen_attempts(engine, partner_id, [feedback.person_id], actor, now)
        raise PersonNotFound(NOT_FOUND)
    try:
        report = accept_events(
            engine, lake_root, [event], actor, now, _still_consenting(partner_id, now)
        )
    except BatchRejected as refused:
        if not _refused_people(refused, [event]):
            raise
        # Revoked or frozen since the check above, before the inbox's commit.
        _log_frozen_attempts(engine, partner_id, [feedback.person_id], actor, now)
        raise PersonNotFound(NOT_FOUND) from None
    return Submitted(event, report.new == 1)


def _still_consenting(
    partner_id: str, now: dt.datetime
) -> Callable[[Connection, pa.Table], list[RowError]]:
    """The inbox's last check of a partner's events, in the transaction that stores them:
    each person's `feedback` consent still live and their file not frozen, read with their
    rows locked (a freeze or an opt-out waits for this commit, or this read waits for
    theirs). A revocation or a freeze a moment before the commit had let 8,000 events in."""

    def check(store: Connection, new: pa.Table) -> list[RowError]:
        persons = [str(p) for p in new.column("person_id").to_pylist()]
        allowed = consenting(store, partner_id, persons, now, lock=True)
        return [
            RowError(int(line), "person_id", NOT_FOUND)
            for line, person in zip(new.column(LINE).to_pylist(), persons, strict=True)
            if person not in allowed
        ]

    return check


def _refused_people(
    refused: BatchRejected, records: Sequence[Mapping[str, str | None]]
) -> list[str]:
    """The people of the events refused as no consent (by the inbox's last check)."""
    return [
        str(records[e.line - 1].get("person_id"))
        for e in refused.errors
        if e.field == "person_id" and e.reason == NOT_FOUND and 0 < e.line <= len(records)
    ]


def consenting(
    store: Connection,
    partner_id: str,
    person_ids: Iterable[str],
    now: dt.datetime,
    lock: bool = False,
) -> set[str]:
    """Which of `person_ids` are active, not frozen, and have a live `feedback` consent for
    the partner; with `lock`, their people rows locked for share (PostgreSQL) until the
    caller's transaction ends."""
    wanted = sorted(set(person_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), CONSENT_CHUNK):
        query = (
            select(consent_rows.c.person_id)
            .join(people, people.c.person_id == consent_rows.c.person_id)
            .where(
                consent_rows.c.person_id.in_(wanted[start : start + CONSENT_CHUNK]),
                consent_rows.c.partner_id == partner_id,
                consent_rows.c.purpose == "feedback",
                consent_rows.c.revoked_at.is_(None),
                or_(consent_rows.c.expires_at.is_(None), consent_rows.c.expires_at > now),
                people.c.status == "active",
                people.c.frozen_at.is_(None),
            )
        )
        if lock:
            query = query.with_for_update(read=True, of=people)
        found.update(store.execute(query).scalars())
    return found


def accept_partner_events(
    engine: Engine,
    lake_root: Path,
    partner_id: str,
    records: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
) -> IngestReport:
    """`POST /v1/events` for a partner: its own source only, only people who consented to its
    feedback, no friend links; then the inbox as for the admin. All or nothing."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        allowed = consenting(store, partner_id, (str(r.get("person_id")) for r in records), now)
    errors = partner_rules(records, partner_id, now)
    refused: list[str] = []
    for line, record in enumerate(records, start=1):
        if record.get("source") != partner_id:
            errors.append(
                RowError(line, "source", f"must be {partner_id}: a partner sends as itself")
            )
        if record.get("kind") in PERSONAL_KINDS:
            errors.append(RowError(line, "kind", "friend links come from the person only"))
        if record.get("person_id") not in allowed:
            # The same words for an unknown person and one who did not consent.
            errors.append(RowError(line, "person_id", NOT_FOUND))
            refused.append(str(record.get("person_id")))
    if errors:
        _log_frozen_attempts(engine, partner_id, refused, actor, now)
        raise BatchRejected(errors, "request")
    try:
        return accept_events(
            engine, lake_root, records, actor, now, _still_consenting(partner_id, now)
        )
    except BatchRejected as rejected:
        # Revoked or frozen since the check above, before the inbox's commit.
        _log_frozen_attempts(engine, partner_id, _refused_people(rejected, records), actor, now)
        raise


def _log_frozen_attempts(
    engine: Engine, partner_id: str, person_ids: Sequence[str], actor: str, now: dt.datetime
) -> None:
    """Log the refused events' people whose file is frozen (once a person per request), in
    a transaction of its own: the events themselves are refused whatever happens here."""
    if not person_ids:
        return
    attempts = [
        alerts.FrozenAttempt(
            person_id, actor, partner_id, "feedback", "events", str(uuid.uuid4()), now
        )
        for person_id in dict.fromkeys(person_ids)
    ]
    with engine.begin() as store:
        alerts.record_frozen_attempts(store, attempts)


class SenderRefused(Forbidden):
    """Only the admin or a partner may send events."""


def receive_events(
    engine: Engine,
    lake_root: Path,
    sender: Caller,
    records: Sequence[Mapping[str, str | None]],
    now: dt.datetime | None = None,
) -> IngestReport:
    """`POST /v1/events`: the admin's batch as it is; a partner's under its own name and
    feedback consent only (`accept_partner_events`)."""
    if sender.kind == "admin":
        return accept_events(engine, lake_root, records, sender.actor, now)
    if sender.kind == "partner" and sender.partner_id is not None:
        return accept_partner_events(
            engine, lake_root, sender.partner_id, records, sender.actor, now
        )
    raise SenderRefused("only the admin or a partner may send events")
