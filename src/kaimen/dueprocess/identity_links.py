"""Identity links: which enrolled person a court listing is about, how that was decided, and
undoing it.

Exact first: a listing whose full ID number hashes to an enrolled person's is linked with
method `exact_id`, probability 1 and `system` as approver. Listings without a full valid
number go to probabilistic matching (`listings_to_resolve` hands them over, in memory only);
its verdicts come back through `apply_matches`: links above the high threshold, candidates
in the middle band to the review queue, where an admin approves or rejects them. Any live
link can be undone (un-merge) with a reason; the person is then no longer linked, and no
automatic step links that listing again.

Every step writes an audit row (ids and counts, never a name or number) and, for each
person it touches, a row in their access log. Re-scoring is the caller's: each result names
`people_changed`, the people whose standing changed, for the caller to re-score at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import pyarrow as pa
from sqlalchemy import Connection, Engine

from kaimen.domain.court_list import ID_VALUE_KIND, NAME_KIND, SYSTEM
from kaimen.domain.errors import Conflict, NotFound, Rejected
from kaimen.domain.json_values import JsonObject
from kaimen.domain.text import readable_problem
from kaimen.dueprocess.court_ids import new_ids
from kaimen.dueprocess.rescoring import Rescoring, rescore_touched
from kaimen.input_files import text_array
from kaimen.store import access_log, alerts, audit, court_list, person_data
from kaimen.store.court_list import Link, Listing, Review
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.score_revisions import Revision

LINK_WHAT = "identity_link"
LISTING_WHAT = "court_listing"
MAX_REASON = 500


class UnknownLink(NotFound):
    """No identity link with that id."""


class UnknownReview(NotFound):
    """No review candidate with that id."""


class LinkNotLive(Conflict):
    """The link was undone already."""


class ReviewClosed(Conflict):
    """The candidate was approved or rejected already."""


class ListingAlreadyLinked(Conflict):
    """The listing has a live link already: undo it first."""


class UnlinkRejected(Rejected):
    """An un-merge needs a reason a person can read."""


@dataclass(frozen=True)
class Candidate:
    """A proposed link from probabilistic matching."""

    listing_id: str
    person_id: str
    match_probability: float


@dataclass(frozen=True)
class LinkChange:
    """The link made or undone (None for a rejection), the review decided (when there was
    one), and the people whose standing changed: the caller re-scores them."""

    link: Link | None
    review: Review | None
    people_changed: tuple[str, ...]
    # The re-scores of people_changed, published at once.
    revisions: tuple[Revision, ...] = ()


@dataclass(frozen=True)
class MatchReport:
    linked: int
    queued: int
    people_changed: tuple[str, ...]


@dataclass(frozen=True)
class PendingReview:
    """A candidate as the admin sees it: the listing's name and ID number as the court
    published them (masked digits stay masked) beside the enrolled person's birth date."""

    review: Review
    listing: Listing
    name: str
    id_number: str
    person_birth_date: dt.date | None


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _probability(value: float) -> Decimal:
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"a match probability lies between 0 and 1, not {value}")
    return Decimal(f"{value:.6f}")


def _shown(listing: Listing, link: Link) -> JsonObject:
    """What a person's access log says about a link to a listing."""
    return {
        "link_id": link.link_id,
        "listing_id": listing.listing_id,
        "case_number": listing.case_number,
        "court": listing.court,
        "status": listing.status,
        "method": link.method,
        "match_probability": link.match_probability,
    }


def _write_links(
    store: Connection,
    pairs: Sequence[tuple[str, str, float]],
    method: str,
    approver: str,
    actor: str,
    now: dt.datetime,
) -> list[Link]:
    """Insert links for (listing id, person id, probability) and log each in its person's
    access log; `ListingAlreadyLinked` when a listing has a live link already."""
    links = [
        Link(link_id, listing_id, person_id, method, float(_probability(p)), approver, now)
        for link_id, (listing_id, person_id, p) in zip(new_ids("K", len(pairs)), pairs, strict=True)
    ]
    try:
        court_list.insert_links(
            store,
            [
                {
                    "link_id": k.link_id,
                    "listing_id": k.listing_id,
                    "person_id": k.person_id,
                    "method": k.method,
                    "match_probability": _probability(k.match_probability),
                    "approved_by": k.approved_by,
                    "linked_at": k.linked_at,
                }
                for k in links
            ],
        )
    except court_list.LinkTaken:
        raise ListingAlreadyLinked("a listing named already has a live link") from None
    listings = court_list.listings_by_id(store, [k.listing_id for k in links])
    alerts.raise_many(
        store,
        [
            alerts.NewAlert(
                k.person_id,
                alerts.AlertKind.COURT_LIST_MATCH,
                k.link_id,
                {
                    "court": listings[k.listing_id].court,
                    "case_number": listings[k.listing_id].case_number,
                    "item": f"identity_link:{k.link_id}",
                },
            )
            for k in links
        ],
        now,
    )
    access_log.record_many(
        store,
        [
            (
                k.person_id,
                actor,
                f"court list: linked to a listing ({method})",
                LINK_WHAT,
                _shown(listings[k.listing_id], k),
            )
            for k in links
        ],
        now,
    )
    return links


def link_exact_in(store: Connection, actor: str, now: dt.datetime) -> list[str]:
    """Link, in the caller's transaction, every listing never linked whose full ID number is
    an active person's; returns the people linked. Writes its audit row when it links any."""
    matches = court_list.exact_matches(store)
    if not matches:
        return []
    links = _write_links(
        store, [(lid, pid, 1.0) for lid, pid in matches], "exact_id", SYSTEM, actor, now
    )
    audit.append(
        store,
        actor,
        "identity.linked",
        subject=links[0].person_id if len(links) == 1 else None,
        details={"method": "exact_id", "links": len(links)},
        now=now,
    )
    return sorted({link.person_id for link in links})


def link_exact_matches(
    engine: Engine,
    actor: str,
    now: dt.datetime | None = None,
    rescoring: Rescoring | None = None,
) -> MatchReport:
    """Link every listing an enrolled person's ID number matches exactly (for listings
    imported before their person enrolled), and re-score the people linked."""
    stamp = _now(now)

    def work(store: Connection) -> MatchReport:
        changed = link_exact_in(store, actor, stamp)
        return MatchReport(len(changed), 0, tuple(changed))

    report = audit.audited_transaction(engine, work)
    rescore_touched(
        engine,
        rescoring,
        report.people_changed,
        "identity_link",
        "exact_id",
        "a court judgment was linked to you by your ID number",
        actor,
        stamp,
    )
    return report


def record_listing_change(
    store: Connection,
    touched: Sequence[tuple[str, str, str]],
    actor: str,
    now: dt.datetime,
) -> list[str]:
    """Log, for each (listing id, old status, new status), the change in the access log of
    the person the listing is linked to; returns those people."""
    ids = [listing_id for listing_id, _, _ in touched]
    links = court_list.live_links_of_listings(store, ids)
    listings = court_list.listings_by_id(store, [i for i in ids if i in links])
    entries: list[tuple[str, str, str, str, JsonObject]] = [
        (
            links[listing_id].person_id,
            actor,
            "court list: a listing's status changed",
            LISTING_WHAT,
            _shown(listings[listing_id], links[listing_id]) | {"old_status": old, "status": new},
        )
        for listing_id, old, new in touched
        if listing_id in links
    ]
    access_log.record_many(store, entries, now)
    return sorted({entry[0] for entry in entries})


def apply_matches(
    engine: Engine,
    auto: Sequence[Candidate],
    review: Sequence[Candidate],
    actor: str,
    now: dt.datetime | None = None,
) -> MatchReport:
    """Probabilistic matching's verdicts: `auto` (above the high threshold) linked with
    method `probabilistic`, `review` (the middle band) queued for an admin. Listings that
    have any link (live or undone) are skipped: an un-merge is not undone by a rerun."""
    stamp = _now(now)

    def work(store: Connection) -> MatchReport:
        open_ids = {listing.listing_id for listing in court_list.unlinked_without_full_id(store)}
        linkable = [c for c in auto if c.listing_id in open_ids]
        links = _write_links(
            store,
            [(c.listing_id, c.person_id, c.match_probability) for c in linkable],
            "probabilistic",
            SYSTEM,
            actor,
            stamp,
        )
        queued = court_list.enqueue(
            store,
            [
                (c.listing_id, c.person_id, float(_probability(c.match_probability)))
                for c in review
                if c.listing_id in open_ids
            ],
            stamp,
        )
        audit.append(
            store,
            actor,
            "identity.matched",
            details={"method": "probabilistic", "links": len(links), "queued": queued},
            now=stamp,
        )
        return MatchReport(len(links), queued, tuple(sorted({k.person_id for k in links})))

    return audit.audited_transaction(engine, work)


def listings_to_resolve(engine: Engine, vault: IdentityVault) -> pa.Table:
    """Listings for probabilistic matching: never linked, ID number masked or unverifiable.
    Columns listing_id, name, id_pattern (as published, `*` for masked digits) and
    birth_date (null when the number does not show it). Clear values: keep this table in
    memory only, and let it go when matching is done."""
    with engine.connect() as store:
        listings = court_list.unlinked_without_full_id(store)
    return pa.table(
        {
            "listing_id": text_array([x.listing_id for x in listings]),
            "name": text_array([vault.decrypt(NAME_KIND, x.name_encrypted) for x in listings]),
            "id_pattern": text_array(
                [vault.decrypt(ID_VALUE_KIND, x.id_encrypted) for x in listings]
            ),
            "birth_date": pa.array([x.birth_date for x in listings], pa.date32()),
        }
    )


def pending_reviews(
    engine: Engine,
    vault: IdentityVault,
    actor: str,
    limit: int = 100,
    now: dt.datetime | None = None,
) -> list[PendingReview]:
    """Pending candidates, most probable first, for the admin. Showing a candidate shows the
    admin the person's birth date beside the listing: each shown is in their access log."""
    stamp = _now(now)

    def work(store: Connection) -> list[PendingReview]:
        pending = court_list.pending_reviews(store, limit)
        births = {
            person_id: _birth_date(store, person_id)
            for person_id in {review.person_id for review, _ in pending}
        }
        access_log.record_many(
            store,
            [
                (
                    review.person_id,
                    actor,
                    "court list: review of a candidate link",
                    LINK_WHAT,
                    {
                        "review_id": review.review_id,
                        "listing_id": listing.listing_id,
                        "case_number": listing.case_number,
                        "court": listing.court,
                        "birth_date": str(births[review.person_id]),
                    },
                )
                for review, listing in pending
            ],
            stamp,
        )
        return [
            PendingReview(
                review,
                listing,
                vault.decrypt(NAME_KIND, listing.name_encrypted),
                vault.decrypt(ID_VALUE_KIND, listing.id_encrypted),
                births[review.person_id],
            )
            for review, listing in pending
        ]

    with engine.begin() as store:
        return work(store)


def _birth_date(store: Connection, person_id: str) -> dt.date | None:
    record = person_data.person(store, person_id)
    return None if record is None else record.birth_date


def _open_review(store: Connection, review_id: int) -> Review:
    found = court_list.review(store, review_id, lock=True)
    if found is None:
        raise UnknownReview(f"no review candidate {review_id}")
    if found.state != "pending":
        raise ReviewClosed(f"review {review_id} was {found.state} already")
    return found


def approve_review(
    engine: Engine,
    review_id: int,
    actor: str,
    now: dt.datetime | None = None,
    rescoring: Rescoring | None = None,
) -> LinkChange:
    """Link the candidate's listing to its person (method `review`, approved by `actor`);
    the listing's other pending candidates are rejected with it."""
    stamp = _now(now)

    def work(store: Connection) -> LinkChange:
        candidate = _open_review(store, review_id)
        if court_list.live_link_of_listing(store, candidate.listing_id) is not None:
            raise ListingAlreadyLinked(
                f"listing {candidate.listing_id} is linked already; undo that link first"
            )
        (link,) = _write_links(
            store,
            [(candidate.listing_id, candidate.person_id, candidate.match_probability)],
            "review",
            actor,
            actor,
            stamp,
        )
        court_list.decide_review(store, review_id, "approved", actor, stamp, link.link_id)
        others = court_list.close_other_reviews(
            store, candidate.listing_id, review_id, actor, stamp
        )
        audit.append(
            store,
            actor,
            "identity.link_approved",
            subject=link.person_id,
            details={
                "review_id": review_id,
                "link_id": link.link_id,
                "listing_id": link.listing_id,
                "other_candidates_rejected": len(others),
            },
            now=stamp,
        )
        return LinkChange(link, court_list.review(store, review_id), (link.person_id,))

    change = audit.audited_transaction(engine, work)
    note = "a court judgment was linked to you after review"
    return _rescored(engine, rescoring, change, note, actor, stamp)


def _rescored(
    engine: Engine,
    rescoring: Rescoring | None,
    change: LinkChange,
    note: str,
    actor: str,
    now: dt.datetime,
) -> LinkChange:
    ref = change.link.link_id if change.link is not None else ""
    revisions = rescore_touched(
        engine, rescoring, change.people_changed, "identity_link", ref, note, actor, now
    )
    return replace(change, revisions=revisions)


def reject_review(
    engine: Engine, review_id: int, actor: str, now: dt.datetime | None = None
) -> LinkChange:
    """Close a candidate without linking; the pair is never proposed again."""
    stamp = _now(now)

    def work(store: Connection) -> LinkChange:
        candidate = _open_review(store, review_id)
        court_list.decide_review(store, review_id, "rejected", actor, stamp)
        audit.append(
            store,
            actor,
            "identity.link_rejected",
            subject=candidate.person_id,
            details={"review_id": review_id, "listing_id": candidate.listing_id},
            now=stamp,
        )
        return LinkChange(None, court_list.review(store, review_id), ())

    return audit.audited_transaction(engine, work)


def unlink(
    engine: Engine,
    link_id: str,
    actor: str,
    reason: str,
    now: dt.datetime | None = None,
    rescoring: Rescoring | None = None,
) -> LinkChange:
    """Undo a live link (un-merge): the person is no longer linked to the listing, and no
    automatic step links it again. The reason stays on the link (not in the audit log: it
    is free text)."""
    stamp = _now(now)
    reason = reason.strip()
    problem = readable_problem(reason) if reason else "is empty"
    if problem:
        raise UnlinkRejected(f"the reason {problem}")
    if len(reason) > MAX_REASON:
        raise UnlinkRejected(f"the reason is longer than {MAX_REASON} characters")

    def work(store: Connection) -> LinkChange:
        found = court_list.link(store, link_id, lock=True)
        if found is None:
            raise UnknownLink(f"no identity link {link_id}")
        if not court_list.undo_link(store, link_id, actor, reason, stamp):
            raise LinkNotLive(f"link {link_id} was undone already")
        undone = court_list.link(store, link_id)
        listing = court_list.listing(store, found.listing_id)
        assert undone is not None and listing is not None
        access_log.record_many(
            store,
            [
                (
                    found.person_id,
                    actor,
                    "court list: link to a listing undone",
                    LINK_WHAT,
                    _shown(listing, undone) | {"undone": True, "reason": reason},
                )
            ],
            stamp,
        )
        audit.append(
            store,
            actor,
            "identity.unlinked",
            subject=found.person_id,
            details={"link_id": link_id, "listing_id": found.listing_id},
            now=stamp,
        )
        return LinkChange(undone, None, (found.person_id,))

    change = audit.audited_transaction(engine, work)
    note = f"a court judgment's link to you was undone: {reason}"
    return _rescored(engine, rescoring, change, note, actor, stamp)
