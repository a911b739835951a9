"""`POST /v1/restrictions/check`: does a court listing restrict this person for this purpose?

A legal-basis check, not a use of the score: the answer says whether a restriction applies
and, when it does, cites each restricting listing (case number, court, judgment date, amount,
status) and the legal basis the jurisdiction profile gives for the purpose. It never holds the
score, and asks no consent: the court's order is the basis. A listing restricts while it is
`entered` or `settled-pending` (a matched payment restricts until the court lifts it) and
linked live to the person. Under a profile that lists no restriction for the purpose (`us`,
`eu`) the answer is no, with a note. Every check is written to the person's access log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, Engine

from kaimen.domain import national_id as resident_id
from kaimen.domain.court_list import ENROLLED_ID_KIND, RESTRICTIVE
from kaimen.domain.disputes import FINAL_ITEM_STATES, ItemKind
from kaimen.domain.errors import NotFound, Rejected
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import RESTRICTION_PURPOSES, Profile
from kaimen.store import access_log, audit, court_list, disputes, people
from kaimen.store.identity_vault import IdentityVault

SCOPE = "restrictions"
ACCESS_PURPOSE = "restrictions_check"
WHAT = "restriction"
UNKNOWN = "no such person"


class PersonUnknown(NotFound):
    """Nobody enrolled (and active) under that person id or ID number."""

    public_detail = UNKNOWN


class CheckRejected(Rejected):
    """A check asked wrongly (unknown purpose, not exactly one way to name the person)."""


@dataclass(frozen=True)
class RestrictingListing:
    case_number: str
    court: str
    judgment_date: dt.date
    amount: Decimal
    currency: str
    status: str
    legal_basis: str


@dataclass(frozen=True)
class RestrictionAnswer:
    person_id: str
    purpose: str
    restricted: bool
    listings: tuple[RestrictingListing, ...]
    profile: str
    note: str | None


def _person(
    store: Connection,
    vault: IdentityVault,
    person_id: str | None,
    national_id: str | None,
    today: dt.date,
) -> str:
    if national_id is not None:
        number = resident_id.parse(national_id, today).value
        digest = vault.lookup_hash(ENROLLED_ID_KIND, number)
        found = people.owners_of(store, ENROLLED_ID_KIND, [digest]).get(digest)
        if found is None:
            raise PersonUnknown("no person enrolled with that ID number")
        person_id = found
    assert person_id is not None
    if people.status_of(store, person_id) != "active":
        raise PersonUnknown(f"no active person {person_id}")
    return person_id


def _disclosed(answer: RestrictionAnswer) -> JsonObject:
    return {
        "purpose": answer.purpose,
        "restricted": answer.restricted,
        "profile": answer.profile,
        "note": answer.note,
        "listings": [
            {
                "case_number": x.case_number,
                "court": x.court,
                "judgment_date": x.judgment_date.isoformat(),
                "amount": str(x.amount),
                "currency": x.currency,
                "status": x.status,
                "legal_basis": x.legal_basis,
            }
            for x in answer.listings
        ],
    }


def check_restriction(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    actor: str,
    purpose: str,
    person_id: str | None = None,
    national_id: str | None = None,
    now: dt.datetime | None = None,
) -> RestrictionAnswer:
    """Whether a live court listing restricts the person (named by exactly one of
    `person_id` and `national_id`) for `purpose` under `profile`; see the module docstring.
    `PersonUnknown` for someone not enrolled (nothing is logged: there is nobody to log for)."""
    stamp = now or dt.datetime.now(dt.UTC)
    if purpose not in RESTRICTION_PURPOSES:
        raise CheckRejected(f"purpose must be one of {', '.join(RESTRICTION_PURPOSES)}")
    if (person_id is None) == (national_id is None):
        raise CheckRejected("name the person by exactly one of person_id and national_id")
    basis = profile.restrictions.get(purpose)  # type: ignore[call-overload]

    def work(store: Connection) -> RestrictionAnswer:
        subject = _person(store, vault, person_id, national_id, stamp.date())
        # A listing or link a dispute ended (suppressed, corrected) restricts nothing; one
        # disputed and pending still does: the restriction is the court's, not a score.
        ended = {
            (s.item.kind, s.item.ref)
            for s in disputes.states_of_person(store, subject)
            if s.state in FINAL_ITEM_STATES
        }
        restricting = tuple(
            RestrictingListing(
                listing.case_number,
                listing.court,
                listing.judgment_date,
                listing.amount,
                listing.currency,
                listing.status,
                basis,
            )
            for link, listing in court_list.linked_listings(store, subject)
            if basis is not None
            and listing.status in RESTRICTIVE
            and (ItemKind.COURT_LISTING, listing.listing_id) not in ended
            and (ItemKind.IDENTITY_LINK, link.link_id) not in ended
        )
        note = (
            None
            if basis is not None
            else f"the {profile.name} profile lists no restriction for {purpose}: "
            "a court listing restricts nothing here"
        )
        answer = RestrictionAnswer(
            subject, purpose, bool(restricting), restricting, profile.name, note
        )
        access_log.record(store, subject, actor, ACCESS_PURPOSE, WHAT, _disclosed(answer), stamp)
        audit.append(
            store,
            actor,
            "restriction.checked",
            subject=subject,
            details={
                "purpose": purpose,
                "restricted": answer.restricted,
                "listings": len(restricting),
                "profile": profile.name,
            },
            now=stamp,
        )
        return answer

    return audit.audited_transaction(engine, work)
