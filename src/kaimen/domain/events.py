"""The event catalogue: every kind of event kaimen accepts, its fields and their rules.

This is the one definition that validation, the lake schema and the HTTP models derive from.
An event is flat: the envelope fields below plus the payload fields of its kind; a field that
does not belong to the kind must be left empty. Every event carries the envelope's required
fields; the others are filled in on receipt when left out, so every stored event has the whole
envelope. Schema version 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

# Amounts above this, in any currency, are data errors rather than behaviour.
MAX_AMOUNT = Decimal("100000000")
AMOUNT_DECIMALS = 2
MAX_TEXT_LENGTH = 200
# Clocks differ: an event up to this far ahead of the receiving clock is not "in the future".
CLOCK_SKEW_SECONDS = 300
IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}"
SOURCE_PATTERN = r"[a-z0-9][a-z0-9._\-]{0,63}"


class FieldType(StrEnum):
    IDENTIFIER = "identifier"
    TEXT = "text"
    CHOICE = "choice"
    DECIMAL = "decimal"
    CURRENCY = "currency"
    DATE = "date"
    TIMESTAMP = "timestamp"
    INTEGER = "integer"


@dataclass(frozen=True)
class FieldSpec:
    """One column of the flat event format. `required` is for the envelope, which every event
    carries; which payload fields an event needs depends on its kind (see `EventKind`)."""

    name: str
    type: FieldType
    description: str
    required: bool = False


# Merchant categories. Health, religious and political merchants are deliberately absent: a
# purchase there would reveal a protected trait, so partners report them as `other`.
MERCHANT_CATEGORIES = (
    "groceries",
    "dining",
    "transport",
    "travel",
    "utilities",
    "education",
    "electronics",
    "clothing",
    "home",
    "entertainment",
    "gaming",
    "luxury",
    "financial_services",
    "other",
)
REPAYMENT_STATUSES = ("on_time", "late", "defaulted")
RENTAL_ITEMS = ("bike", "car", "hotel_room", "umbrella", "power_bank")
DEPOSITS = ("waived", "paid")
RENTAL_OUTCOMES = ("returned", "late", "damaged", "unpaid")
FINE_STATUSES = ("issued", "paid")
ATTRIBUTES = ("education", "employer", "vehicle")
EDUCATION_LEVELS = (
    "none",
    "primary",
    "secondary",
    "vocational",
    "bachelor",
    "master",
    "doctorate",
)
VEHICLE_STATUSES = ("none", "owned", "financed", "leased")
FRIEND_ACTIONS = ("added", "removed")
JUDGMENT_STATUSES = ("entered", "satisfied", "overturned")

ENVELOPE: tuple[FieldSpec, ...] = (
    FieldSpec("source", FieldType.IDENTIFIER, "who sent the event: lower-case name", required=True),
    FieldSpec(
        "event_id", FieldType.IDENTIFIER, "the sender's id, unique within source", required=True
    ),
    FieldSpec(
        "person_id", FieldType.IDENTIFIER, "the enrolled person the event is about", required=True
    ),
    FieldSpec("kind", FieldType.CHOICE, "one of the event kinds", required=True),
    FieldSpec(
        "occurred_at", FieldType.TIMESTAMP, "when it happened, with a UTC offset", required=True
    ),
    FieldSpec(
        "recorded_at",
        FieldType.TIMESTAMP,
        "when the sender recorded it, with a UTC offset (default: time of receipt)",
    ),
    FieldSpec("schema_version", FieldType.INTEGER, "event schema version (default 1)"),
)

PAYLOAD: tuple[FieldSpec, ...] = (
    FieldSpec("amount", FieldType.DECIMAL, "positive amount with at most 2 decimals"),
    FieldSpec("currency", FieldType.CURRENCY, "ISO 4217 code, e.g. CNY"),
    FieldSpec("merchant_category", FieldType.CHOICE, "category of the merchant paid"),
    FieldSpec("due_date", FieldType.DATE, "date the repayment was due (YYYY-MM-DD)"),
    FieldSpec("paid_date", FieldType.DATE, "date it was paid; empty when defaulted"),
    FieldSpec("status", FieldType.CHOICE, "state of a repayment, fine or judgment"),
    FieldSpec("partner", FieldType.IDENTIFIER, "the lender, landlord or rental firm"),
    FieldSpec("item", FieldType.CHOICE, "what was rented"),
    FieldSpec("deposit", FieldType.CHOICE, "whether the rental deposit was waived or paid"),
    FieldSpec("outcome", FieldType.CHOICE, "how the rental ended"),
    FieldSpec("attribute", FieldType.CHOICE, "which identity fact an attribute event states"),
    FieldSpec("value", FieldType.TEXT, "the attribute's value"),
    FieldSpec("friend_id", FieldType.IDENTIFIER, "the enrolled friend linked or unlinked"),
    FieldSpec("action", FieldType.CHOICE, "friend link added or removed"),
    FieldSpec("case_number", FieldType.TEXT, "court or fine case reference"),
    FieldSpec("court", FieldType.TEXT, "the court that entered the judgment"),
)

FIELDS: dict[str, FieldSpec] = {f.name: f for f in ENVELOPE + PAYLOAD}
PAYLOAD_NAMES: tuple[str, ...] = tuple(f.name for f in PAYLOAD)
ENVELOPE_REQUIRED: tuple[str, ...] = tuple(f.name for f in ENVELOPE if f.required)


@dataclass(frozen=True)
class EventKind:
    """A kind of event: which payload fields it requires or allows, and their choices."""

    name: str
    description: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def every_required(self) -> tuple[str, ...]:
        """What an event of this kind must carry: the envelope's required fields and its own."""
        return ENVELOPE_REQUIRED + self.required


def _repayment(name: str, description: str) -> EventKind:
    """Repayment kinds share one shape: due date, paid date (empty if defaulted), status."""
    return EventKind(
        name,
        description,
        ("amount", "currency", "due_date", "status"),
        ("paid_date", "partner"),
        choices={"status": REPAYMENT_STATUSES},
    )


EVENT_KINDS: dict[str, EventKind] = {
    k.name: k
    for k in (
        EventKind(
            "payment",
            "a purchase",
            ("amount", "currency", "merchant_category"),
            choices={"merchant_category": MERCHANT_CATEGORIES},
        ),
        _repayment("loan_repayment", "an instalment of a loan, paid or not"),
        _repayment("bill_repayment", "a credit card or phone bill, paid or not"),
        _repayment("rent_payment", "a month's rent, paid or not"),
        _repayment("utility_payment", "a water, power or gas bill, paid or not"),
        EventKind(
            "rental",
            "a rental and how it ended",
            ("partner", "item", "deposit", "outcome"),
            ("amount", "currency"),
            choices={"item": RENTAL_ITEMS, "deposit": DEPOSITS, "outcome": RENTAL_OUTCOMES},
        ),
        EventKind(
            "fine",
            "a fine issued or paid",
            ("amount", "currency", "status"),
            ("case_number",),
            choices={"status": FINE_STATUSES},
        ),
        EventKind(
            "attribute",
            "a verified identity fact: education level, employer or vehicle",
            ("attribute", "value"),
            choices={"attribute": ATTRIBUTES},
        ),
        EventKind(
            "friend_link",
            "a friend link added or removed",
            ("friend_id", "action"),
            choices={"action": FRIEND_ACTIONS},
        ),
        EventKind("donation", "a donation", ("amount", "currency")),
        EventKind(
            "court_judgment",
            "a court judgment entered, satisfied or overturned",
            ("case_number", "court", "status"),
            ("amount", "currency"),
            choices={"status": JUDGMENT_STATUSES},
        ),
    )
}

REPAYMENT_KINDS = ("loan_repayment", "bill_repayment", "rent_payment", "utility_payment")

# Allowed values of `value` for attribute events with a closed vocabulary.
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "education": EDUCATION_LEVELS,
    "vehicle": VEHICLE_STATUSES,
}
