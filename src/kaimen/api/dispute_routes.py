"""Disputes: a person files and adds to them (their token; the admin acting for them), the
furnisher answers (a partner's key with scope `disputes`; the admin for the court feed and
the operator's own events), and the admin sees the clocks and sets webhook endpoints."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from kaimen.api import problems
from kaimen.api.deps import Admin, DisputesPartner, Person, PersonPath, Store, person_id_of
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import Rendered
from kaimen.domain.callers import Caller
from kaimen.domain.disputes import (
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    MAX_EVIDENCE_NAME,
    MAX_STATEMENT_CHARACTERS,
    Answer,
    Correction,
    DisputeRejected,
    Evidence,
    ItemKind,
    ItemRef,
)
from kaimen.dueprocess import answering, clocks, disputing, webhooks
from kaimen.dueprocess.disputing import DisputeView

router = api_router()
DisputePath = Annotated[
    str, Path(min_length=36, max_length=36, pattern=r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
]
RecipientPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9\-]{1,62}[a-z0-9]$")]
MAX_BASE64 = (MAX_EVIDENCE_BYTES + 2) // 3 * 4
FILED = problems.documented(401, 403, 404, 409, 422, s404="no such item of yours")
ANSWERED = problems.documented(401, 403, 404, 409, 422, s404="no dispute for you to answer")


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_EVIDENCE_NAME, description="e.g. receipt.pdf")
    content_base64: str = Field(
        min_length=1, max_length=MAX_BASE64, description="PDF, PNG, JPEG or plain text"
    )


Statement = Annotated[str, Field(min_length=1, max_length=MAX_STATEMENT_CHARACTERS)]
EvidenceList = Annotated[list[EvidenceIn], Field(max_length=MAX_EVIDENCE_FILES)]


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_kind: ItemKind
    item_ref: str = Field(min_length=1, max_length=200, description="an event: source/event_id")
    statement: Statement = Field(description="what is wrong, within the profile's word limit")
    evidence: EvidenceList = Field(default_factory=list)


class InformationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement: Statement | None = Field(default=None, description="appended to the statement")
    evidence: EvidenceList = Field(default_factory=list)


class EvidenceOut(Rendered):
    sha256: str
    size: int
    media_type: str
    original_name: str


class DisputeOut(Rendered):
    dispute_id: str
    person_id: str
    item_kind: str
    item_ref: str
    furnisher: str
    previous_dispute_id: str | None
    state: str
    statement: str
    filed_at: dt.datetime
    answer_due_at: dt.datetime
    furnisher_notice_due_at: dt.datetime
    furnisher_notified_at: dt.datetime | None
    answered_at: dt.datetime | None
    evidence: list[EvidenceOut]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Answer
    values: dict[str, str] | None = Field(
        default=None, max_length=20, description="corrected: the event's fields as they should be"
    )
    note: str | None = Field(
        default=None, max_length=answering.MAX_NOTE, description="corrected: what was corrected"
    )


class AnswerOut(Rendered):
    dispute: DisputeOut
    correction_event: str | None = Field(description="the new event a correction became")
    notified: list[str] = Field(description="partners told the item was suppressed or corrected")


class ClockOut(Rendered):
    source: str
    ref: str
    subject: str
    due_at: dt.datetime | None
    overdue: bool
    detail: str


class SlaOut(Rendered):
    at: dt.datetime
    overdue: int
    outbox_pending: int
    outbox_dead: int
    outbox_oldest_pending: dt.datetime | None
    items: list[ClockOut]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=webhooks.MAX_URL, description="http(s) only")


class WebhookOut(Rendered):
    recipient: str
    url: str
    secret: str = Field(description="the signing secret: shown this once")


def _evidence(files: list[EvidenceIn]) -> list[Evidence]:
    decoded: list[Evidence] = []
    for file in files:
        try:
            content = base64.b64decode(file.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise DisputeRejected(f"evidence file {file.name!r} is not valid base64") from None
        decoded.append(Evidence(file.name, content))
    return decoded


def _out(view: DisputeView) -> DisputeOut:
    d = view.dispute
    return DisputeOut(
        dispute_id=d.dispute_id,
        person_id=d.person_id,
        item_kind=d.item.kind.value,
        item_ref=d.item.ref,
        furnisher=d.furnisher,
        previous_dispute_id=d.previous_dispute_id,
        state=d.state.value,
        statement=d.statement,
        filed_at=d.filed_at,
        answer_due_at=d.answer_due_at,
        furnisher_notice_due_at=d.furnisher_notice_due_at,
        furnisher_notified_at=d.furnisher_notified_at,
        answered_at=d.answered_at,
        evidence=[EvidenceOut.model_validate(e) for e in view.evidence],
    )


def _file(ws: Store, caller: Caller, person_id: str, body: DisputeIn) -> DisputeOut:
    filed = disputing.file_dispute(
        ws.engine,
        ws.lake_root,
        ws.evidence_dir,
        ws.profile(),
        caller,
        person_id,
        ItemRef(body.item_kind, body.item_ref),
        body.statement,
        _evidence(body.evidence),
    )
    return _out(DisputeView(filed.dispute, filed.evidence))


@router.post(
    "/v1/me/disputes",
    response_model=DisputeOut,
    status_code=201,
    tags=["me"],
    responses=FILED,
    summary="Dispute a negative item in my record (the person)",
)
def post_my_dispute(body: DisputeIn, ws: Store, me: Person) -> DisputeOut:
    """The item is marked disputed at once and its furnisher told; the furnisher's time to
    answer comes from the jurisdiction profile. No answer in time: the item is suppressed."""
    return _file(ws, me, person_id_of(me), body)


@router.post(
    "/v1/admin/people/{person_id}/disputes",
    response_model=DisputeOut,
    status_code=201,
    tags=["disputes"],
    responses=FILED,
    summary="Dispute an item for a person (admin, acting for them)",
)
def post_dispute_for(person_id: PersonPath, body: DisputeIn, ws: Store, admin: Admin) -> DisputeOut:
    return _file(ws, admin, person_id, body)


@router.get(
    "/v1/me/disputes",
    response_model=list[DisputeOut],
    tags=["me"],
    responses=problems.documented(401, 403),
    summary="My disputes, newest first (the person)",
)
def get_my_disputes(ws: Store, me: Person) -> list[DisputeOut]:
    return [_out(v) for v in disputing.disputes_of(ws.engine, me, person_id_of(me))]


@router.post(
    "/v1/me/disputes/{dispute_id}/information",
    response_model=DisputeOut,
    tags=["me"],
    responses=problems.documented(401, 403, 404, 409, 422),
    summary="Add a statement or evidence to my open dispute (the person)",
)
def post_information(
    dispute_id: DisputePath, body: InformationIn, ws: Store, me: Person
) -> DisputeOut:
    """Where the profile says so (us: 45 days instead of 30), the furnisher's deadline grows."""
    filed = disputing.add_information(
        ws.engine,
        ws.evidence_dir,
        ws.profile(),
        me,
        person_id_of(me),
        dispute_id,
        body.statement,
        _evidence(body.evidence),
    )
    views = disputing.disputes_of(ws.engine, me, person_id_of(me))
    return _out(next(v for v in views if v.dispute.dispute_id == filed.dispute.dispute_id))


def _answer(ws: Store, caller: Caller, dispute_id: str, body: AnswerIn) -> AnswerOut:
    correction = None
    if body.values is not None or body.note is not None:
        correction = Correction(body.values or {}, body.note)
    answered = answering.answer_dispute(
        ws.engine, ws.lake_root, ws.profile(), caller, dispute_id, body.answer, correction
    )
    return AnswerOut(
        dispute=_out(DisputeView(answered.dispute, ())),
        correction_event=None
        if answered.correction_event is None
        else answered.correction_event.ref,
        notified=list(answered.notified),
    )


@router.post(
    "/v1/disputes/{dispute_id}/answer",
    response_model=AnswerOut,
    tags=["disputes"],
    responses=ANSWERED,
    summary="Answer a dispute of an item you furnished (partner, scope disputes)",
)
def post_answer(
    dispute_id: DisputePath, body: AnswerIn, ws: Store, caller: DisputesPartner
) -> AnswerOut:
    """`verified` keeps the item (and the person's statement with it); `corrected` with the
    event's corrected fields makes a new event superseding it; `deleted` and `unverifiable`
    suppress it."""
    return _answer(ws, caller, dispute_id, body)


@router.post(
    "/v1/admin/disputes/{dispute_id}/answer",
    response_model=AnswerOut,
    tags=["disputes"],
    responses=ANSWERED,
    summary="Answer a dispute for the court feed or kaimen's own events (admin)",
)
def post_admin_answer(
    dispute_id: DisputePath, body: AnswerIn, ws: Store, admin: Admin
) -> AnswerOut:
    return _answer(ws, admin, dispute_id, body)


@router.get(
    "/v1/admin/sla",
    response_model=SlaOut,
    tags=["disputes"],
    responses=problems.documented(401, 403),
    summary="Every running clock: disputes, notices, the outbox, removals, reviews (admin)",
)
def get_sla(ws: Store, admin: Admin) -> SlaOut:
    view = clocks.sla_view(ws.engine, ws.profile())
    return SlaOut(
        at=view.at,
        overdue=view.overdue,
        outbox_pending=view.outbox.pending,
        outbox_dead=view.outbox.dead,
        outbox_oldest_pending=view.outbox.oldest_pending,
        items=[ClockOut.model_validate(i) for i in view.items],
    )


@router.put(
    "/v1/admin/webhooks/{recipient}",
    response_model=WebhookOut,
    tags=["disputes"],
    responses=problems.documented(401, 403, 404, 422),
    summary="Set where a partner (or 'court') takes webhooks; a new secret (admin)",
)
def put_webhook(recipient: RecipientPath, body: WebhookIn, ws: Store, admin: Admin) -> WebhookOut:
    made = webhooks.set_webhook(ws.engine, ws.vault, recipient, body.url, admin.actor)
    return WebhookOut(recipient=made.recipient, url=made.url, secret=made.secret)
