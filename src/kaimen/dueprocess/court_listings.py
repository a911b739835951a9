"""One court listing as the admin sees it: the name and ID number in clear (as the court
published them), its status history and its identity links, live and undone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.court_list import ID_VALUE_KIND, NAME_KIND
from kaimen.domain.errors import NotFound
from kaimen.store import access_log, audit, court_list
from kaimen.store.court_list import Link, Listing, StatusChange
from kaimen.store.identity_vault import IdentityVault


class UnknownListing(NotFound):
    """No court listing with that id."""


@dataclass(frozen=True)
class ListingView:
    listing: Listing
    name: str
    id_number: str
    history: tuple[StatusChange, ...]
    links: tuple[Link, ...]


def listing_for_admin(
    engine: Engine,
    vault: IdentityVault,
    listing_id: str,
    actor: str,
    now: dt.datetime | None = None,
) -> ListingView:
    """The listing in full; the person it is linked to sees in their access log that the
    admin looked."""
    stamp = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> ListingView:
        found = court_list.listing(store, listing_id)
        if found is None:
            raise UnknownListing(f"no court listing {listing_id}")
        links = tuple(court_list.links_of_listing(store, listing_id))
        access_log.record_many(
            store,
            [
                (
                    link.person_id,
                    actor,
                    "court list: the admin read a listing linked to you",
                    "court_listing",
                    {
                        "listing_id": listing_id,
                        "case_number": found.case_number,
                        "court": found.court,
                        "link_id": link.link_id,
                    },
                )
                for link in links
                if link.live
            ],
            stamp,
        )
        audit.append(store, actor, "court_list.read", details={"listing_id": listing_id}, now=stamp)
        return ListingView(
            found,
            vault.decrypt(NAME_KIND, found.name_encrypted),
            vault.decrypt(ID_VALUE_KIND, found.id_encrypted),
            tuple(court_list.history(store, listing_id)),
            links,
        )

    return audit.audited_transaction(engine, work)
