"""What a person's points are: their ledger, their balance replayed from it now, their grade
and the privileges it opens (read by the person or the admin); and whether a grade's
privilege applies to someone (`privilege_answer`: asked through `sharing.privilege_checks`,
under consent). Each read is one transaction with its access-log row and audit row; under a
profile that forbids the programme every read says why instead."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden, NotFound
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.domain.rulebook import Privilege
from kaimen.domain.text import excerpt
from kaimen.points import rulebooks
from kaimen.points.balances import replayed
from kaimen.store import access_log, audit, people
from kaimen.store import points_ledger as ledger
from kaimen.store.points_ledger import Entry, StoredBalance

ACCESS_PURPOSE = "points"
READ = "points.read"
CHECKED = "points.privilege_checked"


class PersonUnknown(NotFound):
    """No such enrolled person (or not one this caller may know of)."""


@dataclass(frozen=True)
class PointsStanding:
    person_id: str
    rulebook: str
    base: int
    month: str  # the replay's month: the balance at its end
    balance: int
    grade: str
    privileges: tuple[Privilege, ...]
    # What the last award run (or correction) stored, and for which month.
    stored: StoredBalance | None
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class PrivilegeAnswer:
    person_id: str
    privilege_id: str
    context: str
    effect: str
    applies: bool


def month_of(profile: Profile, now: dt.datetime) -> str:
    day = profile.local_date(now)
    return f"{day.year:04d}-{day.month:02d}"


def balance_now(store: Connection, profile: Profile, person_id: str, base: int, month: str) -> int:
    """The person's balance replayed from their ledger at the end of `month`."""
    balances = replayed(
        ledger.replay_rows(store, person_id), month, base, profile.disputed_counts_while_pending
    )
    return int(balances.column("balance")[0].as_py()) if balances.num_rows else base


def require_active(store: Connection, person_id: str) -> None:
    if people.status_of(store, person_id) != "active":
        raise PersonUnknown(f"no enrolled person {person_id!r}")


def my_points(
    engine: Engine,
    profile: Profile,
    caller: Caller,
    person_id: str,
    now: dt.datetime | None = None,
) -> PointsStanding:
    """The person's ledger, balance, grade and privileges (the person or the admin)."""
    if not caller.reads_person(person_id):
        raise Forbidden("only the person, or the admin, reads a person's points")
    rulebooks.require_programme(profile)
    now = now or dt.datetime.now(dt.UTC)
    month = month_of(profile, now)

    def work(store: Connection) -> PointsStanding:
        require_active(store, person_id)
        loaded = rulebooks.in_force(store, profile)
        book = loaded.rulebook
        balance = balance_now(store, profile, person_id, book.base, month)
        grade = book.grade_of(balance)
        standing = PointsStanding(
            person_id,
            book.name,
            book.base,
            month,
            balance,
            grade,
            book.privileges_of(grade),
            ledger.stored_balance(store, person_id),
            tuple(ledger.entries_of(store, person_id)),
        )
        disclosed: JsonObject = {
            "balance": balance,
            "grade": grade,
            "entries": len(standing.entries),
        }
        if not caller.is_person(person_id):  # the log lists what others saw
            access_log.record(
                store, person_id, caller.actor, ACCESS_PURPOSE, "ledger", disclosed, now
            )
        audit.append(
            store, caller.actor, READ, subject=person_id, details={"month": month}, now=now
        )
        return standing

    return audit.audited_transaction(engine, work)


def privilege_answer(
    store: Connection, profile: Profile, person_id: str, privilege: Privilege, month: str
) -> PrivilegeAnswer:
    """Whether the person's grade at the end of `month` opens `privilege` (of the rulebook
    in force): the answer alone, never the balance or the grade. The caller decides who may
    ask, and logs the look."""
    book = rulebooks.in_force(store, profile).rulebook
    grade = book.grade_of(balance_now(store, profile, person_id, book.base, month))
    return PrivilegeAnswer(
        person_id, privilege.id, privilege.context, privilege.effect, privilege.grade == grade
    )


def privilege_in_force(store: Connection, profile: Profile, privilege_id: str) -> Privilege:
    """The privilege of the rulebook in force; NotFound naming the known ones."""
    book = rulebooks.in_force(store, profile).rulebook
    privilege = next((p for p in book.privileges if p.id == privilege_id), None)
    if privilege is None:
        known = ", ".join(p.id for p in book.privileges) or "none"
        raise NotFound(f"no privilege {excerpt(privilege_id)!r} in {book.name}; known: {known}")
    return privilege
