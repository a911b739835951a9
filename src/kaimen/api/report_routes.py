"""Risk reports (partner, scope `reports`; the person's own copy) and partner feedback
(partner, scope `feedback`), both under the person's consent."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Body
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import WithJsonSchema

from kaimen.api import problems
from kaimen.api.deps import (
    FeedbackPartner,
    Person,
    ReportsPartner,
    Store,
    partner_id_of,
    person_id_of,
)
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import BandName
from kaimen.domain.events import IDENTIFIER_PATTERN, MAX_AMOUNT
from kaimen.sharing import feedback, reports

router = api_router()
NOTHING_PUBLISHED = {"s409": "no month has been published yet"}
NO_CONSENT = {"s404": "no such person, or no live consent for this use (the same answer)"}

# Anchored: a pattern alone only has to match somewhere in the text.
IDENTIFIER = f"^{IDENTIFIER_PATTERN}$"
PersonId = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER)]
Reference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=IDENTIFIER,
        description="your own id for the transaction; a resend with it is a duplicate",
    ),
]
Purpose = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=reports.MAX_PURPOSE),
    Field(description="why you ask, in your words; shown to the person in their access log"),
]
# As JSON: a number, or a decimal in text (the schema says which texts pydantic reads as one
# within the bounds: a bare "string" would promise any text).
_AMOUNT_TEXT = rf"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{{0,{len(str(MAX_AMOUNT)) - 2}}}(\.[0-9]{{1,2}})?|{MAX_AMOUNT}(\.00?)?)$"
Amount = Annotated[
    Decimal,
    Field(gt=0, le=MAX_AMOUNT, decimal_places=2, description="at most 2 decimals"),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_AMOUNT,
                    "multipleOf": 0.01,
                },
                {"type": "string", "pattern": _AMOUNT_TEXT},
            ],
            "description": "at most 2 decimals",
        }
    ),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. CNY")]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: PersonId
    purpose: Purpose


class StandingOut(BaseModel):
    status: Literal["scored", "thin_file", "not_scored"]
    band: BandName | None = Field(description="from the latest published score; none unless scored")
    month: str | None = Field(description="the month of that score")
    note: str | None = Field(description="why there is no band, in plain words")


class OnTimeOut(BaseModel):
    on_time: int
    late: int
    defaulted: int
    due: int = Field(description="rent and utility payments due in the last 12 months")
    on_time_rate: float | None = Field(description="on_time / due; empty when none was due")


class DelinquenciesOut(BaseModel):
    defaults_12m: int
    late_90_12m: int = Field(description="repayments paid 90 or more days late")
    unpaid_rentals_12m: int
    unpaid_fines: int = Field(description="fines issued and not paid, all time")
    open_judgments: int = Field(description="entered and not satisfied or overturned")
    total: int
    definition: str = reports.DEFINITION


class OpenDisputeOut(BaseModel):
    item_kind: str
    item_ref: str
    filed_at: str
    answer_due_at: str = Field(description="when the furnisher's time to answer runs out")


class StatementOut(BaseModel):
    item_kind: str
    item_ref: str
    statement: str = Field(description="the person's own words on an item the furnisher kept")


class DisputesOut(BaseModel):
    open: list[OpenDisputeOut]
    statements: list[StatementOut]


class ReportedListingOut(BaseModel):
    case_number: str
    court: str
    amount: str
    currency: str
    judgment_date: str
    status: str = Field(description="entered, or settled-pending (paid, waiting to be lifted)")
    disputed: bool = Field(description="the person disputes it; the furnisher has not answered")


class ReportOut(BaseModel):
    report_id: str
    person_id: str
    purpose: str | None = Field(description="what it was issued for; empty on your own copy")
    as_of: str = Field(description="the latest published month; figures are as known then")
    issued_at: dt.datetime
    standing: StandingOut
    rent_and_utilities: OnTimeOut = Field(description="over the 12 months ending with as_of")
    open_delinquencies: DelinquenciesOut
    court_list: list[ReportedListingOut] | None = Field(
        description="standing court listings linked to the person; empty where the "
        "jurisdiction's profile withholds them"
    )
    court_list_note: str
    disputes: DisputesOut | None = Field(
        default=None, description="open disputes and the person's statements, where allowed"
    )


class RentalFeedbackIn(BaseModel):
    """How a rental with the person ended."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["rental"]
    person_id: PersonId
    reference: Reference
    outcome: Literal["returned", "returned_late", "damaged_paid", "damaged_unpaid"]
    # Spelled out for the schema; a test holds them equal to the catalogue's.
    item: Literal["bike", "car", "hotel_room", "umbrella", "power_bank"]
    deposit: Literal["waived", "paid"]
    occurred_at: AwareDatetime = Field(description="when it ended, with a UTC offset")
    amount: Amount | None = None
    currency: Currency | None = None


class LoanFeedbackIn(BaseModel):
    """How a loan instalment with the person ended."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["loan"]
    person_id: PersonId
    reference: Reference
    outcome: Literal["repaid", "defaulted"]
    amount: Amount
    currency: Currency
    due_date: dt.date
    paid_date: dt.date | None = Field(default=None, description="required when repaid")
    occurred_at: AwareDatetime


FeedbackIn = Annotated[RentalFeedbackIn | LoanFeedbackIn, Body(discriminator="kind")]


class FeedbackOut(BaseModel):
    event_id: str = Field(description="your reference")
    source: str = Field(description="your partner id: feedback is always in your name")
    kind: str = Field(description="the catalogue event it became")
    received: Literal["new", "duplicate"]
    event: dict[str, str] = Field(description="the catalogue event's fields, as submitted")
    note: str = "counts in the person's score from the first month run after it is sealed"


def _report_out(report: reports.Report) -> ReportOut:
    return ReportOut.model_validate(asdict(report))


@router.post(
    "/v1/reports",
    response_model=ReportOut,
    tags=["reports"],
    responses=problems.documented(
        401,
        403,
        404,
        409,
        422,
        429,
        s429="too many reports for now, from this key or about this person: retry after "
        "the seconds Retry-After gives",
        **NO_CONSENT,
        **NOTHING_PUBLISHED,
    ),
    summary="A risk report on a person (partner, scope reports, the person's consent)",
)
def post_report(body: ReportIn, ws: Store, caller: ReportsPartner) -> ReportOut:
    """Band, on-time rate of rent and utilities, open delinquencies, as of the latest
    published month. Without the person's live consent for `report` to you, the answer is
    the same 404 as for an unknown person and nothing is read (the person sees the refused
    attempt in their access log). Each report is in the person's access log with its purpose
    and everything it showed; nothing else is kept. Reports are limited per key and per
    person (429 with Retry-After)."""
    report = reports.issue_report(
        ws.engine,
        ws.lake_root,
        partner_id_of(caller),
        body.person_id,
        body.purpose,
        caller.actor,
        backend=ws.backend(),
        profile=ws.profile(),
        limits=ws.limits,
        key_id=caller.key_id,
    )
    return _report_out(report)


@router.get(
    "/v1/me/report",
    response_model=ReportOut,
    tags=["me"],
    responses=problems.documented(
        401, 403, 409, s403="only the person, with their own token", **NOTHING_PUBLISHED
    ),
    summary="Your own risk report: exactly what a partner would be shown",
)
def get_my_report(ws: Store, me: Person) -> ReportOut:
    """Not logged: it is yours."""
    report = reports.own_report(
        ws.engine, ws.lake_root, person_id_of(me), backend=ws.backend(), profile=ws.profile()
    )
    return _report_out(report)


def _feedback_of(body: RentalFeedbackIn | LoanFeedbackIn) -> feedback.Feedback:
    if isinstance(body, RentalFeedbackIn):
        return feedback.RentalFeedback(
            body.person_id,
            body.reference,
            body.outcome,
            body.item,
            body.deposit,
            body.occurred_at,
            body.amount,
            body.currency,
        )
    return feedback.LoanFeedback(
        body.person_id,
        body.reference,
        body.outcome,
        body.amount,
        body.currency,
        body.due_date,
        body.occurred_at,
        body.paid_date,
    )


@router.post(
    "/v1/feedback",
    response_model=FeedbackOut,
    status_code=202,
    tags=["feedback"],
    responses=problems.documented(401, 403, 404, 422, **NO_CONSENT),
    summary="Report how a rental or loan with a person ended (partner, scope feedback, consent)",
)
def post_feedback(body: FeedbackIn, ws: Store, caller: FeedbackPartner) -> FeedbackOut:
    """Becomes a catalogue event in your name (source: your partner id, event id: your
    reference), received into the inbox and counted once sealed. Sending it again is a
    duplicate; the same reference with other content is refused. Without the person's live
    consent for `feedback` to you: the same 404 as for an unknown person, nothing stored."""
    submitted = feedback.submit(
        ws.engine, ws.lake_root, partner_id_of(caller), _feedback_of(body), caller.actor
    )
    event = {k: v for k, v in submitted.event.items() if v is not None}
    return FeedbackOut(
        event_id=event["event_id"],
        source=event["source"],
        kind=event["kind"],
        received="new" if submitted.new else "duplicate",
        event=event,
    )
