"""The court list in the store: import files, listings, their status history, identity links
from listings to people and the review queue of candidate links.

Names and ID numbers arrive here already hashed and encrypted (see `identity_vault`); nothing
in this module sees them in clear.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.domain.court_list import ENROLLED_ID_KIND
from kaimen.store.tables import (
    court_list_files,
    court_listing_history,
    court_listings,
    identities,
    identity_links,
    link_reviews,
    people,
)

# Keys per statement when listings are looked up by case number.
LOOKUP_CHUNK = 5_000


@dataclass(frozen=True)
class ImportedFile:
    file_id: int
    sha256: str
    name: str
    imported_at: dt.datetime
    rows: int
    new_listings: int
    status_changes: int


@dataclass(frozen=True)
class Listing:
    """A listing as stored: its name and ID number only hashed and encrypted."""

    listing_id: str
    court: str
    case_number: str
    amount: Decimal
    currency: str
    judgment_date: dt.date
    status: str
    name_hash: str
    name_encrypted: str
    id_form: str
    id_hash: str | None
    id_pattern_hash: str | None
    id_encrypted: str
    birth_date: dt.date | None
    imported_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class StatusChange:
    changed_at: dt.datetime
    old_status: str | None
    new_status: str
    source: str
    actor: str


@dataclass(frozen=True)
class Link:
    link_id: str
    listing_id: str
    person_id: str
    method: str
    match_probability: float
    approved_by: str
    linked_at: dt.datetime
    undone_at: dt.datetime | None = None
    undone_by: str | None = None
    undo_reason: str | None = None

    @property
    def live(self) -> bool:
        return self.undone_at is None


@dataclass(frozen=True)
class Review:
    review_id: int
    listing_id: str
    person_id: str
    match_probability: float
    state: str
    queued_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    link_id: str | None


class LinkTaken(Exception):
    """The listing got a live link meanwhile (the partial unique index refused another)."""


def _listing(row: Any) -> Listing:
    return Listing(
        row.listing_id,
        row.court,
        row.case_number,
        Decimal(row.amount),
        row.currency,
        row.judgment_date,
        row.status,
        row.name_hash,
        row.name_encrypted,
        row.id_form,
        row.id_hash,
        row.id_pattern_hash,
        row.id_encrypted,
        row.birth_date,
        row.imported_at,
        row.updated_at,
    )


def _link(row: Any) -> Link:
    return Link(
        row.link_id,
        row.listing_id,
        row.person_id,
        row.method,
        float(row.match_probability),
        row.approved_by,
        row.linked_at,
        row.undone_at,
        row.undone_by,
        row.undo_reason,
    )


def _review(row: Any) -> Review:
    return Review(
        row.review_id,
        row.listing_id,
        row.person_id,
        float(row.match_probability),
        row.state,
        row.queued_at,
        row.decided_by,
        row.decided_at,
        row.link_id,
    )


# -- files ----------------------------------------------------------------------------------


def file_by_hash(connection: Connection, sha256: str) -> ImportedFile | None:
    row = connection.execute(
        select(court_list_files).where(court_list_files.c.sha256 == sha256)
    ).first()
    if row is None:
        return None
    return ImportedFile(
        row.file_id,
        row.sha256,
        row.name,
        row.imported_at,
        row.rows,
        row.new_listings,
        row.status_changes,
    )


def add_file(
    connection: Connection,
    sha256: str,
    name: str,
    channel: str,
    actor: str,
    now: dt.datetime,
    rows: int,
    new_listings: int,
    status_changes: int,
) -> int:
    """Record an imported file; returns its id. The unique hash refuses a concurrent twin."""
    result = connection.execute(
        insert(court_list_files).values(
            sha256=sha256,
            name=name[:400],
            channel=channel,
            imported_at=now,
            actor=actor,
            rows=rows,
            new_listings=new_listings,
            status_changes=status_changes,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# -- listings -------------------------------------------------------------------------------


def listings_for_cases(
    connection: Connection, cases: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Listing]:
    """The listings held for any of `cases` ((court, case number) pairs), by (court, case
    key): a case number is looked for as it is compared (`case_numbers`), however it is
    written. Should two listings share a key (imported before revision 0035 with the case
    written two ways), the first imported answers for it."""
    # Here: reading a listing need not load Arrow.
    import pyarrow as pa

    from kaimen.store.case_numbers import normalise_case_numbers

    numbers = pa.array([number for _, number in cases], pa.string())
    case_keys = normalise_case_numbers(numbers).to_pylist()
    wanted = {(court, key) for (court, _), key in zip(cases, case_keys, strict=True)}
    keys = sorted({key for _, key in wanted})
    found: dict[tuple[str, str], Listing] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(court_listings)
            .where(court_listings.c.case_key.in_(chunk))
            .order_by(court_listings.c.imported_at, court_listings.c.listing_id)
        )
        for row in rows:
            pair = (row.court, row.case_key)
            if pair in wanted and pair not in found:
                found[pair] = _listing(row)
    return found


def insert_listings(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert listings (dicts of `court_listings` columns) in one executemany."""
    if rows:
        connection.execute(insert(court_listings), list(rows))


def set_statuses(
    connection: Connection, changes: Sequence[tuple[str, str]], now: dt.datetime
) -> None:
    """Set each (listing id, new status), stamping `updated_at`."""
    if not changes:
        return
    statement = (
        update(court_listings)
        .where(court_listings.c.listing_id == bindparam("key"))
        .values(status=bindparam("new"), updated_at=now)
    )
    connection.execute(statement, [{"key": key, "new": new} for key, new in changes])


def add_history(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append status changes (dicts of `court_listing_history` columns)."""
    if rows:
        connection.execute(insert(court_listing_history), list(rows))


def listing(connection: Connection, listing_id: str) -> Listing | None:
    row = connection.execute(
        select(court_listings).where(court_listings.c.listing_id == listing_id)
    ).first()
    return None if row is None else _listing(row)


def listings_by_id(connection: Connection, listing_ids: Sequence[str]) -> dict[str, Listing]:
    """The listings among `listing_ids`, by id."""
    wanted = sorted(set(listing_ids))
    found: dict[str, Listing] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(court_listings).where(court_listings.c.listing_id.in_(chunk))
        )
        found.update((row.listing_id, _listing(row)) for row in rows)
    return found


def history(connection: Connection, listing_id: str) -> list[StatusChange]:
    """A listing's statuses, oldest first."""
    rows = connection.execute(
        select(court_listing_history)
        .where(court_listing_history.c.listing_id == listing_id)
        .order_by(court_listing_history.c.history_id)
    )
    return [StatusChange(r.changed_at, r.old_status, r.new_status, r.source, r.actor) for r in rows]


def unlinked_without_full_id(connection: Connection, file_id: int | None = None) -> list[Listing]:
    """Listings with no live link whose ID number is masked or unverifiable (of one import
    file, when given): what the probabilistic step resolves. Listings ever linked and
    unlinked are left out: an un-merge is a person's decision that the step must not undo."""
    query = select(court_listings).where(
        court_listings.c.id_form != "full",
        ~exists().where(identity_links.c.listing_id == court_listings.c.listing_id),
    )
    if file_id is not None:
        query = query.where(court_listings.c.file_id == file_id)
    return [_listing(r) for r in connection.execute(query.order_by(court_listings.c.listing_id))]


# -- links ----------------------------------------------------------------------------------


def exact_matches(connection: Connection) -> list[tuple[str, str]]:
    """(listing id, person id) for every listing never linked whose full ID number's hash is
    an active enrolled person's: one join on the hashes."""
    query = (
        select(court_listings.c.listing_id, identities.c.person_id)
        .join(
            identities,
            and_(
                identities.c.kind == ENROLLED_ID_KIND,
                identities.c.lookup_hash == court_listings.c.id_hash,
            ),
        )
        .join(people, people.c.person_id == identities.c.person_id)
        .where(
            court_listings.c.id_form == "full",
            people.c.status == "active",
            ~exists().where(identity_links.c.listing_id == court_listings.c.listing_id),
        )
        .order_by(court_listings.c.listing_id)
    )
    return [(r.listing_id, r.person_id) for r in connection.execute(query)]


def exact_link_counts(connection: Connection) -> tuple[int, int]:
    """(listings with a full ID number ever linked by it, listings with a full ID number):
    how often a listing belongs to an enrolled person, where that is known."""
    linked = exists().where(
        identity_links.c.listing_id == court_listings.c.listing_id,
        identity_links.c.method == "exact_id",
    )
    row = connection.execute(
        select(
            func.count().filter(linked),
            func.count(),
        ).where(court_listings.c.id_form == "full")
    ).one()
    return int(row[0]), int(row[1])


def insert_links(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert links (dicts of `identity_links` columns); `LinkTaken` when a listing already
    has a live one (the caller's transaction is then to be rolled back)."""
    if not rows:
        return
    try:
        with connection.begin_nested():
            connection.execute(insert(identity_links), list(rows))
    except IntegrityError as error:
        if "identity_links" in str(error.orig) or "live_listing" in str(error.orig):
            raise LinkTaken from None
        raise


def link(connection: Connection, link_id: str, lock: bool = False) -> Link | None:
    query = select(identity_links).where(identity_links.c.link_id == link_id)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else _link(row)


def live_link_of_listing(connection: Connection, listing_id: str) -> Link | None:
    row = connection.execute(
        select(identity_links).where(
            identity_links.c.listing_id == listing_id, identity_links.c.undone_at.is_(None)
        )
    ).first()
    return None if row is None else _link(row)


def live_links_of_listings(connection: Connection, listing_ids: Sequence[str]) -> dict[str, Link]:
    """The live link of each of `listing_ids` that has one, by listing id."""
    wanted = sorted(set(listing_ids))
    found: dict[str, Link] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(identity_links).where(
                identity_links.c.listing_id.in_(chunk), identity_links.c.undone_at.is_(None)
            )
        )
        found.update((row.listing_id, _link(row)) for row in rows)
    return found


def links_of_listing(connection: Connection, listing_id: str) -> list[Link]:
    rows = connection.execute(
        select(identity_links)
        .where(identity_links.c.listing_id == listing_id)
        .order_by(identity_links.c.linked_at, identity_links.c.link_id)
    )
    return [_link(r) for r in rows]


def undo_link(
    connection: Connection, link_id: str, actor: str, reason: str, now: dt.datetime
) -> bool:
    """Mark a live link undone; False when it was not live (undone meanwhile)."""
    result = connection.execute(
        update(identity_links)
        .where(identity_links.c.link_id == link_id, identity_links.c.undone_at.is_(None))
        .values(undone_at=now, undone_by=actor, undo_reason=reason)
    )
    return result.rowcount == 1


def linked_listings(connection: Connection, person_id: str) -> list[tuple[Link, Listing]]:
    """The person's live links with their listings, newest judgment first."""
    query = (
        select(identity_links, court_listings)
        .join(court_listings, court_listings.c.listing_id == identity_links.c.listing_id)
        .where(identity_links.c.person_id == person_id, identity_links.c.undone_at.is_(None))
        .order_by(court_listings.c.judgment_date.desc(), court_listings.c.listing_id)
    )
    return [(_link(r), _listing(r)) for r in connection.execute(query)]


# -- the review queue -----------------------------------------------------------------------


def enqueue(
    connection: Connection, candidates: Sequence[tuple[str, str, float]], now: dt.datetime
) -> int:
    """Queue (listing id, person id, probability) candidates not queued before (in any state:
    a pair once rejected is not asked again); returns how many were queued."""
    if not candidates:
        return 0
    listing_ids = sorted({c[0] for c in candidates})
    held: set[tuple[str, str]] = set()
    for start in range(0, len(listing_ids), LOOKUP_CHUNK):
        chunk = listing_ids[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(link_reviews.c.listing_id, link_reviews.c.person_id).where(
                link_reviews.c.listing_id.in_(chunk)
            )
        )
        held.update((r.listing_id, r.person_id) for r in rows)
    fresh = [c for c in candidates if (c[0], c[1]) not in held]
    if fresh:
        connection.execute(
            insert(link_reviews),
            [
                {
                    "listing_id": listing_id,
                    "person_id": person_id,
                    "match_probability": Decimal(f"{probability:.6f}"),
                    "state": "pending",
                    "queued_at": now,
                }
                for listing_id, person_id, probability in fresh
            ],
        )
    return len(fresh)


def review(connection: Connection, review_id: int, lock: bool = False) -> Review | None:
    query = select(link_reviews).where(link_reviews.c.review_id == review_id)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else _review(row)


def pending_reviews(connection: Connection, limit: int) -> list[tuple[Review, Listing]]:
    """Pending candidates with their listings, most probable first."""
    query = (
        select(link_reviews, court_listings)
        .join(court_listings, court_listings.c.listing_id == link_reviews.c.listing_id)
        .where(link_reviews.c.state == "pending")
        .order_by(link_reviews.c.match_probability.desc(), link_reviews.c.review_id)
        .limit(limit)
    )
    return [(_review(r), _listing(r)) for r in connection.execute(query)]


def decide_review(
    connection: Connection,
    review_id: int,
    state: str,
    actor: str,
    now: dt.datetime,
    link_id: str | None = None,
) -> bool:
    """Close a pending review; False when it was no longer pending."""
    result = connection.execute(
        update(link_reviews)
        .where(link_reviews.c.review_id == review_id, link_reviews.c.state == "pending")
        .values(state=state, decided_by=actor, decided_at=now, link_id=link_id)
    )
    return result.rowcount == 1


def close_other_reviews(
    connection: Connection, listing_id: str, review_id: int, actor: str, now: dt.datetime
) -> list[str]:
    """Reject the listing's other pending candidates (it has its link now); returns their
    people."""
    others = (
        link_reviews.c.listing_id == listing_id,
        link_reviews.c.review_id != review_id,
        link_reviews.c.state == "pending",
    )
    people_ids = list(connection.execute(select(link_reviews.c.person_id).where(*others)).scalars())
    if people_ids:
        connection.execute(
            update(link_reviews)
            .where(*others)
            .values(state="rejected", decided_by=actor, decided_at=now)
        )
    return people_ids


def counted_links(
    connection: Connection, statuses: Sequence[str], person_id: str | None = None
) -> pa.Table:
    """Live links to listings in `statuses` (of one person, or all) as Arrow columns:
    person_id, link_id, listing_id, case_number, court, amount, currency, judgment_date."""
    import pyarrow as pa

    query = (
        select(
            identity_links.c.person_id,
            identity_links.c.link_id,
            court_listings.c.listing_id,
            court_listings.c.case_number,
            court_listings.c.court,
            court_listings.c.amount,
            court_listings.c.currency,
            court_listings.c.judgment_date,
        )
        .join(court_listings, court_listings.c.listing_id == identity_links.c.listing_id)
        .where(identity_links.c.undone_at.is_(None), court_listings.c.status.in_(list(statuses)))
    )
    if person_id is not None:
        query = query.where(identity_links.c.person_id == person_id)
    rows = connection.execute(query).all()
    names = ("person_id", "link_id", "listing_id", "case_number", "court")
    columns = [list(values) for values in zip(*rows, strict=True)] or [[] for _ in range(8)]
    return pa.table(
        {
            **{name: pa.array(columns[i], pa.string()) for i, name in enumerate(names)},
            "amount": pa.array(columns[5], pa.decimal128(18, 2)),
            "currency": pa.array(columns[6], pa.string()),
            "judgment_date": pa.array(columns[7], pa.date32()),
        }
    )
