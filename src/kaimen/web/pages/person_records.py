"""The person's records: consents, the access log, decisions and reports about them, disputes,
the points ledger, the export, and leaving.

Each handler checks the session's role, calls the service the API's route for the same thing
calls (`api/me_routes`, `dispute_routes`, `points_routes`, `own_data_routes`) and renders. A
form's bad input is answered beside its field, and nothing is stored."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from starlette.responses import Response

from kaimen.domain.disputes import (
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    MAX_STATEMENT_CHARACTERS,
    DisputeRejected,
    Evidence,
    ItemKind,
    ItemRef,
)
from kaimen.domain.errors import KaimenError
from kaimen.dueprocess import disputing
from kaimen.dueprocess import evidence as evidence_files
from kaimen.dueprocess.disputing import DisputeView
from kaimen.dueprocess.negative_items import NegativeItem, negative_items_of
from kaimen.points import standing
from kaimen.points.rulebooks import NoRulebook, ProgrammeOff
from kaimen.sharing import consenting, disclosures, own_data, partnering
from kaimen.sharing.consenting import MAX_CONSENT, PURPOSES, Consent
from kaimen.web.pages.access import Checked, PersonCaller, own_person_id, see_other
from kaimen.web.rendering import render
from kaimen.web.words import N_

router = APIRouter()
MAX_ID = 2**63 - 1
# The longest item reference a form may name ("court_listing:" and a 200-character ref).
ITEM_MAX = 220
NOTICES = ("granted", "revoked", "filed")

# Words the templates translate by value: purposes and states.
WORDS = (
    N_("decision"),
    N_("report"),
    N_("feedback"),
    N_("live"),
    N_("expired"),
    N_("revoked"),
    N_("open"),
    N_("verified"),
    N_("corrected"),
    N_("deleted"),
    N_("unverifiable"),
    N_("lapsed"),
    N_("disputed"),
    N_("suppressed"),
)
# The kinds of item (and of event) a person may dispute, as the page names them.
KIND_WORDS = {
    "event": N_("event"),
    "court_listing": N_("court listing"),
    "identity_link": N_("link to a court listing"),
    "points_entry": N_("points deduction"),
    "loan_repayment": N_("loan repayment"),
    "bill_repayment": N_("bill repayment"),
    "rent_payment": N_("rent payment"),
    "utility_payment": N_("utility payment"),
    "rental": N_("rental"),
    "fine": N_("fine"),
    "court_judgment": N_("court judgment"),
}
# What each state of a dispute means for the person, in plain words.
DISPUTE_MEANINGS = {
    "open": N_(
        "Waiting for the furnisher's answer. The item does not count against you meanwhile."
    ),
    "verified": N_("The furnisher checked and kept the item; your statement goes with it."),
    "corrected": N_("The furnisher corrected the item; the old version no longer counts."),
    "deleted": N_("The furnisher deleted the item; it no longer counts."),
    "unverifiable": N_("The furnisher could not verify the item; it no longer counts."),
    "lapsed": N_("The furnisher did not answer in time; the item no longer counts."),
}


def _notice(done: str | None) -> str | None:
    return done if done in NOTICES else None


# -- consents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownConsent:
    consent: Consent
    state: str  # live, expired or revoked


@dataclass(frozen=True)
class ConsentForm:
    """What the grant form was sent, and what was wrong with each field."""

    partner: str = ""
    purpose: str = ""
    share_score: bool = False
    until: str = ""  # "revoked" (until I revoke it) or "date"
    expires_on: str = ""
    errors: tuple[tuple[str, str], ...] = ()  # (field, message id)

    def error(self, field: str) -> str | None:
        return dict(self.errors).get(field)


def _consents_page(
    request: Request, person_id: str, form: ConsentForm, done: str | None, status: int = 200
) -> Response:
    engine = request.app.state.workspace.engine
    now = dt.datetime.now(dt.UTC)
    shown = [
        ShownConsent(
            c, "revoked" if c.revoked_at is not None else "live" if c.live_at(now) else "expired"
        )
        for c in consenting.consents_of(engine, person_id)
    ]
    return render(
        request,
        "consents.html",
        status_code=status,
        consents=shown,
        partners=partnering.consentable_partners(engine),
        purposes=PURPOSES,
        form=form,
        done=_notice(done),
        today=now.date().isoformat(),
    )


@router.get("/me/consents")
def consents_page(
    request: Request,
    caller: PersonCaller,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    return _consents_page(request, own_person_id(caller), ConsentForm(), done)


def _checked_grant(
    form: ConsentForm, partner_ids: set[str], now: dt.datetime
) -> tuple[ConsentForm, consenting.ConsentRequest | None]:
    errors: list[tuple[str, str]] = []
    if form.partner not in partner_ids:
        errors.append(("partner", "partner"))
    if form.purpose not in PURPOSES:
        errors.append(("purpose", "purpose"))
    elif form.share_score and form.purpose != "decision":
        errors.append(("share_score", "share_score"))
    expires_at = None
    if form.until == "date":
        try:
            day = dt.date.fromisoformat(form.expires_on)
        except ValueError:
            errors.append(("expires_on", "date"))
        else:
            # The consent holds to the end of the chosen day (UTC); the last day of the
            # calendar has no day after it, and is far beyond any consent anyway.
            end = day + dt.timedelta(days=1) if day < dt.date.max else day
            expires_at = dt.datetime.combine(end, dt.time(), dt.UTC)
            if expires_at <= now:
                errors.append(("expires_on", "past"))
            elif expires_at > now + MAX_CONSENT:
                errors.append(("expires_on", "far"))
    elif form.until != "revoked":
        errors.append(("until", "until"))
    if errors:
        return replace(form, errors=tuple(errors)), None
    return form, consenting.ConsentRequest(form.partner, form.purpose, expires_at, form.share_score)


@router.post("/me/consents")
def grant(
    request: Request,
    caller: PersonCaller,
    session: Checked,
    partner: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=16)] = "",
    share_score: Annotated[str, Form(max_length=8)] = "",
    until: Annotated[str, Form(max_length=16)] = "",
    expires_on: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    person_id = own_person_id(caller)
    engine = request.app.state.workspace.engine
    now = dt.datetime.now(dt.UTC)
    sent = ConsentForm(partner, purpose, share_score == "yes", until, expires_on)
    known = {p.partner_id for p in partnering.consentable_partners(engine)}
    checked, asked = _checked_grant(sent, known, now)
    if asked is None:
        return _consents_page(request, person_id, checked, None, status=422)
    consenting.grant_consent(engine, person_id, asked, caller.actor, now)
    return see_other("/me/consents?done=granted")


@router.post("/me/consents/{consent_id}/revoke")
def revoke(
    request: Request,
    caller: PersonCaller,
    session: Checked,
    consent_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    engine = request.app.state.workspace.engine
    now = dt.datetime.now(dt.UTC)
    consenting.revoke_consent(engine, own_person_id(caller), consent_id, caller.actor, now)
    return see_other("/me/consents?done=revoked")


# -- who read my data, and what they decided ------------------------------------------------


@router.get("/me/access-log")
def access_log(request: Request, caller: PersonCaller) -> Response:
    engine = request.app.state.workspace.engine
    return render(
        request,
        "access_log.html",
        accesses=disclosures.access_log_of(engine, own_person_id(caller)),
    )


@router.get("/me/decisions")
def decisions(request: Request, caller: PersonCaller) -> Response:
    engine = request.app.state.workspace.engine
    person_id = own_person_id(caller)
    reports = [a for a in disclosures.access_log_of(engine, person_id) if a.what == "report"]
    return render(
        request,
        "decisions.html",
        decisions=disclosures.decisions_about(engine, person_id),
        reports=reports,
    )


# -- disputes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputeForm:
    item: str = ""
    statement: str = ""
    errors: tuple[tuple[str, str], ...] = ()  # (field, message); "said" ids are translated
    said: tuple[str, ...] = ()  # fields whose message is the service's own words

    def error(self, field: str) -> str | None:
        return dict(self.errors).get(field)


@dataclass(frozen=True)
class ShownDispute:
    view: DisputeView
    meaning: str
    days_left: int | None  # whole days to the answer's deadline; None once it has passed


def _shown(view: DisputeView, now: dt.datetime) -> ShownDispute:
    left = view.dispute.answer_due_at - now
    return ShownDispute(
        view,
        DISPUTE_MEANINGS[view.dispute.state.value],
        None if left.total_seconds() < 0 else left.days,
    )


def _item_value(item: ItemRef) -> str:
    return f"{item.kind.value}:{item.ref}"


def _disputes_page(
    request: Request, person_id: str, caller: PersonCaller, form: DisputeForm, done: str | None
) -> Response:
    workspace = request.app.state.workspace
    items: list[NegativeItem] = negative_items_of(workspace.engine, workspace.lake_root, person_id)
    profile = workspace.profile()
    now = dt.datetime.now(dt.UTC)
    return render(
        request,
        "disputes.html",
        status_code=422 if form.errors else 200,
        items=[(_item_value(i.item), i) for i in items],
        disputes=[
            _shown(v, now) for v in disputing.disputes_of(workspace.engine, caller, person_id)
        ],
        kinds=KIND_WORDS,
        max_words=profile.statement_max_words,
        max_characters=MAX_STATEMENT_CHARACTERS,
        max_files=MAX_EVIDENCE_FILES,
        max_megabytes=MAX_EVIDENCE_BYTES // (1024 * 1024),
        form=form,
        done=_notice(done),
    )


@router.get("/me/disputes")
def disputes_page(
    request: Request,
    caller: PersonCaller,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    return _disputes_page(request, own_person_id(caller), caller, DisputeForm(), done)


def _item_ref(value: str) -> ItemRef | None:
    kind, _, ref = value.partition(":")
    try:
        return ItemRef(ItemKind(kind), ref) if ref else None
    except ValueError:
        return None


def _uploaded(parts: list[UploadFile | str]) -> list[Evidence]:
    """The files chosen (a browser sends an empty, unnamed part when none is, which arrives
    as text), each read to one byte past the limit so an oversized one is refused by name
    without holding it all."""
    return [
        Evidence(part.filename, part.file.read(MAX_EVIDENCE_BYTES + 1))
        for part in parts
        if not isinstance(part, str) and part.filename
    ]


@router.post("/me/disputes")
def file_dispute(
    request: Request,
    caller: PersonCaller,
    session: Checked,
    item: Annotated[str, Form(max_length=ITEM_MAX)] = "",
    # Longer than a statement may be, so an overlong one is refused beside its field.
    statement: Annotated[str, Form(max_length=MAX_STATEMENT_CHARACTERS * 4)] = "",
    evidence: Annotated[list[UploadFile | str] | None, File()] = None,
) -> Response:
    person_id = own_person_id(caller)
    workspace = request.app.state.workspace
    profile = workspace.profile()
    errors: list[tuple[str, str]] = []
    said: list[str] = []
    chosen = _item_ref(item)
    if chosen is None:
        errors.append(("item", "item"))
    if not statement.strip():
        errors.append(("statement", "statement"))
    else:
        try:
            disputing.check_statement(statement, profile)
        except DisputeRejected as refused:
            errors.append(("statement", str(refused)))
            said.append("statement")
    files = _uploaded(evidence or [])
    try:
        evidence_files.check(files)
    except DisputeRejected as refused:
        errors.append(("evidence", str(refused)))
        said.append("evidence")
    if chosen is not None and not errors:
        try:
            disputing.file_dispute(
                workspace.engine,
                workspace.lake_root,
                workspace.evidence_dir,
                profile,
                caller,
                person_id,
                chosen,
                statement,
                files,
            )
        except KaimenError as refused:
            # Not one of theirs, not negative, or not open to dispute: said beside the item.
            errors.append(("item", str(refused)))
            said.append("item")
    if errors:
        form = DisputeForm(item, statement, tuple(errors), tuple(said))
        return _disputes_page(request, person_id, caller, form, None)
    return see_other("/me/disputes?done=filed")


# -- points -------------------------------------------------------------------------------


@router.get("/me/points")
def points(request: Request, caller: PersonCaller) -> Response:
    workspace = request.app.state.workspace
    profile = workspace.profile()
    try:
        seen = standing.my_points(workspace.engine, profile, caller, own_person_id(caller))
    except ProgrammeOff as off:
        return render(request, "points.html", seen=None, off=str(off), missing=False)
    except NoRulebook:
        return render(request, "points.html", seen=None, off=None, missing=True)
    return render(request, "points.html", seen=seen, off=None, missing=False)


# -- own data: export and leaving ------------------------------------------------------------


@router.get("/me/export")
def export_page(request: Request, caller: PersonCaller) -> Response:
    return render(request, "export.html")


@router.get("/me/export/download")
def export_download(request: Request, caller: PersonCaller) -> Response:
    workspace = request.app.state.workspace
    person_id = own_person_id(caller)
    document = own_data.export_for(
        workspace.engine, workspace.vault, workspace.lake_root, person_id, caller
    )
    body = json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2)
    return Response(
        body.encode(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="kaimen-{person_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/me/leaving")
def leaving_page(request: Request, caller: PersonCaller) -> Response:
    return render(request, "leaving.html", failed=False)


@router.post("/me/leaving")
def leave(
    request: Request,
    caller: PersonCaller,
    session: Checked,
    understood: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if understood != "yes":
        return render(request, "leaving.html", status_code=422, failed=True)
    workspace = request.app.state.workspace
    own_data.opt_out(
        workspace.engine,
        workspace.lake_root,
        own_person_id(caller),
        caller.actor,
        dt.datetime.now(dt.UTC),
        workspace.profile(),
        workspace.evidence_dir,
    )
    # Leaving ended the store's session (its person is gone); the cookie's goes too.
    request.state.session = session.signed_out()
    request.state.caller = None
    return see_other("/?left=1")
