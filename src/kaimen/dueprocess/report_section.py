"""The `disputes` section of a report: the person's open disputes (where the profile allows
the section `disputes`) and the statements of disputes the furnisher rejected, which travel
with the item (where it allows `statements`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from kaimen.domain.disputes import DisputeState
from kaimen.domain.profiles import Profile
from kaimen.store import disputes as dispute_rows


@dataclass(frozen=True)
class OpenDispute:
    item_kind: str
    item_ref: str
    # ISO 8601 text: the section is written as it was shown to the access log.
    filed_at: str
    answer_due_at: str


@dataclass(frozen=True)
class PersonStatement:
    """The person's own words about an item the furnisher verified."""

    item_kind: str
    item_ref: str
    statement: str


@dataclass(frozen=True)
class DisputesSection:
    open: tuple[OpenDispute, ...]
    statements: tuple[PersonStatement, ...]


def disputes_section(store: Connection, person_id: str, profile: Profile) -> DisputesSection | None:
    """The section, or None when the profile allows neither part of it."""
    show_open = profile.allows_section("disputes")
    show_statements = profile.allows_section("statements")
    if not (show_open or show_statements):
        return None
    items = dispute_rows.disputed_items(store, person_id)
    opened = tuple(
        OpenDispute(
            i.item.kind.value, i.item.ref, i.filed_at.isoformat(), i.answer_due_at.isoformat()
        )
        for i in items
        if show_open and i.dispute_state is DisputeState.OPEN
    )
    statements = tuple(
        PersonStatement(i.item.kind.value, i.item.ref, i.statement)
        for i in items
        if show_statements and i.dispute_state is DisputeState.VERIFIED and i.state is None
    )
    return DisputesSection(opened, statements)
