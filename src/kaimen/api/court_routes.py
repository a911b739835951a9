"""The court list (admin): import entries, read a listing, the review queue of candidate
links and un-merging; and `POST /v1/restrictions/check` (partner key, scope `restrictions`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from kaimen.api import problems
from kaimen.api.deps import Admin, RestrictionsPartner, Store
from kaimen.api.json_bodies import api_router
from kaimen.api.partner_routes import IDENTIFIER, MAX_ID
from kaimen.domain.profiles import RestrictionPurpose
from kaimen.dueprocess import court_listings, identity_links, restrictions
from kaimen.dueprocess.court_import import import_entries
from kaimen.dueprocess.rescoring import Rescoring

router = api_router()
MAX_ENTRIES = 10_000
ListingPath = Annotated[str, Path(pattern=r"^L[0-9A-F]{16}$")]
LinkPath = Annotated[str, Path(pattern=r"^K[0-9A-F]{16}$")]
ReviewPath = Annotated[int, Path(ge=1, le=MAX_ID)]


class CourtEntryIn(BaseModel):
    """One row of a court list, as in a file. Fields are judged as a file's are, and a bad
    one is named by the entry's position (1 for the first); unknown fields are named too."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)
    name: str | None = None
    id_number: str | None = Field(
        default=None, description="18 characters; `*` for each digit the court masked"
    )
    case_number: str | None = None
    court: str | None = None
    amount: str | None = Field(default=None, description='amount owed, e.g. "1200.50"')
    currency: str | None = Field(default=None, description="ISO 4217; CNY when left out")
    judgment_date: str | None = Field(default=None, description="YYYY-MM-DD")
    status: str | None = Field(
        default=None, description="entered (when left out), satisfied or overturned"
    )


class CourtListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[CourtEntryIn] = Field(min_length=1, max_length=MAX_ENTRIES)


class ImportOut(BaseModel):
    file_sha256: str
    rows: int
    new_listings: int
    status_changes: int
    unchanged: int
    linked: int = Field(description="listings linked by their full ID number")
    auto_linked: int = Field(
        description="listings without a full ID number linked by probabilistic matching"
    )
    queued_for_review: int = Field(description="candidate links queued for an admin's review")
    replayed: bool = Field(description="these exact entries were imported before: no change")
    people_changed: list[str] = Field(description="people whose standing changed")


class StatusChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    changed_at: dt.datetime
    old_status: str | None
    new_status: str
    source: str
    actor: str


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    link_id: str
    listing_id: str
    person_id: str
    method: str
    match_probability: float
    approved_by: str
    linked_at: dt.datetime
    undone_at: dt.datetime | None
    undone_by: str | None
    undo_reason: str | None


class ListingOut(BaseModel):
    listing_id: str
    name: str = Field(description="as the court published it (shown to the admin only)")
    id_number: str = Field(description="as the court published it, masked digits as `*`")
    id_form: str
    court: str
    case_number: str
    amount: str
    currency: str
    judgment_date: dt.date
    status: str
    birth_date: dt.date | None
    history: list[StatusChangeOut]
    links: list[LinkOut]


class ReviewOut(BaseModel):
    review_id: int
    listing_id: str
    person_id: str
    match_probability: float
    state: str
    name: str = Field(description="the listing's name, as the court published it")
    id_number: str = Field(description="the listing's ID number, masked digits as `*`")
    listing_birth_date: dt.date | None
    person_birth_date: dt.date | None
    court: str
    case_number: str


class DecidedOut(BaseModel):
    review_id: int
    state: str
    link: LinkOut | None
    people_changed: list[str]


class UnlinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=identity_links.MAX_REASON)


class UnlinkOut(BaseModel):
    link: LinkOut
    people_changed: list[str]


class RestrictionCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: RestrictionPurpose
    person_id: str | None = Field(default=None, max_length=64, pattern=IDENTIFIER)
    national_id: str | None = Field(default=None, max_length=40)


class RestrictingListingOut(BaseModel):
    case_number: str
    court: str
    judgment_date: dt.date
    amount: str
    currency: str
    status: str
    legal_basis: str


class RestrictionOut(BaseModel):
    restricted: bool
    purpose: str
    listings: list[RestrictingListingOut] = Field(description="the listings that restrict")
    profile: str = Field(description="the jurisdiction profile that answered")
    note: str | None = None


@router.post(
    "/v1/admin/court-list",
    response_model=ImportOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 422),
    summary="Import court list entries (admin): all or nothing, the same entries twice a no-op",
)
def post_court_list(body: CourtListIn, ws: Store, admin: Admin) -> ImportOut:
    """Each new (court, case number) becomes a listing; one already held may change status
    (entered to satisfied or overturned), which its history records. A bad entry refuses
    them all, named by position and field. Listings whose full ID number is an enrolled
    person's are linked to them at once; the others are matched by name, birth date and the
    visible digits of their number: linked when sure, else queued for review."""
    entries = [entry.model_dump(exclude_unset=True) for entry in body.entries]
    report = import_entries(
        ws.engine, ws.vault, entries, admin.actor, rescoring=Rescoring(ws.lake_root, ws.profile())
    )
    return ImportOut(
        file_sha256=report.file_sha256,
        rows=report.rows,
        new_listings=report.new_listings,
        status_changes=report.status_changes,
        unchanged=report.unchanged,
        linked=report.linked,
        auto_linked=report.auto_linked,
        queued_for_review=report.queued_for_review,
        replayed=report.replayed_file,
        people_changed=list(report.people_changed),
    )


@router.get(
    "/v1/admin/court-list/{listing_id}",
    response_model=ListingOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404),
    summary="One listing in full, with its history and links (admin)",
)
def get_listing(listing_id: ListingPath, ws: Store, admin: Admin) -> ListingOut:
    view = court_listings.listing_for_admin(ws.engine, ws.vault, listing_id, admin.actor)
    listing = view.listing
    return ListingOut(
        listing_id=listing.listing_id,
        name=view.name,
        id_number=view.id_number,
        id_form=listing.id_form,
        court=listing.court,
        case_number=listing.case_number,
        amount=str(listing.amount),
        currency=listing.currency,
        judgment_date=listing.judgment_date,
        status=listing.status,
        birth_date=listing.birth_date,
        history=[StatusChangeOut.model_validate(h) for h in view.history],
        links=[LinkOut.model_validate(k) for k in view.links],
    )


@router.get(
    "/v1/admin/reviews",
    response_model=list[ReviewOut],
    tags=["court list"],
    responses=problems.documented(401, 403, 422),
    summary="Pending candidate links, most probable first (admin)",
)
def get_reviews(
    ws: Store, admin: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ReviewOut]:
    """Each candidate shows the listing as published beside the person's birth date; the
    person's access log records that the admin saw it."""
    pending = identity_links.pending_reviews(ws.engine, ws.vault, admin.actor, limit)
    return [
        ReviewOut(
            review_id=p.review.review_id,
            listing_id=p.listing.listing_id,
            person_id=p.review.person_id,
            match_probability=p.review.match_probability,
            state=p.review.state,
            name=p.name,
            id_number=p.id_number,
            listing_birth_date=p.listing.birth_date,
            person_birth_date=p.person_birth_date,
            court=p.listing.court,
            case_number=p.listing.case_number,
        )
        for p in pending
    ]


def _decided(change: identity_links.LinkChange) -> DecidedOut:
    assert change.review is not None
    return DecidedOut(
        review_id=change.review.review_id,
        state=change.review.state,
        link=None if change.link is None else LinkOut.model_validate(change.link),
        people_changed=list(change.people_changed),
    )


@router.post(
    "/v1/admin/reviews/{review_id}/approve",
    response_model=DecidedOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404, 409),
    summary="Approve a candidate: link the listing to the person (admin)",
)
def approve(review_id: ReviewPath, ws: Store, admin: Admin) -> DecidedOut:
    rescoring = Rescoring(ws.lake_root, ws.profile())
    return _decided(
        identity_links.approve_review(ws.engine, review_id, admin.actor, rescoring=rescoring)
    )


@router.post(
    "/v1/admin/reviews/{review_id}/reject",
    response_model=DecidedOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404, 409),
    summary="Reject a candidate: the pair is never proposed again (admin)",
)
def reject(review_id: ReviewPath, ws: Store, admin: Admin) -> DecidedOut:
    return _decided(identity_links.reject_review(ws.engine, review_id, admin.actor))


@router.post(
    "/v1/admin/links/{link_id}/undo",
    response_model=UnlinkOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404, 409, 422),
    summary="Un-merge: undo an identity link, with a reason (admin)",
)
def undo_link(link_id: LinkPath, body: UnlinkIn, ws: Store, admin: Admin) -> UnlinkOut:
    """The person is no longer linked to the listing, and no automatic step links it again."""
    change = identity_links.unlink(
        ws.engine,
        link_id,
        admin.actor,
        body.reason,
        rescoring=Rescoring(ws.lake_root, ws.profile()),
    )
    assert change.link is not None
    return UnlinkOut(
        link=LinkOut.model_validate(change.link), people_changed=list(change.people_changed)
    )


@router.post(
    "/v1/restrictions/check",
    response_model=RestrictionOut,
    tags=["restrictions"],
    responses=problems.documented(401, 403, 404, 422, s404="no such person"),
    summary="Does a court listing restrict this person for this purpose? "
    "(partner, scope restrictions)",
)
def post_restriction_check(
    body: RestrictionCheckIn, ws: Store, caller: RestrictionsPartner
) -> RestrictionOut:
    """Name the person by exactly one of `person_id` and `national_id`. A legal-basis
    check, not a use of the score: **no consent is required**, the court's order is the
    basis. The answer is restricted when a listing linked to the person is `entered` (or
    `settled-pending`, restrictive until lifted) and the jurisdiction profile lists the
    purpose; it cites each listing's case number, court, judgment date, amount and status
    with the legal basis. It never holds the score. Under a profile without restrictions
    (`us`, `eu`) the answer is no, with a note. Every check is written to the person's
    access log."""
    answer = restrictions.check_restriction(
        ws.engine,
        ws.vault,
        ws.profile(),
        caller.actor,
        body.purpose,
        person_id=body.person_id,
        national_id=body.national_id,
    )
    return RestrictionOut(
        restricted=answer.restricted,
        purpose=answer.purpose,
        listings=[
            RestrictingListingOut(
                case_number=x.case_number,
                court=x.court,
                judgment_date=x.judgment_date,
                amount=str(x.amount),
                currency=x.currency,
                status=x.status,
                legal_basis=x.legal_basis,
            )
            for x in answer.listings
        ],
        profile=answer.profile,
        note=answer.note,
    )
