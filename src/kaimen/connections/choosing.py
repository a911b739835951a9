"""A person's two choices about connections, each off until they say otherwise.

- **Opt in (or out)**: their consenting friends' points count in their own score.
- **Lend (or withdraw)**: their score counts for their friends who opted in.

Each change is one transaction: the choice with who made it and when, an audit row and an
access-log row (so the person sees every change to their choices, whoever made it). Only the
person themselves, or the admin acting for them, may make it. A change takes effect at once:
after it commits, the people whose score it moves are re-scored through the batch's own code
(the person, on opting in or out; their opted-in friends, on lending or withdrawing), and each
moves by at most the profile's cap. Under a profile that switches the dimension off (`eu`)
every one of these is refused, saying why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.connections import ConnectionsOff
from kaimen.domain.errors import Forbidden, NotFound
from kaimen.domain.profiles import Profile
from kaimen.engines.embedded import ibis_connection
from kaimen.scoring.connections_added import friends_now
from kaimen.scoring.rescore import rescore_people
from kaimen.store import access_log, audit, people
from kaimen.store import connections as connection_rows
from kaimen.store.connections import Choice, Choices
from kaimen.store.score_revisions import Revision

__all__ = ["CHANGES", "Change", "ChoiceMade", "Choices", "change"]

ACCESS_PURPOSE = "connections"
ACCESS_WHAT = "connections"


@dataclass(frozen=True)
class Change:
    """One of the four changes: the door's name for it, the choice it sets and to what, what
    it does (as the doors describe it), its audit action and the note its re-scores carry."""

    name: str
    choice: Choice
    on: bool
    does: str
    action: str
    note: str


CHANGES: dict[str, Change] = {
    c.name: c
    for c in (
        Change(
            "opt-in",
            "counts_friends",
            True,
            "Let the person's consenting friends count in their score, within the cap.",
            "connections.opted_in",
            "you opted in: your consenting friends' points count, within the cap",
        ),
        Change(
            "opt-out",
            "counts_friends",
            False,
            "Stop the person's friends counting in their score.",
            "connections.opted_out",
            "you opted out: your friends no longer count in your score",
        ),
        Change(
            "lend",
            "lends_score",
            True,
            "Let the person's score count for their friends who opted in.",
            "connections.lent",
            "a friend lent you their score: it counts, within the cap",
        ),
        Change(
            "withdraw",
            "lends_score",
            False,
            "Stop the person's score counting for their friends.",
            "connections.withdrawn",
            "a friend withdrew their score: it no longer counts",
        ),
    )
}


class NotEnrolled(NotFound):
    """No active person by that id (or not one this caller may act for)."""


@dataclass(frozen=True)
class ChoiceMade:
    choices: Choices
    # The re-scores the change caused, published at once (empty when nobody's score moved
    # or nobody had a published score yet).
    revisions: tuple[Revision, ...] = ()


def check_on(profile: Profile) -> None:
    """Refuse (ConnectionsOff, saying why) under a profile that switches connections off."""
    rules = profile.connections
    if not rules.allowed:
        raise ConnectionsOff(profile.name, rules.off_because or "the profile switches it off")


def acting_for(caller: Caller, person_id: str) -> None:
    """The person themselves, or the admin acting for them."""
    if not (caller.kind == "admin" or caller.is_person(person_id)):
        raise Forbidden("only the person, or the admin acting for them, may do this")


def change(
    engine: Engine,
    profile: Profile,
    caller: Caller,
    person_id: str,
    wanted: Change,
    lake_root: Path | None = None,
    now: dt.datetime | None = None,
) -> ChoiceMade:
    """Make one change to the person's choices; with `lake_root`, re-score at once the people
    whose score it moves (without, their next monthly run counts it)."""
    check_on(profile)
    acting_for(caller, person_id)
    now = now or dt.datetime.now(dt.UTC)
    choice, on, action, note = wanted.choice, wanted.on, wanted.action, wanted.note

    def work(store: Connection) -> Choices:
        # Locks the person's row: two changes take turns, and an opt-out waits or is waited for.
        if people.status_of(store, person_id, lock=True) != "active":
            raise NotEnrolled(f"{person_id} is not an enrolled person")
        before = connection_rows.choices_of(store, person_id)
        made = connection_rows.set_choice(store, person_id, choice, on, caller.actor, now)
        details = {"choice": choice, "on": on, "was": bool(getattr(before, choice))}
        audit.append(store, caller.actor, action, subject=person_id, details=details, now=now)
        access_log.record(store, person_id, caller.actor, ACCESS_PURPOSE, ACCESS_WHAT, details, now)
        return made

    made = audit.audited_transaction(engine, work)
    if lake_root is None:
        return ChoiceMade(made)
    moved = _moved_by(engine, lake_root, profile, person_id, choice)
    if not moved:
        return ChoiceMade(made)
    revisions = rescore_people(
        engine,
        ibis_connection(),
        lake_root,
        profile,
        moved,
        "connections",
        action,
        note,
        caller.actor,
        now,
    )
    return ChoiceMade(made, tuple(revisions))


def _moved_by(
    engine: Engine, lake_root: Path, profile: Profile, person_id: str, choice: Choice
) -> Sequence[str]:
    """Whose published score the change can move: the person (their own opt-in), or their
    friends who opted in (their lending)."""
    if choice == "counts_friends":
        return [person_id]
    return opted_in_friends(engine, lake_root, profile, person_id)


def opted_in_friends(
    engine: Engine, lake_root: Path, profile: Profile, person_id: str
) -> list[str]:
    """The person's friends (at the newest published month) who opted in: those whose
    score the person's score can move. None where the profile switches connections off."""
    if not profile.connections.allowed:
        return []
    friends = friends_now(engine, ibis_connection(), lake_root, person_id)
    with engine.connect() as store:
        opted = connection_rows.opted_in(store, friends)
    return [str(p) for p in opted.column("person_id").to_pylist()]


def rescore_after_departure(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    friends: Sequence[str],
    actor: str,
    now: dt.datetime,
) -> tuple[Revision, ...]:
    """Re-score at once the opted-in friends of someone who left kaimen (`friends`, found
    with `opted_in_friends` before they left): their score no longer counts for anyone."""
    if not friends:
        return ()
    revisions = rescore_people(
        engine,
        ibis_connection(),
        lake_root,
        profile,
        friends,
        "connections",
        "connections.friend_left",
        "a friend left kaimen: their score no longer counts",
        actor,
        now,
    )
    return tuple(revisions)
