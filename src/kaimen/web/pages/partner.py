"""The partner's console: offers (with how many people would qualify), the decisions log,
feedback, the disputes to answer and the API keys.

Each section needs the scope the API asks for the same work (offers and the decisions log
`decisions`, feedback `feedback`, disputes `disputes`); the console shows only the sections
the key signed in with may use. Keys are listed to any of the partner's keys, and issued or
revoked only within the signing key's own scopes (the service's rule). Each handler parses its
form, calls one service (the one the API's route calls) and renders; a refusal is shown beside
the field it concerns, with nothing stored."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.responses import Response

from kaimen.domain.callers import SCOPES, Caller
from kaimen.domain.connections import ConnectionsNotRequirable
from kaimen.domain.disputes import Answer, Correction, DisputeNotFound
from kaimen.domain.errors import BatchRejected, KaimenError
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.domain.text import excerpt
from kaimen.dueprocess import answering, furnisher_disputes
from kaimen.sharing import decision_log, feedback, offering, partnering
from kaimen.sharing.deciding import PersonNotFound
from kaimen.sharing.signing_in import sign_out
from kaimen.web.pages.access import Checked, PartnerCaller, see_other
from kaimen.web.rendering import render
from kaimen.web.words import DIMENSION_WORDS

router = APIRouter()
MAX_ID = 2**31 - 1
OfferPath = Annotated[int, Path(ge=1, le=MAX_ID)]
KeyPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
DisputePath = Annotated[str, Path(min_length=36, max_length=36)]
TEXT_MAX = 200
# What each section of the console needs of the key signed in with: the API's scope for it.
SECTIONS = (
    ("offers", "/partner/offers", "decisions"),
    ("decisions", "/partner/decisions", "decisions"),
    ("feedback", "/partner/feedback", "feedback"),
    ("disputes", "/partner/disputes", "disputes"),
    ("keys", "/partner/keys", None),
)
DIMENSIONS = tuple(d.value for d in Dimension)
RENTAL_OUTCOMES = tuple(feedback.RENTAL_OUTCOMES)
LOAN_OUTCOMES = ("repaid", "defaulted")
RENTAL_ITEMS = ("bike", "car", "hotel_room", "umbrella", "power_bank")
DEPOSITS = ("waived", "paid")
ANSWERS = tuple(a.value for a in Answer)
# A catalogue field named in a refusal of feedback, as the form's field.
FEEDBACK_FIELDS = {"event_id": "reference", "status": "outcome"}


@dataclass(frozen=True)
class Section:
    name: str
    path: str
    allowed: bool


@dataclass
class Form:
    """A form's values as typed (to show them again) and the errors beside its fields."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def refuse(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.workspace.engine
    return engine


def _partner(caller: Caller) -> str:
    assert caller.partner_id is not None  # PartnerCaller admits partners only
    return caller.partner_id


def sections_of(caller: Caller) -> tuple[Section, ...]:
    return tuple(
        Section(name, path, scope is None or scope in caller.scopes)
        for name, path, scope in SECTIONS
    )


def _page(
    request: Request, caller: Caller, template: str, status: int = 200, **context: Any
) -> Response:
    return render(
        request,
        template,
        status_code=status,
        partner_id=_partner(caller),
        key_id=caller.key_id,
        scopes=caller.scopes,
        sections=sections_of(caller),
        **context,
    )


def _lacking(request: Request, caller: Caller, scope: str) -> Response | None:
    """The page saying the key signed in with lacks `scope` (403), or None when it has it."""
    if scope in caller.scopes:
        return None
    return _page(request, caller, "partner_scope.html", status=403, scope=scope)


async def _form(request: Request) -> FormData:
    return await request.form()


def _text(form: FormData, name: str, limit: int = TEXT_MAX) -> str:
    value = form.get(name)
    return value.strip()[: limit + 1] if isinstance(value, str) else ""


# -- the overview --------------------------------------------------------------------------


@router.get("/partner")
def console(request: Request, caller: PartnerCaller) -> Response:
    engine = _engine(request)
    partner_id = _partner(caller)
    offers = offering.offers_of(engine, partner_id) if "decisions" in caller.scopes else None
    disputes = (
        furnisher_disputes.disputes_to_answer(engine, caller)
        if "disputes" in caller.scopes
        else None
    )
    open_disputes = (
        None if disputes is None else [d for d in disputes if d.dispute.answered_at is None]
    )
    return _page(
        request,
        caller,
        "partner.html",
        live_offers=None if offers is None else sum(o.withdrawn_at is None for o in offers),
        open_disputes=open_disputes,
    )


# -- offers --------------------------------------------------------------------------------


def _whole_number(text: str) -> int | None:
    """The number written in ASCII digits alone, as the API takes it; None for anything
    else (`int` took ٦٠٠, ６００, 6_0_0 and +0600 as 600)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _threshold_form(values: dict[str, str], form: Form) -> offering.Thresholds | None:
    """The thresholds typed, or None with the errors beside their fields."""
    min_score: int | None = None
    raw = values.get("min_score", "")
    if not raw:
        form.refuse("min_score", f"min_score must be between {SCORE_MIN} and {SCORE_MAX}")
    else:
        min_score = _whole_number(raw)
        if min_score is None:
            form.refuse("min_score", f"min_score must be a whole number, not {excerpt(raw)!r}")
    dimensions: dict[str, int] = {}
    for dimension in DIMENSIONS:
        typed = values.get(f"min_{dimension}", "")
        if not typed:
            continue
        minimum = _whole_number(typed)
        if minimum is not None:
            dimensions[dimension] = minimum
        else:
            form.refuse(
                f"min_{dimension}", f"the minimum for {dimension} must be a whole number 0-100"
            )
    if min_score is None or any(name.startswith("min_") for name in form.errors):
        return None
    thresholds = offering.Thresholds(min_score, values.get("min_band") or None, dimensions)
    try:
        offering.check_thresholds(thresholds)
    except (offering.OfferRejected, ConnectionsNotRequirable) as refused:
        _refused(form, refused, "min_score")
        return None
    return thresholds


def _refused(form: Form, error: KaimenError, fallback: str) -> None:
    """A service's refusal of an offer, beside the field it names."""
    if isinstance(error, ConnectionsNotRequirable):
        form.refuse("min_connections", error.detail)
        return
    named = getattr(error, "field", None) or fallback
    form.refuse(named.replace("min_dimensions.", "min_"), error.detail)


def _offer_values(form_data: FormData | dict[str, str]) -> dict[str, str]:
    names = ("name", "purpose", "min_score", "min_band", *(f"min_{d}" for d in DIMENSIONS))
    return {
        n: (
            _text(form_data, n)
            if isinstance(form_data, FormData)
            else form_data.get(n, "").strip()[: TEXT_MAX + 1]
        )
        for n in names
    }


def _reach_of(request: Request, values: dict[str, str]) -> tuple[Form, offering.Reach | None]:
    """How many would qualify at the thresholds typed (the errors instead when refused)."""
    form = Form(values)
    thresholds = _threshold_form(values, form)
    if thresholds is None:
        return form, None
    try:
        return form, offering.reach(_engine(request), thresholds)
    except (offering.OfferRejected, ConnectionsNotRequirable) as refused:
        _refused(form, refused, "min_score")
        return form, None


def _offer_page(
    request: Request,
    caller: Caller,
    offer: offering.Offer | None,
    form: Form,
    reach: offering.Reach | None,
    status: int = 200,
) -> Response:
    return _page(
        request,
        caller,
        "partner_offer.html",
        status=status,
        offer=offer,
        form=form,
        reach=reach,
        bands=[b.name for b in BANDS],
        dimensions=[(d, DIMENSION_WORDS[d][0]) for d in DIMENSIONS],
        score_min=SCORE_MIN,
        score_max=SCORE_MAX,
    )


def _counting(data: FormData) -> bool:
    """The form's *count* button (no script needed): count at the thresholds typed, store
    nothing."""
    return data.get("action") == "count"


@router.get("/partner/offers")
def offers_page(request: Request, caller: PartnerCaller) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    engine = _engine(request)
    offers = offering.offers_of(engine, _partner(caller))
    live = [o for o in offers if o.withdrawn_at is None]
    return _page(
        request,
        caller,
        "partner_offers.html",
        offers=offers,
        reach=offering.reach_of_offers(engine, live),
        smallest=offering.SMALLEST_COUNT,
    )


@router.get("/partner/offers/new")
def new_offer(request: Request, caller: PartnerCaller) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    return _offer_page(request, caller, None, Form(_offer_values({})), None)


@router.post("/partner/offers")
async def create_offer(request: Request, caller: PartnerCaller, session: Checked) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    data = await _form(request)
    values = _offer_values(data)
    if _counting(data):
        counted, reach = _reach_of(request, values)
        return _offer_page(request, caller, None, counted, reach)
    form = Form(values)
    for name in ("name", "purpose"):
        if not values[name]:
            form.refuse(name, "an offer needs a name and a purpose of 1-200 characters")
    thresholds = _threshold_form(values, form)
    if thresholds is not None and not form.errors:
        terms = offering.OfferTerms(
            values["name"],
            values["purpose"],
            thresholds.min_score,
            thresholds.min_band,
            thresholds.min_dimensions,
        )
        try:
            offering.publish_offer(_engine(request), _partner(caller), terms, caller.actor)
        except (offering.OfferRejected, ConnectionsNotRequirable) as refused:
            _refused(form, refused, "name")
        else:
            return see_other("/partner/offers")
    return _offer_page(request, caller, None, form, None, status=422)


def _own_offer(request: Request, caller: Caller, offer_id: int) -> offering.Offer | None:
    found = [
        o for o in offering.offers_of(_engine(request), _partner(caller)) if o.offer_id == offer_id
    ]
    return found[0] if found else None


def _values_of(offer: offering.Offer) -> dict[str, str]:
    values = {
        "name": offer.name,
        "purpose": offer.purpose,
        "min_score": str(offer.min_score),
        "min_band": offer.min_band or "",
    }
    for dimension in DIMENSIONS:
        minimum = offer.min_dimensions.get(Dimension(dimension))
        values[f"min_{dimension}"] = "" if minimum is None else str(minimum)
    return values


def _not_found(request: Request) -> Response:
    return render(request, "error.html", status_code=404, status=404)


@router.get("/partner/offers/{offer_id}")
def offer_page(request: Request, caller: PartnerCaller, offer_id: OfferPath) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    offer = _own_offer(request, caller, offer_id)
    if offer is None:
        return _not_found(request)
    form, reach = _reach_of(request, _values_of(offer))
    return _offer_page(request, caller, offer, form, reach)


@router.post("/partner/offers/{offer_id}")
async def change_offer(
    request: Request, caller: PartnerCaller, session: Checked, offer_id: OfferPath
) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    offer = _own_offer(request, caller, offer_id)
    if offer is None:
        return _not_found(request)
    data = await _form(request)
    values = {**_offer_values(data), "name": offer.name, "purpose": offer.purpose}
    if _counting(data):
        counted, reach = _reach_of(request, values)
        return _offer_page(request, caller, offer, counted, reach)
    form = Form(values)
    thresholds = _threshold_form(values, form)
    if thresholds is not None:
        try:
            offering.change_thresholds(
                _engine(request), _partner(caller), offer_id, thresholds, caller.actor
            )
        except (offering.OfferRejected, ConnectionsNotRequirable) as refused:
            _refused(form, refused, "min_score")
        else:
            return see_other("/partner/offers")
    return _offer_page(request, caller, offer, form, None, status=422)


@router.get("/partner/reach")
def reach_fragment(request: Request, caller: PartnerCaller) -> Response:
    """The count beside a threshold being typed (htmx swaps it in; a page without script
    counts with the form's own button)."""
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    form, reach = _reach_of(request, _offer_values(dict(request.query_params)))
    return render(request, "partner_reach.html", form=form, reach=reach)


@router.get("/partner/offers/{offer_id}/withdraw")
def confirm_withdraw(request: Request, caller: PartnerCaller, offer_id: OfferPath) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    offer = _own_offer(request, caller, offer_id)
    if offer is None or offer.withdrawn_at is not None:
        return _not_found(request)
    return _confirm(request, caller, "withdraw", offer, None, 200)


@router.post("/partner/offers/{offer_id}/withdraw")
def withdraw(
    request: Request, caller: PartnerCaller, session: Checked, offer_id: OfferPath
) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    try:
        offering.withdraw_offer(_engine(request), _partner(caller), offer_id, caller.actor)
    except offering.OfferRejected as refused:
        if refused.status == 404:
            return _not_found(request)
        offer = _own_offer(request, caller, offer_id)
        return _confirm(request, caller, "withdraw", offer, refused.detail, 409)
    return see_other("/partner/offers")


def _confirm(
    request: Request,
    caller: Caller,
    what: str,
    subject: offering.Offer | partnering.ApiKey | None,
    error: str | None,
    status: int = 200,
) -> Response:
    """The page asking before an offer is withdrawn or a key revoked (and saying why not,
    when the service refused)."""
    if subject is None:
        return _not_found(request)
    key = subject if isinstance(subject, partnering.ApiKey) else None
    return _page(
        request,
        caller,
        "partner_confirm.html",
        status=status,
        what=what,
        offer=None if key is not None else subject,
        key=key,
        own_key=key is not None and key.key_id == caller.key_id,
        error=error,
    )


# -- the decisions log ---------------------------------------------------------------------

CURSOR = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?\+00:00)~([0-9A-Za-z\-]{1,36})$"
)


def _cursor(text: str) -> decision_log.Cursor:
    """The page's cursor from its query (ValueError for one that is not ours)."""
    matched = CURSOR.match(text)
    if matched is None:
        raise ValueError("not a page of the decisions log")
    return decision_log.Cursor(dt.datetime.fromisoformat(matched.group(1)), matched.group(2))


def cursor_text(cursor: decision_log.Cursor) -> str:
    return f"{cursor.decided_at.astimezone(dt.UTC).isoformat()}~{cursor.decision_id}"


@router.get("/partner/decisions")
def decisions_page(
    request: Request,
    caller: PartnerCaller,
    after: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    if (lacking := _lacking(request, caller, "decisions")) is not None:
        return lacking
    try:
        cursor = None if after is None else _cursor(after)
    except ValueError:
        return render(request, "error.html", status_code=400, status=400)
    page = decision_log.decisions_page(_engine(request), _partner(caller), cursor)
    return _page(
        request,
        caller,
        "partner_decisions.html",
        page=page,
        first=cursor is None,
        older=None if page.older is None else cursor_text(page.older),
    )


# -- feedback ------------------------------------------------------------------------------

RENTAL_NAMES = (
    "person_id",
    "reference",
    "outcome",
    "item",
    "deposit",
    "occurred_at",
    "amount",
    "currency",
)
LOAN_NAMES = (
    "person_id",
    "reference",
    "outcome",
    "amount",
    "currency",
    "due_date",
    "paid_date",
    "occurred_at",
)


def _feedback_page(
    request: Request,
    caller: Caller,
    status: int = 200,
    rental: Form | None = None,
    loan: Form | None = None,
    sent: feedback.Submitted | None = None,
) -> Response:
    return _page(
        request,
        caller,
        "partner_feedback.html",
        status=status,
        rental=rental or Form(),
        loan=loan or Form(),
        sent=sent,
        rental_outcomes=RENTAL_OUTCOMES,
        loan_outcomes=LOAN_OUTCOMES,
        items=RENTAL_ITEMS,
        deposits=DEPOSITS,
    )


@router.get("/partner/feedback")
def feedback_page(request: Request, caller: PartnerCaller) -> Response:
    return _lacking(request, caller, "feedback") or _feedback_page(request, caller)


def _when(form: Form, name: str) -> dt.datetime | None:
    """A `datetime-local` value, read as UTC (the form says so)."""
    raw = form.values.get(name, "")
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=dt.UTC)
    except ValueError:
        form.refuse(name, "give the date and time it ended (UTC)")
        return None


def _day(form: Form, name: str, required: bool) -> dt.date | None:
    raw = form.values.get(name, "")
    if not raw:
        if required:
            form.refuse(name, "give a date")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        form.refuse(name, "give a date as YYYY-MM-DD")
        return None


def _amount(form: Form, required: bool) -> Decimal | None:
    raw = form.values.get("amount", "")
    if not raw:
        if required:
            form.refuse("amount", "give the amount")
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        form.refuse("amount", "give the amount as a number, at most 2 decimals")
        return None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        form.refuse("amount", "give the amount as a number above 0, at most 2 decimals")
        return None
    return amount


def _choice(form: Form, name: str, allowed: tuple[str, ...]) -> str:
    chosen = form.values.get(name, "")
    if chosen not in allowed:
        form.refuse(name, f"choose one of {', '.join(allowed)}")
    return chosen


def _submit_feedback(
    request: Request, caller: Caller, form: Form, sent: feedback.Feedback
) -> feedback.Submitted | None:
    try:
        return feedback.submit(
            _engine(request),
            request.app.state.workspace.lake_root,
            _partner(caller),
            sent,
            caller.actor,
        )
    except PersonNotFound as refused:
        form.refuse("person_id", refused.detail)
    except BatchRejected as refused:
        for error in refused.errors:
            name = FEEDBACK_FIELDS.get(error.field, error.field)
            form.refuse(name if name in form.values else "form", f"{error.field}: {error.reason}")
    return None


def _required_text(form: Form, *names: str) -> None:
    for name in names:
        if not form.values.get(name):
            form.refuse(name, "required")


def _rental(form: Form) -> feedback.Feedback | None:
    outcome = _choice(form, "outcome", RENTAL_OUTCOMES)
    item = _choice(form, "item", RENTAL_ITEMS)
    deposit = _choice(form, "deposit", DEPOSITS)
    when = _when(form, "occurred_at")
    amount = _amount(form, required=False)
    if form.errors or when is None:
        return None
    return feedback.RentalFeedback(
        form.values["person_id"],
        form.values["reference"],
        cast(feedback.RentalOutcome, outcome),
        item,
        deposit,
        when,
        amount,
        form.values["currency"] or None,
    )


def _loan(form: Form) -> feedback.Feedback | None:
    outcome = _choice(form, "outcome", LOAN_OUTCOMES)
    amount = _amount(form, required=True)
    due = _day(form, "due_date", required=True)
    paid = _day(form, "paid_date", required=False)
    when = _when(form, "occurred_at")
    if form.errors or when is None or amount is None or due is None:
        return None
    return feedback.LoanFeedback(
        form.values["person_id"],
        form.values["reference"],
        cast(feedback.LoanOutcome, outcome),
        amount,
        form.values["currency"],
        due,
        when,
        paid,
    )


FEEDBACK_FORMS = {
    "rental": (RENTAL_NAMES, ("person_id", "reference"), _rental),
    "loan": (LOAN_NAMES, ("person_id", "reference", "currency"), _loan),
}


@router.post("/partner/feedback/{kind}")
async def send_feedback(
    request: Request,
    caller: PartnerCaller,
    session: Checked,
    kind: Annotated[str, Path(pattern="^(rental|loan)$")],
) -> Response:
    if (lacking := _lacking(request, caller, "feedback")) is not None:
        return lacking
    names, required, parse = FEEDBACK_FORMS[kind]
    data = await _form(request)
    form = Form({n: _text(data, n) for n in names})
    _required_text(form, *required)
    sent = parse(form)
    if sent is not None:
        submitted = _submit_feedback(request, caller, form, sent)
        if submitted is not None:
            return _feedback_page(request, caller, sent=submitted)
    return _feedback_page(
        request,
        caller,
        status=422,
        rental=form if kind == "rental" else None,
        loan=form if kind == "loan" else None,
    )


# -- disputes ------------------------------------------------------------------------------


@router.get("/partner/disputes")
def disputes_page(request: Request, caller: PartnerCaller) -> Response:
    if (lacking := _lacking(request, caller, "disputes")) is not None:
        return lacking
    found = furnisher_disputes.disputes_to_answer(_engine(request), caller)
    return _page(
        request,
        caller,
        "partner_disputes.html",
        open_disputes=[d for d in found if d.dispute.answered_at is None],
        closed=[d for d in found if d.dispute.answered_at is not None],
    )


def _dispute_page(
    request: Request, caller: Caller, dispute_id: str, form: Form, status: int = 200
) -> Response:
    try:
        found = furnisher_disputes.dispute_to_answer(_engine(request), caller, dispute_id)
    except DisputeNotFound:
        return _not_found(request)
    return _page(
        request,
        caller,
        "partner_dispute.html",
        status=status,
        found=found,
        form=form,
        answers=ANSWERS,
    )


@router.get("/partner/disputes/{dispute_id}")
def dispute_page(request: Request, caller: PartnerCaller, dispute_id: DisputePath) -> Response:
    return _lacking(request, caller, "disputes") or _dispute_page(
        request, caller, dispute_id, Form()
    )


def _corrected_values(form: Form) -> dict[str, str] | None:
    """The `field: value` lines of a correction, or None when there are none."""
    raw = form.values.get("values", "")
    values: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            form.refuse("values", f"line {number}: write each correction as field: value")
            return None
        values[name.strip()] = value.strip()
    if len(values) > 20:
        form.refuse("values", "at most 20 corrected fields")
    return values or None


@router.post("/partner/disputes/{dispute_id}/answer")
async def answer(
    request: Request, caller: PartnerCaller, session: Checked, dispute_id: DisputePath
) -> Response:
    if (lacking := _lacking(request, caller, "disputes")) is not None:
        return lacking
    data = await _form(request)
    form = Form(
        {
            "answer": _text(data, "answer"),
            "values": _text(data, "values", 4_000),
            "note": _text(data, "note", answering.MAX_NOTE),
        }
    )
    chosen = _choice(form, "answer", ANSWERS)
    values = _corrected_values(form)
    note = form.values["note"] or None
    if not form.errors:
        correction = None if values is None and note is None else Correction(values or {}, note)
        workspace = request.app.state.workspace
        try:
            answering.answer_dispute(
                workspace.engine,
                workspace.lake_root,
                workspace.profile(),
                caller,
                dispute_id,
                Answer(chosen),
                correction,
            )
        except DisputeNotFound:
            return _not_found(request)
        except KaimenError as refused:
            where = (
                "note" if refused.detail.startswith("the correction's description") else "values"
            )
            form.refuse("answer" if refused.status == 409 else where, refused.detail)
            return _dispute_page(request, caller, dispute_id, form, status=refused.status)
        else:
            return see_other(f"/partner/disputes/{dispute_id}")
    return _dispute_page(request, caller, dispute_id, form, status=422)


# -- API keys ------------------------------------------------------------------------------


def _keys_page(
    request: Request,
    caller: Caller,
    status: int = 200,
    issued: partnering.IssuedKey | None = None,
    form: Form | None = None,
    revoked: str | None = None,
) -> Response:
    return _page(
        request,
        caller,
        "partner_keys.html",
        status=status,
        keys=partnering.keys_of(_engine(request), _partner(caller)),
        issued=issued,
        form=form or Form(),
        revoked=revoked,
        all_scopes=SCOPES,
    )


@router.get("/partner/keys")
def keys_page(
    request: Request,
    caller: PartnerCaller,
    revoked: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None,
) -> Response:
    return _keys_page(request, caller, revoked=revoked)


@router.post("/partner/keys")
async def issue(request: Request, caller: PartnerCaller, session: Checked) -> Response:
    data = await _form(request)
    chosen = [s for s in data.getlist("scopes") if isinstance(s, str)][: len(SCOPES) + 1]
    form = Form({"scopes": ",".join(chosen)})
    if not chosen:
        form.refuse("scopes", f"a key needs at least one scope: {', '.join(SCOPES)}")
        return _keys_page(request, caller, status=422, form=form)
    try:
        issued = partnering.issue_own_key(_engine(request), caller, chosen)
    except (partnering.PartnerRejected, partnering.KeyBeyondScopes) as refused:
        form.refuse("scopes", refused.detail)
        return _keys_page(request, caller, status=422, form=form)
    return _keys_page(request, caller, status=201, issued=issued)


def _own_key(request: Request, caller: Caller, key_id: str) -> partnering.ApiKey | None:
    found = [
        k for k in partnering.keys_of(_engine(request), _partner(caller)) if k.key_id == key_id
    ]
    return found[0] if found else None


@router.get("/partner/keys/{key_id}/revoke")
def confirm_revoke(request: Request, caller: PartnerCaller, key_id: KeyPath) -> Response:
    key = _own_key(request, caller, key_id)
    if key is None or key.revoked_at is not None:
        return _not_found(request)
    return _confirm(request, caller, "revoke", key, None, 200)


@router.post("/partner/keys/{key_id}/revoke")
def revoke(request: Request, caller: PartnerCaller, session: Checked, key_id: KeyPath) -> Response:
    engine = _engine(request)
    try:
        partnering.revoke_own_key(engine, caller, key_id)
    except KaimenError as refused:
        if refused.status == 404:
            return _not_found(request)
        key = _own_key(request, caller, key_id)
        return _confirm(request, caller, "revoke", key, refused.detail, refused.status)
    if key_id == caller.key_id:
        # The session rode on this key: it has ended with it; the browser's cookie goes too.
        if session.secret is not None:
            sign_out(engine, session.secret)
        request.state.session = session.signed_out()
        request.state.caller = None
        return see_other("/sign-in")
    return see_other(f"/partner/keys?revoked={key_id}")
