"""Disputes of negative items: what can be disputed, the states a dispute and an item go
through, the furnisher's answers, and the bounds on what a person may attach.

An item is named by its kind and a reference that is unique within the kind: an event by
`source/event_id` (a source never holds a `/`), a court listing or an identity link by its
row id in the tables that hold them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from kaimen.domain.errors import Conflict, NotFound, Rejected


class ItemKind(StrEnum):
    """What a person may dispute."""

    EVENT = "event"  # an event in the lake; a partner's incident is an event it furnished
    COURT_LISTING = "court_listing"
    IDENTITY_LINK = "identity_link"
    POINTS_ENTRY = "points_entry"  # a points ledger entry (ref: its entry id)


class DisputeState(StrEnum):
    OPEN = "open"
    VERIFIED = "verified"  # rejected: the item stands, the statement travels with it
    CORRECTED = "corrected"
    DELETED = "deleted"
    UNVERIFIABLE = "unverifiable"
    LAPSED = "lapsed"  # no answer by the deadline: the item is suppressed


class Answer(StrEnum):
    """What a furnisher may answer."""

    VERIFIED = "verified"
    CORRECTED = "corrected"
    DELETED = "deleted"
    UNVERIFIABLE = "unverifiable"


class ItemState(StrEnum):
    """An item's standing while or after it is disputed (no row: it counts as it is)."""

    DISPUTED = "disputed"  # pending: excluded unless the profile counts disputed items
    SUPPRESSED = "suppressed"  # deleted, unverifiable or unanswered: never counts again
    CORRECTED = "corrected"  # superseded by its correction: the old item never counts again


# Once an item is suppressed or corrected nothing a person does can bring it back: a repeat
# dispute never lowers a score.
FINAL_ITEM_STATES = frozenset({ItemState.SUPPRESSED, ItemState.CORRECTED})
ANSWER_STATES: dict[Answer, DisputeState] = {
    Answer.VERIFIED: DisputeState.VERIFIED,
    Answer.CORRECTED: DisputeState.CORRECTED,
    Answer.DELETED: DisputeState.DELETED,
    Answer.UNVERIFIABLE: DisputeState.UNVERIFIABLE,
}
# The item's state after each answer; a verified item has none (it counts as before).
ITEM_STATE_AFTER: dict[Answer, ItemState | None] = {
    Answer.VERIFIED: None,
    Answer.CORRECTED: ItemState.CORRECTED,
    Answer.DELETED: ItemState.SUPPRESSED,
    Answer.UNVERIFIABLE: ItemState.SUPPRESSED,
}

# The furnisher when kaimen itself holds the item (events sent by the operator) and when the
# court feed does; any other furnisher is a partner id.
KAIMEN = "kaimen"
COURT = "court"

# Evidence: content types recognised from the bytes, never from the name alone.
EVIDENCE_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")
MAX_EVIDENCE_FILES = 5
MAX_EVIDENCE_BYTES = 2 * 1024 * 1024
MAX_EVIDENCE_NAME = 200
MAX_STATEMENT_CHARACTERS = 10_000


@dataclass(frozen=True)
class ItemRef:
    kind: ItemKind
    ref: str

    @classmethod
    def event(cls, source: str, event_id: str) -> ItemRef:
        return cls(ItemKind.EVENT, f"{source}/{event_id}")

    @classmethod
    def points_entry(cls, entry_id: str) -> ItemRef:
        return cls(ItemKind.POINTS_ENTRY, entry_id)

    def event_key(self) -> tuple[str, str]:
        """(source, event_id) of an event item."""
        source, _, event_id = self.ref.partition("/")
        if self.kind is not ItemKind.EVENT or not source or not event_id:
            raise DisputeRejected(f"{self.ref!r} does not name an event as source/event_id")
        return source, event_id

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.ref}"


@dataclass(frozen=True)
class Evidence:
    """An evidence file as it arrives: its name and bytes (type and size are checked)."""

    name: str
    content: bytes


@dataclass(frozen=True)
class StoredEvidence:
    sha256: str
    size: int
    media_type: str
    original_name: str


@dataclass(frozen=True)
class Correction:
    """What a furnisher answers `corrected` with: new values for the item's fields (for an
    event: payload fields, becoming a new event that supersedes the old one) or, where the
    item has no fields to change, a described correction."""

    values: dict[str, str]
    note: str | None = None


class DisputeRejected(Rejected):
    """A dispute or an answer that cannot be taken as given; nothing was stored."""


class ItemNotFound(NotFound):
    """No such item of this person's (the same answer for someone else's)."""


class DisputeNotFound(NotFound):
    """No such dispute (or not one this caller may see or answer)."""


class DisputeClosed(Conflict):
    """The dispute was answered (or lapsed) before."""


@dataclass(frozen=True)
class Deadlines:
    answer_due_at: dt.datetime
    furnisher_notice_due_at: dt.datetime


# What makes an event negative: the statuses and outcomes that lower a score.
NEGATIVE_EVENT_VALUES: dict[str, tuple[str, frozenset[str]]] = {
    "loan_repayment": ("status", frozenset({"late", "defaulted"})),
    "bill_repayment": ("status", frozenset({"late", "defaulted"})),
    "rent_payment": ("status", frozenset({"late", "defaulted"})),
    "utility_payment": ("status", frozenset({"late", "defaulted"})),
    "rental": ("outcome", frozenset({"late", "damaged", "unpaid"})),
    "fine": ("status", frozenset({"issued"})),
    "court_judgment": ("status", frozenset({"entered"})),
}


def negative_event_sql() -> str:
    """The events that can lower a score (`is_negative_event`), as one SQL filter over the
    lake's columns (`kind`, `status`, `outcome`)."""

    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    return " OR ".join(
        f"(kind = {quoted(kind)} AND {field} IN ({', '.join(quoted(v) for v in sorted(values))}))"
        for kind, (field, values) in NEGATIVE_EVENT_VALUES.items()
    )


def is_negative_event(fields: dict[str, str]) -> bool:
    """Whether an event (its fields as text) is one that can lower a score."""
    rule = NEGATIVE_EVENT_VALUES.get(fields.get("kind", ""))
    return rule is not None and fields.get(rule[0]) in rule[1]
