"""Settlement reconciliation over HTTP (the admin): payments of judgments in, the review
queue and its decisions, a court's collection account, and the court's objection to a
matched payment before the listing is lifted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from kaimen.api import problems
from kaimen.api.deps import Admin, Store
from kaimen.api.json_bodies import api_router
from kaimen.domain.json_values import JsonObject
from kaimen.dueprocess.payment_import import import_payment_entries
from kaimen.dueprocess.settlement import (
    SettlementChange,
    approve_payment,
    object_to_settlement,
    register_collection_account,
    reject_payment,
    review_queue,
)

router = api_router()
MAX_REQUEST_PAYMENTS = 10_000
PaymentPath = Annotated[str, Path(pattern=r"^P[0-9A-F]{16}$", description="a payment id")]
ListingPath = Annotated[str, Path(pattern=r"^L[0-9A-F]{16}$", description="a listing id")]
Text = Annotated[str | None, Field(default=None, max_length=500)]


class PaymentIn(BaseModel):
    """One payment as the bank reported it; values as text, judged like a file's rows."""

    model_config = ConfigDict(extra="forbid")
    transaction_id: str = Field(max_length=128, description="the bank's id for the transfer")
    payer_name: Text = None
    payer_id_number: str | None = Field(default=None, max_length=32)
    amount: str = Field(max_length=32, description="a decimal number, e.g. 5000.00")
    currency: str | None = Field(default=None, max_length=8)
    paid_on: str = Field(max_length=16, description="YYYY-MM-DD")
    destination_account: str = Field(max_length=128)
    reference: Text = None


class PaymentBatch(BaseModel):
    """Up to 10,000 payments, stored or refused together."""

    model_config = ConfigDict(extra="forbid")
    payments: list[PaymentIn] = Field(min_length=1, max_length=MAX_REQUEST_PAYMENTS)


class PaymentImportOut(BaseModel):
    rows: int
    already_held: int
    matched: int
    review: int
    unmatched: int
    replayed: bool
    settled_listings: list[str]
    people_changed: list[str]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listing_id: str | None = Field(
        default=None, pattern=r"^L[0-9A-F]{16}$", description="default: the candidate"
    )


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    court: str = Field(min_length=1, max_length=200)
    account: str = Field(min_length=1, max_length=64)


class SettlementOut(BaseModel):
    listing_id: str
    status: str
    lift_at: dt.datetime | None
    last_day: dt.date | None
    people_changed: list[str]


class QueuedPaymentOut(BaseModel):
    payment_id: str
    state: str
    payer_name: str | None
    amount: Decimal
    currency: str
    paid_on: dt.date
    destination_account: str
    reference: str
    candidate_listing_id: str | None
    candidate_case_number: str | None
    candidate_court: str | None
    match_score: Decimal
    evidence: JsonObject | None
    note: str | None


class ReviewQueueOut(BaseModel):
    review: int
    unmatched: int
    items: list[QueuedPaymentOut]


class PaymentDecisionOut(BaseModel):
    payment_id: str
    state: str
    note: str | None


def _settlement(change: SettlementChange) -> SettlementOut:
    return SettlementOut(
        listing_id=change.listing_id,
        status=change.status,
        lift_at=change.lift_at,
        last_day=change.last_day,
        people_changed=list(change.people_changed),
    )


@router.post(
    "/v1/admin/payments",
    response_model=PaymentImportOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 413, 422),
    summary="Import payments of judgments and match them to listings (admin)",
)
def post_payments(batch: PaymentBatch, ws: Store, admin: Admin) -> PaymentImportOut:
    """All or nothing; the same batch twice is a no-op. A matched payment moves its listing
    to settled-pending, lifted within the profile's deadline unless the court objects."""
    entries = [p.model_dump() for p in batch.payments]
    report = import_payment_entries(ws.engine, ws.vault, ws.profile(), entries, admin.actor)
    return PaymentImportOut(
        rows=report.rows,
        already_held=report.already_held,
        matched=report.matched,
        review=report.review,
        unmatched=report.unmatched,
        replayed=report.replayed_file,
        settled_listings=list(report.settled_listings),
        people_changed=list(report.people_changed),
    )


@router.get(
    "/v1/admin/payments/review",
    response_model=ReviewQueueOut,
    tags=["court list"],
    responses=problems.documented(401, 403),
    summary="Payments waiting for a person: review, then unmatched (admin)",
)
def get_review(
    ws: Store, admin: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ReviewQueueOut:
    queue = review_queue(ws.engine, ws.vault, admin.actor, limit)
    return ReviewQueueOut(
        review=queue.review,
        unmatched=queue.unmatched,
        items=[
            QueuedPaymentOut(
                payment_id=i.payment.payment_id,
                state=i.payment.state,
                payer_name=i.payer_name,
                amount=i.payment.amount,
                currency=i.payment.currency,
                paid_on=i.payment.paid_on,
                destination_account=i.payment.destination_account,
                reference=i.payment.reference,
                candidate_listing_id=i.payment.listing_id,
                candidate_case_number=i.candidate_case_number,
                candidate_court=i.candidate_court,
                match_score=i.payment.match_score,
                evidence=i.payment.evidence,
                note=i.payment.note,
            )
            for i in queue.items
        ],
    )


@router.post(
    "/v1/admin/payments/{payment_id}/approve",
    response_model=SettlementOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404, 409, 422),
    summary="Confirm a waiting payment paid a listing (admin)",
)
def post_approve(
    payment_id: PaymentPath, body: ApprovalIn, ws: Store, admin: Admin
) -> SettlementOut:
    change = approve_payment(ws.engine, ws.profile(), payment_id, admin.actor, body.listing_id)
    return _settlement(change)


@router.post(
    "/v1/admin/payments/{payment_id}/reject",
    response_model=PaymentDecisionOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404, 409, 422),
    summary="Decide a waiting payment settles nothing; it is kept (admin)",
)
def post_reject(
    payment_id: PaymentPath, body: ReasonIn, ws: Store, admin: Admin
) -> PaymentDecisionOut:
    kept = reject_payment(ws.engine, payment_id, body.reason, admin.actor)
    return PaymentDecisionOut(payment_id=kept.payment_id, state=kept.state, note=kept.note)


@router.post(
    "/v1/admin/court-list/{listing_id}/objection",
    response_model=SettlementOut,
    tags=["court list"],
    responses=problems.documented(401, 403, 404, 409, 422),
    summary="The court objects to a matched payment before the listing is lifted (admin)",
)
def post_objection(
    listing_id: ListingPath, body: ReasonIn, ws: Store, admin: Admin
) -> SettlementOut:
    """The listing is entered again, the objection recorded, the payment back in review."""
    return _settlement(object_to_settlement(ws.engine, listing_id, body.reason, admin.actor))


@router.put(
    "/v1/admin/court-accounts",
    status_code=204,
    tags=["court list"],
    responses=problems.documented(401, 403, 422),
    summary="Register the account a court collects judgment payments into (admin)",
)
def put_account(body: AccountIn, ws: Store, admin: Admin) -> None:
    register_collection_account(ws.engine, body.court, body.account, admin.actor)
