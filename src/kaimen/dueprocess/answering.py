"""The furnisher's answer to a dispute: `verified` (the dispute is rejected, the item stands
and the person's statement travels with it), `corrected` (new values, which for an event
become a new event superseding the old one, or a described correction), `deleted` or
`unverifiable` (the item is suppressed). A disputed identity link that ends other than
`verified` is also undone (see `link_disputes`).

A partner answers the disputes of items it furnished (its key with scope `disputes`); the
admin answers for the court feed and for the operator's own events. When an item is
suppressed or corrected, every partner that got a decision or a report about the person since
the item's conduct is told through the outbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.disputes import (
    ANSWER_STATES,
    COURT,
    FINAL_ITEM_STATES,
    ITEM_STATE_AFTER,
    KAIMEN,
    Answer,
    Correction,
    DisputeClosed,
    DisputeNotFound,
    DisputeRejected,
    DisputeState,
    ItemKind,
    ItemRef,
    ItemState,
)
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.domain.text import readable_problem
from kaimen.dueprocess import item_standing
from kaimen.dueprocess.disputable_items import Lookup, resolve
from kaimen.dueprocess.link_disputes import undo_disputed_link
from kaimen.dueprocess.rescoring import rescore_now
from kaimen.ingest.inbox_ingest import accept_events
from kaimen.store import audit
from kaimen.store import disputes as dispute_rows
from kaimen.store.disputes import DisputeRecord
from kaimen.store.score_revisions import Revision

ANSWERED = "dispute.answered"
# Fields a correction may not change: they name the event and whose it is.
FIXED_FIELDS = ("source", "event_id", "person_id", "kind", "recorded_at", "schema_version")
MAX_NOTE = 2_000
MAX_EVENT_ID = 128


@dataclass(frozen=True)
class Answered:
    dispute: DisputeRecord
    # The new event a correction became, when it became one.
    correction_event: ItemRef | None
    # Partners told that the item was suppressed or corrected.
    notified: tuple[str, ...]
    # People to re-score now.
    rescore: tuple[str, ...]
    # What their re-score changed, published at once.
    revisions: tuple[Revision, ...] = ()


def _may_answer(caller: Caller, dispute: DisputeRecord) -> bool:
    if caller.kind == "partner":
        return caller.partner_id == dispute.furnisher and "disputes" in caller.scopes
    return caller.kind == "admin" and dispute.furnisher in (KAIMEN, COURT)


def _check_correction(answer: Answer, correction: Correction | None) -> Correction | None:
    if answer is not Answer.CORRECTED:
        if correction is not None:
            raise DisputeRejected(f"an answer {answer.value!r} carries no correction")
        return None
    if correction is None or (not correction.values and not correction.note):
        raise DisputeRejected("a correction needs the corrected values, a description, or both")
    bad = sorted(set(correction.values) & set(FIXED_FIELDS))
    if bad:
        raise DisputeRejected(f"a correction may not change {', '.join(bad)}")
    if correction.note is not None:
        problem = readable_problem(correction.note.replace("\n", " "))
        if problem or len(correction.note) > MAX_NOTE:
            raise DisputeRejected(
                f"the correction's description {problem or f'exceeds {MAX_NOTE} characters'}"
            )
    return correction


def corrected_event_id(event_id: str, dispute_id: str) -> str:
    """The id of an event's correction: the old id and the dispute's, within the limit."""
    suffix = f".corr-{dispute_id[:8]}"
    return event_id[: MAX_EVENT_ID - len(suffix)] + suffix


def _submit_correction(
    engine: Engine,
    lake_root: Path,
    dispute: DisputeRecord,
    values: dict[str, str],
    actor: str,
    now: dt.datetime,
) -> ItemRef:
    """The corrected event, through the inbox and its rules like any event (a resend of the
    same correction is a duplicate, so an answer retried after a failure is harmless)."""
    with engine.connect() as store:
        found = resolve(Lookup(store, lake_root, dispute.person_id), dispute.item)
    source, event_id = dispute.item.event_key()
    new_id = corrected_event_id(event_id, dispute.dispute_id)
    record: dict[str, str | None] = {
        **{k: v for k, v in found.fields.items() if k != "recorded_at"},
        **values,
        "event_id": new_id,
        "recorded_at": now.isoformat(),
    }
    accept_events(engine, lake_root, [record], actor, now)
    return ItemRef.event(source, new_id)


def answer_dispute(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    caller: Caller,
    dispute_id: str,
    answer: Answer,
    correction: Correction | None = None,
    now: dt.datetime | None = None,
) -> Answered:
    """Record the furnisher's answer (DisputeNotFound for a dispute the caller may not
    answer, DisputeClosed for one answered or lapsed before)."""
    now = now or dt.datetime.now(dt.UTC)
    checked = _check_correction(answer, correction)
    with engine.connect() as store:
        dispute = dispute_rows.get(store, dispute_id)
        state = None if dispute is None else dispute_rows.item_state(store, dispute.item)
    if dispute is None or not _may_answer(caller, dispute):
        raise DisputeNotFound(f"no dispute {dispute_id} for you to answer")
    if dispute.state is not DisputeState.OPEN:
        raise DisputeClosed(f"dispute {dispute_id} was closed before: {dispute.state.value}")
    if dispute.answer_due_at <= now:
        # Past the deadline the item is suppressed (the sweep's `lapse`, which may not have
        # run yet): a late answer must not keep it counting.
        raise DisputeClosed(
            f"dispute {dispute_id} was to be answered by {dispute.answer_due_at.isoformat()}; "
            "unanswered by then, the item is suppressed"
        )
    new_event: ItemRef | None = None
    if checked is not None and checked.values:
        if dispute.item.kind is not ItemKind.EVENT:
            raise DisputeRejected(
                f"a {dispute.item.kind.value} is corrected by description (note), not values"
            )
        if state is not None and state.state in FINAL_ITEM_STATES:
            raise DisputeClosed(f"{dispute.item} is {state.state.value} already: nothing counts")
        new_event = _submit_correction(
            engine, lake_root, dispute, checked.values, caller.actor, now
        )
    recorded: JsonObject | None = None
    if checked is not None:
        recorded = {"values": dict(checked.values)}
        if new_event is not None:
            recorded["event"] = new_event.ref

    def work(store: Connection) -> Answered:
        if not dispute_rows.close(
            store,
            dispute_id,
            ANSWER_STATES[answer],
            caller.actor,
            now,
            correction=recorded,
            correction_note=None if checked is None else checked.note,
        ):
            raise DisputeClosed(f"dispute {dispute_id} was closed before")
        closed = dispute_rows.get(store, dispute_id)
        assert closed is not None
        item_state = ITEM_STATE_AFTER[answer]
        changed = item_standing.move(store, closed, item_state, profile, now)
        notified: list[str] = []
        if item_state is not None:
            notified = item_standing.tell_recipients(store, closed, item_state, now, recorded)
        audit.append(
            store,
            caller.actor,
            ANSWERED,
            subject=closed.person_id,
            details={
                "dispute_id": dispute_id,
                "answer": answer.value,
                "item": str(closed.item),
                "correction_event": None if new_event is None else str(new_event),
                "notified": list(notified),
            },
            now=now,
        )
        rescore = changed or new_event is not None
        return Answered(closed, new_event, tuple(notified), (closed.person_id,) if rescore else ())

    answered = _link_undone(engine, audit.audited_transaction(engine, work), caller.actor, now)
    note = f"{answered.dispute.item} answered {answer.value} by its furnisher"
    return _rescored(engine, lake_root, profile, answered, note, caller.actor, now)


def _link_undone(engine: Engine, answered: Answered, actor: str, now: dt.datetime) -> Answered:
    """`answered`, with the disputed identity link undone when its end says so."""
    people = undo_disputed_link(engine, answered.dispute, actor, now)
    return replace(answered, rescore=tuple(dict.fromkeys((*answered.rescore, *people))))


def _rescored(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    answered: Answered,
    note: str,
    actor: str,
    now: dt.datetime,
) -> Answered:
    """`answered` with its people re-scored and published."""
    revisions = rescore_now(
        engine,
        lake_root,
        profile,
        answered.rescore,
        "dispute",
        answered.dispute.dispute_id,
        note,
        actor,
        now,
    )
    return replace(answered, revisions=revisions)


def lapse_overdue(
    engine: Engine, lake_root: Path, profile: Profile, actor: str, now: dt.datetime | None = None
) -> list[Answered]:
    """Every open dispute past its deadline is closed as `lapsed` and its item suppressed,
    each in its own transaction with its audit row (the deadline sweep)."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        due = dispute_rows.overdue(store, now)
    lapsed: list[Answered] = []
    for dispute in due:

        def work(store: Connection, dispute: DisputeRecord = dispute) -> Answered | None:
            if not dispute_rows.close(store, dispute.dispute_id, DisputeState.LAPSED, actor, now):
                return None  # answered meanwhile
            closed = dispute_rows.get(store, dispute.dispute_id)
            assert closed is not None
            changed = item_standing.move(store, closed, ItemState.SUPPRESSED, profile, now)
            notified = item_standing.tell_recipients(store, closed, ItemState.SUPPRESSED, now)
            audit.append(
                store,
                actor,
                "dispute.lapsed",
                subject=closed.person_id,
                details={
                    "dispute_id": closed.dispute_id,
                    "item": str(closed.item),
                    "answer_due_at": closed.answer_due_at.isoformat(),
                    "notified": list(notified),
                },
                now=now,
            )
            return Answered(closed, None, tuple(notified), (closed.person_id,) if changed else ())

        result = audit.audited_transaction(engine, work)
        if result is not None:
            result = _link_undone(engine, result, actor, now)
            note = f"{result.dispute.item} not answered by its deadline: suppressed"
            lapsed.append(_rescored(engine, lake_root, profile, result, note, actor, now))
    return lapsed
