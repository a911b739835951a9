"""The person's pages: enrolment, the score at a glance (gauge, dimensions, reasons, history
and what moved it), the what-if (sliders and the plan to a target) and the offers.

Each handler checks the session's role, calls the service the API calls for the same thing
and renders; the words of the services' English are translated by `person_words`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from kaimen.domain.callers import Caller
from kaimen.domain.errors import EnrolmentConflict, IdentityRejected
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN
from kaimen.domain.scores import Dimension as DimensionName
from kaimen.scoring.reading import NoScore, ScoreView, read_score
from kaimen.scoring.way_up import (
    TriedWhatIf,
    Tryable,
    WayUp,
    WhatIfStart,
    WhatIfUnsupported,
    plan_for,
    try_changes,
    what_if_start,
)
from kaimen.sharing.offering import PersonsOffer, offers_for
from kaimen.sharing.signing_in import sign_in_after_enrolment
from kaimen.web.callers import caller_of
from kaimen.web.gauge import Gauge, gauge_of
from kaimen.web.languages import DEFAULT, Language, translations
from kaimen.web.pages.access import LANDING, Checked, PersonCaller, see_other
from kaimen.web.person_words import (
    Translate,
    bin_label,
    described,
    enrolment_message,
    mover_sentence,
    reason_sentence,
)
from kaimen.web.rendering import render
from kaimen.web.words import BAND_WORDS, DIMENSION_WORDS, N_

router = APIRouter()
# As the API's enrolment body allows (`EnrolmentIn`); longer is refused beside the field.
FIELD_MAX = 32
# What a form may send at all before it is not worth reading (a 400 page).
FORM_MAX = 256
# A what-if form field per characteristic: its name on the card, the value the index of a
# choice.
WHAT_IF_PREFIX = "try-"


def _translate(request: Request) -> tuple[Translate, bool]:
    language: Language = request.state.language
    return translations(language).gettext, language == DEFAULT


# -- enrolment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolForm:
    phone: str = ""
    national_id: str = ""
    failed: str | None = None  # "phone" or "national_id"
    error: str | None = None  # beside the failed field, in the page's language
    taken: bool = False  # the ID is already enrolled: point to signing in


def _signed_in_elsewhere(request: Request) -> Response | None:
    caller = caller_of(request)
    return None if caller is None else see_other(LANDING[caller.kind])


@router.get("/enrol")
def enrol_page(request: Request) -> Response:
    return _signed_in_elsewhere(request) or render(request, "enrol.html", form=EnrolForm())


def _refused(form: EnrolForm, field: str, error: str, taken: bool = False) -> EnrolForm:
    return EnrolForm(form.phone, form.national_id, field, error, taken)


@router.post("/enrol")
def enrol(
    request: Request,
    session: Checked,
    phone: Annotated[str, Form(max_length=FORM_MAX)] = "",
    national_id: Annotated[str, Form(max_length=FORM_MAX)] = "",
) -> Response:
    elsewhere = _signed_in_elsewhere(request)
    if elsewhere is not None:
        return elsewhere
    translate, _ = _translate(request)
    form = EnrolForm(phone, national_id)
    too_long = translate(N_("at most %(count)s characters")) % {"count": FIELD_MAX}
    refused: EnrolForm
    status = 422
    if len(national_id) > FIELD_MAX:
        refused = _refused(form, "national_id", too_long)
    elif len(phone) > FIELD_MAX:
        refused = _refused(form, "phone", too_long)
    else:
        workspace = request.app.state.workspace
        try:
            signed = sign_in_after_enrolment(workspace.engine, workspace.vault, phone, national_id)
        except IdentityRejected as rejected:
            field = "phone" if rejected.reason == "phone_format" else "national_id"
            refused = _refused(form, field, enrolment_message(rejected.message, translate))
        except EnrolmentConflict as conflict:
            field = "phone" if conflict.reason == "phone_taken" else "national_id"
            message = enrolment_message(conflict.message, translate)
            refused = _refused(form, field, message, conflict.reason == "identity_taken")
            status = 409
        else:
            request.state.session = session.signed_in(signed.secret)
            request.state.caller = signed.caller
            return see_other(LANDING["person"])
    return render(request, "enrol.html", status_code=status, form=refused)


# -- the score at a glance ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    key: str
    name: str
    about: str
    value: int | None


@dataclass(frozen=True)
class Reason:
    sentence: str
    points_lost: int
    english: bool  # said in English whatever the page's language (a court's own words)


@dataclass(frozen=True)
class HistoryMonth:
    month: str
    score: int | None
    change: int | None
    moved: tuple[str, ...]


@dataclass(frozen=True)
class PersonPage:
    view: ScoreView
    gauge: Gauge | None
    band_word: str | None
    change: int | None
    previous_month: str | None
    dimensions: tuple[Dimension, ...]
    reasons: tuple[Reason, ...]
    history: tuple[HistoryMonth, ...]  # newest first
    chart_months: str  # JSON, oldest first, for the chart's data attributes
    chart_scores: str


def person_page(view: ScoreView, translate: Translate, english: bool) -> PersonPage:
    latest = view.history[0] if view.history else None
    previous = view.history[1] if len(view.history) > 1 else None
    oldest_first = list(reversed(view.history))
    return PersonPage(
        view=view,
        gauge=None if view.score is None else gauge_of(view.score),
        band_word=None if view.band is None else BAND_WORDS.get(view.band, view.band),
        change=None if latest is None else latest.change,
        previous_month=None if previous is None else previous.month,
        dimensions=tuple(
            Dimension(name.value, *DIMENSION_WORDS[name.value], view.dimensions.get(name))
            for name in DimensionName
        ),
        reasons=tuple(
            Reason(
                reason_sentence(r, translate, english),
                r.points_lost,
                english=not english and r.detail is not None,
            )
            for r in view.reasons
        ),
        history=tuple(
            HistoryMonth(
                m.month,
                m.score,
                m.change,
                tuple(
                    mover_sentence(mover, said, translate, english)
                    for mover, said in zip(m.movers, m.why, strict=True)
                ),
            )
            for m in view.history
        ),
        chart_months=json.dumps([m.month for m in oldest_first]),
        chart_scores=json.dumps([m.score for m in oldest_first]),
    )


def _person_id(caller: Caller) -> str:
    assert caller.person_id is not None
    return caller.person_id


@router.get("/me")
def me(request: Request, caller: PersonCaller) -> Response:
    try:
        view = read_score(request.app.state.workspace.engine, _person_id(caller), caller)
    except NoScore:
        return render(request, "no_score.html")
    translate, english = _translate(request)
    return render(request, "person.html", page=person_page(view, translate, english))


# -- what-if ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slider:
    feature: str
    field: str
    description: str
    labels: tuple[str, ...]  # one per choice, in the page's language
    current: int  # the person's choice now
    chosen: int  # the choice the form holds
    labels_json: str  # for the script that says the label as the slider moves


@dataclass(frozen=True)
class Tried:
    """A what-if's answer as the page shows it."""

    score: int
    new_score: int
    gauge: Gauge
    band_word: str
    moved: tuple[tuple[str, int], ...]  # (what, points) per characteristic that moved
    tried_json: str  # the values tried, as the API's what-if takes them


@dataclass(frozen=True)
class PlanStep:
    description: str
    current_label: str
    new_label: str
    points_added: int


@dataclass(frozen=True)
class PlanShown:
    plan: WayUp
    steps: tuple[PlanStep, ...]


@dataclass(frozen=True)
class TargetForm:
    value: str
    error: str | None = None


def _sliders(
    start: WhatIfStart, chosen: dict[str, int], translate: Translate
) -> tuple[Slider, ...]:
    def slider(t: Tryable) -> Slider:
        labels = tuple(bin_label(c.label, translate) for c in t.choices)
        return Slider(
            t.feature,
            WHAT_IF_PREFIX + t.feature,
            described(t.feature, translate),
            labels,
            t.current,
            chosen.get(t.feature, t.current),
            json.dumps(labels, ensure_ascii=False),
        )

    return tuple(slider(t) for t in start.tryable)


def _tried(answer: TriedWhatIf, translate: Translate) -> Tried:
    gauge = gauge_of(answer.new_score)
    return Tried(
        answer.score,
        answer.new_score,
        gauge,
        BAND_WORDS.get(gauge.band.name, gauge.band.name),
        tuple(
            (described(feature, translate), points)
            for feature, points in sorted(answer.points_change.items(), key=lambda c: -abs(c[1]))
        ),
        json.dumps(answer.tried, sort_keys=True),
    )


def _plan(plan: WayUp, translate: Translate) -> PlanShown:
    return PlanShown(
        plan,
        tuple(
            PlanStep(
                described(c.feature, translate),
                bin_label(c.current_label, translate),
                bin_label(c.new_label, translate),
                c.points_added,
            )
            for c in plan.changes
        ),
    )


def _parse_target(raw: str | None, translate: Translate) -> tuple[int | None, TargetForm]:
    if raw is None or raw.strip() == "":
        return None, TargetForm("")
    text = raw.strip()
    if text.isascii() and text.isdigit() and SCORE_MIN <= int(text) <= SCORE_MAX:
        return int(text), TargetForm(text)
    error = translate(N_("a whole number from %(low)s to %(high)s")) % {
        "low": SCORE_MIN,
        "high": SCORE_MAX,
    }
    return None, TargetForm(text, error)


def _default_target(score: int) -> int:
    """The next band's floor: the plan's first suggestion."""
    above = [b.low for b in BANDS if b.low > score]
    return above[0] if above else SCORE_MAX


def _start(request: Request, caller: Caller) -> WhatIfStart | Response:
    """Where the person's what-if starts, or the page that says why there is none."""
    workspace = request.app.state.workspace
    try:
        return what_if_start(
            workspace.engine,
            workspace.lake_root,
            workspace.profile(),
            _person_id(caller),
            caller,
            workspace.backend(),
        )
    except NoScore:
        return render(request, "no_score.html")
    except WhatIfUnsupported:
        return render(request, "whatif_unsupported.html", status_code=409)


def _what_if_page(
    request: Request,
    caller: Caller,
    start: WhatIfStart,
    chosen: dict[str, int],
    tried: TriedWhatIf | None,
    target_raw: str | None,
) -> Response:
    workspace = request.app.state.workspace
    person_id = _person_id(caller)
    translate, _ = _translate(request)
    status_code = 200
    target, target_form = _parse_target(target_raw, translate)
    plan = None
    if target is not None:
        plan = _plan(
            plan_for(
                workspace.engine,
                workspace.lake_root,
                workspace.profile(),
                person_id,
                target,
                caller,
                workspace.backend(),
            ),
            translate,
        )
    elif target_form.error is not None:
        status_code = 422
    return render(
        request,
        "whatif.html",
        status_code=status_code,
        start=start,
        gauge=gauge_of(start.score),
        sliders=_sliders(start, chosen, translate),
        tried=None if tried is None else _tried(tried, translate),
        plan=plan,
        target=target_form
        if target_form.value or target_form.error
        else TargetForm(str(_default_target(start.score))),
    )


@router.get("/me/what-if")
def what_if_page(
    request: Request,
    caller: PersonCaller,
    target: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    start = _start(request, caller)
    if isinstance(start, Response):
        return start
    return _what_if_page(request, caller, start, {}, None, target)


class BadChoice(ValueError):
    """A what-if form with a choice that is not one of the page's."""


def _chosen(form: FormData, start: WhatIfStart) -> dict[str, int]:
    """The choice index per characteristic the form holds (the page's own fields only)."""
    by_field = {WHAT_IF_PREFIX + t.feature: t for t in start.tryable}
    chosen: dict[str, int] = {}
    for field, raw in form.multi_items():
        tryable = by_field.get(field)
        if tryable is None:
            continue
        if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
            raise BadChoice(field)
        index = int(raw)
        if index >= len(tryable.choices):
            raise BadChoice(field)
        chosen[tryable.feature] = index
    return chosen


async def _form(request: Request) -> FormData:
    return await request.form()


@router.post("/me/what-if")
def what_if(
    request: Request,
    caller: PersonCaller,
    session: Checked,
    form: Annotated[FormData, Depends(_form)],
) -> Response:
    """The score with the sliders' values: the result alone for the page's script (htmx),
    the whole page for a browser without it."""
    workspace = request.app.state.workspace
    translate, _ = _translate(request)
    start = _start(request, caller)
    if isinstance(start, Response):
        return start
    try:
        chosen = _chosen(form, start)
    except BadChoice:
        return render(request, "error.html", status_code=400, status=400)
    choices = {t.feature: t for t in start.tryable}
    changes = {
        feature: choices[feature].choices[index].value
        for feature, index in chosen.items()
        if index != choices[feature].current
    }
    tried = try_changes(
        workspace.engine,
        workspace.lake_root,
        workspace.profile(),
        _person_id(caller),
        changes,
        caller,
        workspace.backend(),
    )
    if request.headers.get("hx-request") == "true":
        return render(request, "whatif_result.html", tried=_tried(tried, translate))
    return _what_if_page(request, caller, start, chosen, tried, None)


# -- offers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferShown:
    offer: PersonsOffer
    dimensions_short: tuple[tuple[str, int], ...]  # (the dimension's name, the minimum)


@router.get("/me/offers")
def offers(request: Request, caller: PersonCaller) -> Response:
    found = offers_for(request.app.state.workspace.engine, _person_id(caller), caller)
    shown = [
        OfferShown(
            o, tuple((DIMENSION_WORDS[d.value][0], floor) for d, floor in o.dimensions_short)
        )
        for o in found
    ]
    return render(
        request,
        "offers.html",
        unlocked=[o for o in shown if o.offer.unlocked],
        locked=[o for o in shown if not o.offer.unlocked],
    )
