"""A person disputes a negative item, and may add to the dispute while it is open.

Filing is one transaction: the dispute (open), its deadlines from the jurisdiction profile
(the furnisher's answer and the notice to the furnisher), its evidence rows, the item marked
disputed, an outbox message to the furnisher, an audit row and an access-log row. Evidence
files are written (by hash, atomically) before it: a file no row names is harmless, a row
naming no file would not be. A repeat dispute of the same item is a new dispute naming the one
before it; it never makes a suppressed or corrected item count again.

Each service returns the ids of people whose score must be recomputed now (the item's
counting changed), for the caller to hand to the single-person re-score.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.disputes import (
    KAIMEN,
    MAX_STATEMENT_CHARACTERS,
    DisputeClosed,
    DisputeNotFound,
    DisputeRejected,
    DisputeState,
    Evidence,
    ItemNotFound,
    ItemRef,
    ItemState,
    StoredEvidence,
)
from kaimen.domain.errors import Forbidden, NotFound
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.domain.text import readable_problem
from kaimen.dueprocess import evidence as evidence_files
from kaimen.dueprocess import item_standing
from kaimen.dueprocess.disputable_items import NOT_YOURS, Lookup, resolve
from kaimen.dueprocess.rescoring import rescore_now
from kaimen.store import access_log, audit, outbox, people
from kaimen.store import disputes as dispute_rows
from kaimen.store.disputes import DisputeRecord, NewDispute
from kaimen.store.score_revisions import Revision

DISPUTE_FILED = "dispute.filed"
INFORMATION_ADDED = "dispute.information_added"
ACCESS_WHAT = "dispute"
LIST_WHAT = "disputes"
DISPUTES_READ = "disputes.read"


@dataclass(frozen=True)
class Filed:
    dispute: DisputeRecord
    evidence: tuple[StoredEvidence, ...]
    # People to re-score now (the item's counting changed); empty when nothing changed.
    rescore: tuple[str, ...]
    # What their re-score changed, published at once.
    revisions: tuple[Revision, ...] = ()


def _acting_for(caller: Caller, person_id: str) -> None:
    """The person themselves, or the admin acting for them."""
    if not (caller.kind == "admin" or caller.is_person(person_id)):
        raise Forbidden("only the person, or the admin acting for them, may dispute an item")


def check_statement(statement: str, profile: Profile) -> str:
    """The statement, trimmed, within the profile's word limit."""
    text = statement.strip()
    if not text:
        raise DisputeRejected("a dispute needs a statement: say what is wrong with the item")
    if len(text) > MAX_STATEMENT_CHARACTERS:
        raise DisputeRejected(f"a statement holds at most {MAX_STATEMENT_CHARACTERS} characters")
    problem = readable_problem(text.replace("\n", " ").replace("\t", " "))
    if problem:
        raise DisputeRejected(f"the statement {problem}")
    words = profile.statement_words(text)
    if words > profile.statement_max_words:
        raise DisputeRejected(
            f"the statement has {words} words; {profile.title} allows {profile.statement_max_words}"
        )
    return text


def _active(store: Connection, person_id: str) -> None:
    if people.status_of(store, person_id, lock=True) != "active":
        raise ItemNotFound(NOT_YOURS)


def _notice(dispute: DisputeRecord, kept: Sequence[StoredEvidence]) -> JsonObject:
    """What the furnisher is told: ids, the item, the statement and the evidence's hashes
    (never a name or an ID number)."""
    return {
        "dispute_id": dispute.dispute_id,
        "person_id": dispute.person_id,
        "item_kind": dispute.item.kind.value,
        "item_ref": dispute.item.ref,
        "statement": dispute.statement,
        "evidence": [
            {"sha256": e.sha256, "size": e.size, "media_type": e.media_type} for e in kept
        ],
        "filed_at": dispute.filed_at.isoformat(),
        "answer_due_at": dispute.answer_due_at.isoformat(),
        "answer_path": f"/v1/disputes/{dispute.dispute_id}/answer",
    }


def file_dispute(
    engine: Engine,
    lake_root: Path,
    evidence_dir: Path,
    profile: Profile,
    caller: Caller,
    person_id: str,
    item: ItemRef,
    statement: str,
    evidence: Sequence[Evidence] = (),
    now: dt.datetime | None = None,
) -> Filed:
    """Dispute one of the person's negative items (ItemNotFound for anyone else's)."""
    _acting_for(caller, person_id)
    now = now or dt.datetime.now(dt.UTC)
    text = check_statement(statement, profile)
    checked = evidence_files.check(evidence)
    kept = tuple(stored for stored, _ in checked)

    def work(store: Connection) -> Filed:
        _active(store, person_id)
        found = resolve(Lookup(store, lake_root, person_id), item)
        previous = dispute_rows.latest_of_item(store, item)
        notify_now = found.furnisher == KAIMEN  # the operator holds it: told on filing
        new = NewDispute(
            dispute_id=str(uuid.uuid4()),
            person_id=person_id,
            item=item,
            furnisher=found.furnisher,
            previous_dispute_id=None if previous is None else previous.dispute_id,
            statement=text,
            profile=profile.name,
            item_occurred_at=found.occurred_at,
            filed_at=now,
            answer_due_at=profile.deadline(now, profile.dispute_answer),
            furnisher_notice_due_at=profile.deadline(now, profile.furnisher_notice),
            furnisher_notified_at=now if notify_now else None,
        )
        dispute_rows.insert_dispute(store, new)
        dispute_rows.add_evidence(store, new.dispute_id, kept, now)
        dispute = dispute_rows.get(store, new.dispute_id)
        assert dispute is not None
        changed = item_standing.move(store, dispute, ItemState.DISPUTED, profile, now)
        if not notify_now:
            outbox.enqueue(
                store, found.furnisher, DISPUTE_FILED, _notice(dispute, kept), now, new.dispute_id
            )
        details: JsonObject = {
            "dispute_id": new.dispute_id,
            "item": str(item),
            "furnisher": found.furnisher,
            "previous_dispute_id": new.previous_dispute_id,
            "answer_due_at": new.answer_due_at.isoformat(),
            "evidence": [e.sha256 for e in kept],
        }
        audit.append(
            store, caller.actor, DISPUTE_FILED, subject=person_id, details=details, now=now
        )
        access_log.record(
            store,
            person_id,
            caller.actor,
            "dispute",
            ACCESS_WHAT,
            {"dispute_id": new.dispute_id, "item": str(item), "furnisher": found.furnisher},
            now,
        )
        return Filed(dispute, kept, (person_id,) if changed else ())

    written = evidence_files.keep(evidence_dir, checked)
    try:
        filed = audit.audited_transaction(engine, work)
    except BaseException:
        _discard(engine, evidence_dir, written)
        raise
    revisions = rescore_now(
        engine,
        lake_root,
        profile,
        filed.rescore,
        "dispute",
        filed.dispute.dispute_id,
        f"{item} disputed: it does not count while the dispute is open",
        caller.actor,
        now,
    )
    return replace(filed, revisions=revisions)


def add_information(
    engine: Engine,
    evidence_dir: Path,
    profile: Profile,
    caller: Caller,
    person_id: str,
    dispute_id: str,
    statement: str | None,
    evidence: Sequence[Evidence] = (),
    now: dt.datetime | None = None,
) -> Filed:
    """Add to an open dispute: more statement (appended, the whole within the word limit)
    and more evidence. The furnisher's deadline becomes the profile's extended one, counted
    from the filing, and the furnisher is told."""
    _acting_for(caller, person_id)
    now = now or dt.datetime.now(dt.UTC)
    if not statement and not evidence:
        raise DisputeRejected("add a statement, evidence files, or both")

    def work(store: Connection) -> Filed:
        dispute = dispute_rows.get(store, dispute_id, lock=True)
        if dispute is None or dispute.person_id != person_id:
            raise DisputeNotFound(f"no dispute {dispute_id} of yours")
        if dispute.state is not DisputeState.OPEN:
            raise DisputeClosed(f"dispute {dispute_id} was closed: {dispute.state.value}")
        held = dispute_rows.evidence_of(store, dispute_id)
        combined = dispute.statement
        if statement and statement.strip():
            combined = check_statement(f"{dispute.statement}\n\n{statement.strip()}", profile)
        checked = evidence_files.check(evidence, already=len(held))
        kept = tuple(stored for stored, _ in checked)
        extended = profile.deadline(dispute.filed_at, profile.dispute_answer_extended)
        # Only a deadline still running is extended: once it has passed the item is to be
        # suppressed, and more from the person must not give the furnisher more time.
        due = (
            dispute.answer_due_at
            if dispute.answer_due_at <= now
            else max(dispute.answer_due_at, extended)
        )
        written.update(evidence_files.keep(evidence_dir, checked))
        dispute_rows.add_information(store, dispute_id, combined, due, now)
        dispute_rows.add_evidence(store, dispute_id, kept, now)
        updated = dispute_rows.get(store, dispute_id)
        assert updated is not None
        if updated.furnisher != KAIMEN:
            notice = _notice(updated, [*held, *kept])
            outbox.enqueue(store, updated.furnisher, INFORMATION_ADDED, notice, now, dispute_id)
        audit.append(
            store,
            caller.actor,
            INFORMATION_ADDED,
            subject=person_id,
            details={
                "dispute_id": dispute_id,
                "answer_due_at": due.isoformat(),
                "evidence": [e.sha256 for e in kept],
            },
            now=now,
        )
        access_log.record(
            store,
            person_id,
            caller.actor,
            "dispute",
            ACCESS_WHAT,
            {"dispute_id": dispute_id, "information_added": True},
            now,
        )
        return Filed(updated, kept, ())

    written: set[str] = set()
    try:
        return audit.audited_transaction(engine, work)
    except BaseException:
        _discard(engine, evidence_dir, written)
        raise


def _discard(engine: Engine, evidence_dir: Path, written: set[str]) -> None:
    """The files just written for a dispute that was not stored, but those a stored dispute
    holds (another may have sent the same file meanwhile)."""
    if not written:
        return
    with engine.connect() as store:
        held = dispute_rows.evidence_held(store, written)
    evidence_files.discard(evidence_dir, written, held)


@dataclass(frozen=True)
class DisputeView:
    dispute: DisputeRecord
    evidence: tuple[StoredEvidence, ...]


def disputes_of(
    engine: Engine, caller: Caller, person_id: str, now: dt.datetime | None = None
) -> list[DisputeView]:
    """The person's disputes, newest first, with their evidence (the person or the admin),
    read in a transaction that audits it and logs the admin's read in the person's access
    log (which lists what others saw, not the person's own looks)."""
    _acting_for(caller, person_id)
    now = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> list[DisputeView]:
        if people.status_of(store, person_id) != "active":
            raise NotFound(f"{person_id} is not an enrolled person")
        views = [
            DisputeView(d, tuple(dispute_rows.evidence_of(store, d.dispute_id)))
            for d in dispute_rows.of_person(store, person_id)
        ]
        disclosed: JsonObject = {"disputes": len(views)}
        if not caller.is_person(person_id):
            access_log.record(store, person_id, caller.actor, "dispute", LIST_WHAT, disclosed, now)
        audit.append(store, caller.actor, DISPUTES_READ, subject=person_id, now=now)
        return views

    return audit.audited_transaction(engine, work)
