"""What payment matching takes and gives: payments received, the judgments still open, and for
each payment its best candidate listing with a score and the evidence behind it.

Identity values cross this boundary in whatever protected form the caller chooses (a keyed
lookup hash, as the store keeps them), the same form on both sides: matching only compares
them for equality, so it never needs the clear ID number or name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from kaimen.domain.json_values import JsonObject


@dataclass(frozen=True)
class Payment:
    """One payment as the bank or the court's collection account reported it."""

    payment_key: str
    amount: Decimal
    currency: str
    paid_on: dt.date
    destination_account: str
    reference: str
    # The payer's ID number and name, each as a lookup key (see the module docstring).
    payer_id_key: str | None = None
    payer_name_key: str | None = None


@dataclass(frozen=True)
class OpenJudgment:
    """A court listing still in force (status `entered`): what a payment would settle."""

    listing_id: str
    case_number: str
    court: str
    amount_owed: Decimal
    currency: str
    judgment_date: dt.date
    collection_account: str | None = None
    person_id_key: str | None = None
    person_name_key: str | None = None


class Verdict(StrEnum):
    """What becomes of a payment: settled automatically, shown to a person, or neither."""

    MATCHED = "matched"
    REVIEW = "review"
    UNMATCHED = "unmatched"


class AmountAgreement(StrEnum):
    EQUAL = "equal"
    COVERS = "covers"  # more than owed: the judgment is paid (the rest is a refund matter)
    SHORT = "short"  # less than owed: the judgment is not yet paid
    OTHER_CURRENCY = "other_currency"


class PayerAgreement(StrEnum):
    ID_NUMBER = "id_number"
    NAME = "name"
    UNKNOWN = "unknown"  # nothing to compare: no ID given, names differ or are missing
    CONFLICT = "conflict"  # both ID numbers known and different: someone else paid


@dataclass(frozen=True)
class MatchEvidence:
    """Which signals agreed between a payment and one listing, and what kept it from
    matching automatically (`holds`, empty when nothing did)."""

    case_number_distance: int | None  # edits between the case number and the reference
    amount: AmountAgreement
    payer: PayerAgreement
    paid_after_judgment: bool
    account_distance: int | None  # edits between the two accounts; None when either is missing
    holds: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {
            "case_number_distance": self.case_number_distance,
            "amount": self.amount.value,
            "payer": self.payer.value,
            "paid_after_judgment": self.paid_after_judgment,
            "account_distance": self.account_distance,
            "holds": list(self.holds),
        }


@dataclass(frozen=True)
class PaymentMatch:
    """A payment's verdict with its best candidate (None when no listing shares any signal)."""

    payment_key: str
    verdict: Verdict
    listing_id: str | None
    score: float
    evidence: MatchEvidence | None
    # The next best listing's score, so a reviewer sees how close the choice was.
    runner_up_score: float | None
