"""The analyst's and the admin's pages: the partners, the model card, the spiral sandbox, the
identity and payments review queues and every running clock.

Each handler checks the session is the admin's, calls the service the API route or the
command for the same thing calls, and renders. Acting on a queue is a CSRF-checked form."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from kaimen.config import Workspace
from kaimen.domain.errors import KaimenError
from kaimen.domain.profiles import load
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.dueprocess import clocks, identity_links, settlement
from kaimen.dueprocess.rescoring import Rescoring
from kaimen.scoring.model_room import ModelRoom, model_room
from kaimen.scoring.models import NoModel, promote
from kaimen.sharing import partnering
from kaimen.simulate.spiral import SpiralReport, SpiralRun, SpiralSettings, run_spiral
from kaimen.web.charts import Chart, Colour, Series
from kaimen.web.languages import translations
from kaimen.web.pages.access import AdminCaller, Checked, see_other
from kaimen.web.rendering import render
from kaimen.web.words import BAND_WORDS, N_

router = APIRouter()
QUEUE_LIMIT = 100
PaymentPath = Annotated[str, Path(pattern=r"^P[0-9A-F]{16}$")]
ReviewPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
ListingField = Annotated[str, Form(max_length=32)]
ReasonField = Annotated[str, Form(max_length=1000)]
# What a queue page says after an action (its `done` query), and nothing else.
DONE: dict[str, str] = {
    "approved": N_("Approved."),
    "rejected": N_("Rejected."),
    "promoted": N_("The model is the champion now."),
}
CLOCK_WORDS: dict[str, str] = {
    "dispute": N_("Dispute awaiting an answer"),
    "furnisher_notice": N_("Furnisher not yet told"),
    "outbox": N_("Message waiting to be delivered"),
    "dead_letter": N_("Message that could not be delivered"),
    "pending_removal": N_("Listing waiting to be lifted"),
    "payment_review": N_("Payment waiting for review"),
    "link_review": N_("Candidate identity link waiting for review"),
}
# The stability levels (`model/stability.py`), shown in the page's language.
LEVEL_WORDS: dict[str, str] = {"stable": N_("stable"), "watch": N_("watch"), "act": N_("act")}
# Where the admin acts on a clock's item, when there is a page for it.
CLOCK_PAGES = {"payment_review": "/admin/payments", "link_review": "/admin/identity-reviews"}
# The web sandbox runs in the request: at most this many people (the command has no cap).
SPIRAL_PEOPLE_MAX = 20_000
SPIRAL_MONTHS_MAX = 60


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(request.state.language).gettext


def _done(done: str | None) -> str | None:
    return DONE.get(done or "")


# -- the overview ---------------------------------------------------------------------------


@router.get("/admin")
def overview(request: Request, caller: AdminCaller) -> Response:
    return render(
        request, "admin.html", partners=partnering.list_partners(_workspace(request).engine)
    )


# -- the model card -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPage:
    room: ModelRoom
    roc: Chart | None
    ks: Chart | None
    distribution: Chart | None
    bad_rates: Chart | None
    stability: Chart | None
    # The curves' text alternatives: bads' share at each tenth of goods (one per model), and
    # both shares at every 50 points of cut-off.
    roc_table: tuple[tuple[float, tuple[float, ...]], ...]
    ks_table: tuple[tuple[int, float, float], ...]


ROC_GRID = np.linspace(0.0, 1.0, 101)


def _roc_chart(room: ModelRoom, _: Callable[[str], str]) -> Chart | None:
    if room.curves is None:
        return None
    colours: tuple[Colour, Colour] = ("blue", "red")
    series = [
        Series(
            f"{curve.kind} ({_('champion') if i == 0 else _('challenger')})",
            # Resampled on one grid of goods' shares, so every model shares the x axis.
            tuple(np.round(np.interp(ROC_GRID, curve.goods, curve.bads), 4).tolist()),
            colours[i % 2],
        )
        for i, curve in enumerate(room.curves.roc)
    ]
    series.append(Series(_("chance"), tuple(ROC_GRID.round(4).tolist()), "grey", dashed=True))
    return Chart(
        "line",
        tuple(ROC_GRID.round(4).tolist()),
        tuple(series),
        _("Share of goods at or below the cut-off"),
        _("Share of bads at or below the cut-off"),
        y_range=(0.0, 1.0),
        x_range=(0.0, 1.0),
        percent=True,
        x_percent=True,
    )


def _ks_chart(room: ModelRoom, _: Callable[[str], str]) -> Chart | None:
    if room.curves is None:
        return None
    ks = room.curves.ks
    return Chart(
        "line",
        tuple(float(c) for c in ks.cut_offs),
        (
            Series(_("bads"), tuple(round(v, 4) for v in ks.bads), "red"),
            Series(_("goods"), tuple(round(v, 4) for v in ks.goods), "blue"),
        ),
        _("Score (cut-off)"),
        _("Share at or below the cut-off"),
        y_range=(0.0, 1.0),
        percent=True,
    )


def _band_ticks(_: Callable[[str], str]) -> tuple[str, ...]:
    return tuple(_(word) for word in BAND_WORDS.values())


def model_page(room: ModelRoom, _: Callable[[str], str]) -> ModelPage:
    distribution = (
        None
        if room.distribution is None
        else Chart(
            "bars",
            tuple(float(i) for i in range(len(room.distribution.bins))),
            (Series(_("people"), tuple(b.people for b in room.distribution.bins), "blue"),),
            _("Score"),
            _("People"),
            ticks=tuple(str(b.low) for b in room.distribution.bins),
        )
    )
    out_of_time = room.champion.out_of_time
    bad_rates = (
        None
        if out_of_time is None
        else Chart(
            "bars",
            tuple(float(i) for i in range(len(out_of_time.bad_rate_by_band))),
            (
                Series(
                    _("observed"), tuple(b.bad_rate for b in out_of_time.bad_rate_by_band), "blue"
                ),
                Series(
                    _("expected"),
                    tuple(b.expected_bad_rate for b in out_of_time.bad_rate_by_band),
                    "grey",
                ),
            ),
            _("Band"),
            _("Bad rate"),
            ticks=_band_ticks(_),
            percent=True,
        )
    )
    months = room.stability
    stability = (
        None
        if not months
        else Chart(
            "line",
            tuple(float(i) for i in range(len(months))),
            (
                Series(_("score PSI"), tuple(round(m.psi, 4) for m in months), "blue"),
                Series(_("watch from 0.1"), tuple(0.1 for _m in months), "grey", dashed=True),
                Series(_("act above 0.25"), tuple(0.25 for _m in months), "red", dashed=True),
            ),
            _("Month"),
            _("PSI"),
            y_range=(0.0, max(0.3, *(m.psi * 1.1 for m in months))),
            ticks=tuple(m.month for m in months),
        )
    )
    return ModelPage(
        room,
        _roc_chart(room, _),
        _ks_chart(room, _),
        distribution,
        bad_rates,
        stability,
        *_curve_tables(room),
    )


def _curve_tables(
    room: ModelRoom,
) -> tuple[tuple[tuple[float, tuple[float, ...]], ...], tuple[tuple[int, float, float], ...]]:
    if room.curves is None:
        return (), ()
    tenths = np.linspace(0.0, 1.0, 11)
    by_model = [np.interp(tenths, c.goods, c.bads) for c in room.curves.roc]
    roc = tuple(
        (float(x), tuple(float(m[i]) for m in by_model)) for i, x in enumerate(tenths.tolist())
    )
    ks = room.curves.ks
    cut_offs = np.asarray(ks.cut_offs)
    rows = []
    for cut in range(SCORE_MIN, SCORE_MAX + 1, 50):
        # The shares at the highest score at or below the cut (0 below the lowest score).
        i = int(np.searchsorted(cut_offs, cut, side="right")) - 1
        rows.append((cut, ks.bads[i] if i >= 0 else 0.0, ks.goods[i] if i >= 0 else 0.0))
    return roc, tuple(rows)


@router.get("/admin/model")
def model_card(
    request: Request,
    caller: AdminCaller,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    ws = _workspace(request)
    try:
        room = model_room(ws.engine, ws.backend(), ws.lake_root, ws.model_cards_dir)
    except NoModel:
        return render(request, "admin_model.html", page=None, done=None)
    return render(
        request,
        "admin_model.html",
        page=model_page(room, _gettext(request)),
        done=_done(done),
        band_words=BAND_WORDS,
        levels=LEVEL_WORDS,
    )


@router.post("/admin/model/promote")
def promote_model(
    request: Request,
    caller: AdminCaller,
    session: Checked,
    version: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """`kaimen promote VERSION`: make a registered model the champion (audit-logged)."""
    ws = _workspace(request)
    promote(ws.engine, version, caller.actor, lake_root=ws.lake_root)
    return see_other("/admin/model?done=promoted")


# -- the spiral sandbox ---------------------------------------------------------------------

SPIRAL_FIELDS = {
    "seed": "seed",
    "people": "people",
    "months": "months",
    "listed": "listed",
    "share": "share",
    "tie value": "tie_value",
}


@functools.lru_cache(maxsize=8)
def _spiral(settings: SpiralSettings, profile: str) -> SpiralReport:
    # The same settings and profile always give the same report: a re-visit reads it again.
    return run_spiral(settings, load(profile))


@dataclass(frozen=True)
class SpiralLine:
    measure: str
    unbounded: str
    bounded: str


@dataclass(frozen=True)
class SpiralPage:
    report: SpiralReport
    lines: tuple[SpiralLine, ...]
    charts: tuple[tuple[str, str, Chart], ...]  # (id, title, chart)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def spiral_lines(report: SpiralReport, _: Callable[[str], str]) -> tuple[SpiralLine, ...]:
    """The sandbox's summary table (`spiral_report.summary`), its measures in the page's
    language."""
    ties = report.ties

    def line(measure: str, show: Callable[[SpiralRun], str]) -> SpiralLine:
        return SpiralLine(measure, show(report.unbounded), show(report.bounded))

    def moved(name: str, places: int = 0) -> Callable[[SpiralRun], str]:
        """A month's measure before the listing → at the last month."""

        def shown(run: SpiralRun) -> str:
            first, last = getattr(run.before, name), getattr(run.after, name)
            return f"{first:,.{places}f} → {last:,.{places}f}"

        return shown

    return (
        line(_("Listed person's score, before → last month"), moved("listed_score")),
        line(
            _("Listed person's fall, points (the penalty is %(penalty)s)")
            % {"penalty": report.penalty},
            lambda r: str(r.listed_fall),
        ),
        line(
            _("Listed person's friends kept"),
            lambda r: f"{r.after.listed_friends} / {r.before.listed_friends}",
        ),
        line(_("Ties of listed people cut"), lambda r: _count(r.after.listed_ties_cut)),
        line(_("Their friends' mean score, before → after"), moved("circle_mean_score", 1)),
        line(
            _("Largest fall among their friends, points"),
            lambda r: str(r.after.circle_largest_fall),
        ),
        line(
            _("Ties cut, all"),
            lambda r: (
                f"{_count(r.after.ties_cut)} / {_count(ties)} "
                f"({100 * r.after.ties_cut / ties:.1f}%)"
            ),
        ),
        line(_("Connected components"), moved("components")),
        line(_("Isolated people"), moved("isolated")),
        line(_("Largest component, people"), moved("largest_component")),
        line(_("Mean score"), moved("mean_score", 1)),
        line(_("Gini of scores"), moved("gini", 4)),
    )


SPIRAL_PANELS = (
    ("listed_score", N_("Listed person's score")),
    ("listed_friends", N_("Listed person's friends left")),
    ("ties_cut", N_("Ties cut, all people")),
    ("isolated", N_("People with no friend left")),
)


def spiral_page(report: SpiralReport, _: Callable[[str], str]) -> SpiralPage:
    months = [m.month for m in report.unbounded.months]
    charts = tuple(
        (
            f"spiral-{name.replace('_', '-')}",
            _(title),
            Chart(
                "line",
                tuple(float(i) for i in range(len(months))),
                (
                    Series(
                        _("unbounded coupling"),
                        tuple(float(getattr(m, name)) for m in report.unbounded.months),
                        "red",
                    ),
                    Series(
                        _("kaimen's bound"),
                        tuple(float(getattr(m, name)) for m in report.bounded.months),
                        "green",
                    ),
                ),
                _("Month (-1: before the listing)"),
                _(title),
                ticks=tuple(str(m) for m in months),
            ),
        )
        for name, title in SPIRAL_PANELS
    )
    return SpiralPage(report, spiral_lines(report, _), charts)


def _number(raw: str | None, default: float, whole: bool) -> float | int | None:
    if raw is None or raw.strip() == "":
        return default
    if whole:
        # Plain ASCII digits, as every other form takes them (int() read ٣٠٠ and 1_000).
        text = raw.strip()
        digits = text[1:] if text[:1] == "-" else text
        return int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 12 else None
    try:
        return float(raw)
    except ValueError:
        return None


@router.get("/admin/spiral")
def spiral(
    request: Request,
    caller: AdminCaller,
    seed: Annotated[str | None, Query(max_length=12)] = None,
    people: Annotated[str | None, Query(max_length=12)] = None,
    months: Annotated[str | None, Query(max_length=12)] = None,
    listed: Annotated[str | None, Query(max_length=12)] = None,
    share: Annotated[str | None, Query(max_length=12)] = None,
    tie_value: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    """`kaimen sandbox spiral` on the page: the same knobs, the same checks, its summary
    table and its month-by-month figures (nothing is written)."""
    _ = _gettext(request)
    default = SpiralSettings()
    given = {"seed": seed, "people": people, "months": months, "listed": listed}
    values: dict[str, float | int | None] = {
        name: _number(raw, getattr(default, name), whole=True) for name, raw in given.items()
    }
    values["share"] = _number(share, default.share, whole=False)
    values["tie_value"] = _number(tie_value, default.tie_value, whole=False)
    # Each error in its language: the page's for ours, English for the sandbox's own checks.
    here = request.state.language.code
    errors = {name: (_("Enter a number."), here) for name, value in values.items() if value is None}
    shown = {
        name: raw if raw is not None else str(getattr(default, name))
        for name, raw in {**given, "share": share, "tie_value": tie_value}.items()
    }
    page = None
    if not errors:
        settings = SpiralSettings(
            seed=int(values["seed"] or 0),
            people=int(values["people"] or 0),
            months=int(values["months"] or 0),
            listed=int(values["listed"] or 0),
            share=float(values["share"] or 0.0),
            tie_value=float(values["tie_value"] or 0.0),
        )
        for problem in settings.problems():
            field = next((f for w, f in SPIRAL_FIELDS.items() if problem.startswith(w)), "people")
            errors.setdefault(field, (problem, "en"))
        if settings.people > SPIRAL_PEOPLE_MAX:
            errors.setdefault(
                "people",
                (
                    _("At most %(people)s people on this page; the command takes more.")
                    % {"people": f"{SPIRAL_PEOPLE_MAX:,}"},
                    here,
                ),
            )
        if settings.months > SPIRAL_MONTHS_MAX:
            errors.setdefault(
                "months",
                (
                    _("At most %(months)s months on this page; the command takes more.")
                    % {"months": SPIRAL_MONTHS_MAX},
                    here,
                ),
            )
        if not errors:
            page = spiral_page(_spiral(settings, _workspace(request).profile_choice), _)
    return render(
        request,
        "admin_spiral.html",
        status_code=400 if errors else 200,
        page=page,
        shown=shown,
        errors=errors,
    )


# -- the identity review queue --------------------------------------------------------------


@router.get("/admin/identity-reviews")
def identity_reviews(
    request: Request,
    caller: AdminCaller,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """`GET /v1/admin/reviews`: each candidate shown is in the person's access log."""
    ws = _workspace(request)
    pending = identity_links.pending_reviews(ws.engine, ws.vault, caller.actor, QUEUE_LIMIT)
    return render(request, "admin_reviews.html", pending=pending, done=_done(done))


@router.post("/admin/identity-reviews/{review_id}/approve")
def approve_review(
    request: Request, caller: AdminCaller, session: Checked, review_id: ReviewPath
) -> Response:
    ws = _workspace(request)
    rescoring = Rescoring(ws.lake_root, ws.profile())
    identity_links.approve_review(ws.engine, review_id, caller.actor, rescoring=rescoring)
    return see_other("/admin/identity-reviews?done=approved")


@router.post("/admin/identity-reviews/{review_id}/reject")
def reject_review(
    request: Request, caller: AdminCaller, session: Checked, review_id: ReviewPath
) -> Response:
    identity_links.reject_review(_workspace(request).engine, review_id, caller.actor)
    return see_other("/admin/identity-reviews?done=rejected")


# -- the payments review queue --------------------------------------------------------------


def _payments_page(
    request: Request,
    caller_actor: str,
    done: str | None = None,
    failed: tuple[str, str, str] | None = None,  # (payment id, field, message)
    status_code: int = 200,
) -> Response:
    ws = _workspace(request)
    queue = settlement.review_queue(ws.engine, ws.vault, caller_actor, QUEUE_LIMIT)
    return render(
        request,
        "admin_payments.html",
        status_code=status_code,
        queue=queue,
        done=_done(done),
        failed=failed,
    )


@router.get("/admin/payments")
def payments(
    request: Request,
    caller: AdminCaller,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """`GET /v1/admin/payments/review`: waiting for review first, then unmatched."""
    return _payments_page(request, caller.actor, done)


@router.post("/admin/payments/{payment_id}/approve")
def approve_payment(
    request: Request,
    caller: AdminCaller,
    session: Checked,
    payment_id: PaymentPath,
    listing_id: ListingField = "",
) -> Response:
    ws = _workspace(request)
    try:
        settlement.approve_payment(
            ws.engine, ws.profile(), payment_id, caller.actor, listing_id.strip() or None
        )
    except KaimenError as refused:
        return _payments_page(
            request, caller.actor, None, (payment_id, "listing", str(refused)), refused.status
        )
    return see_other("/admin/payments?done=approved")


@router.post("/admin/payments/{payment_id}/reject")
def reject_payment(
    request: Request,
    caller: AdminCaller,
    session: Checked,
    payment_id: PaymentPath,
    reason: ReasonField = "",
) -> Response:
    try:
        settlement.reject_payment(_workspace(request).engine, payment_id, reason, caller.actor)
    except KaimenError as refused:
        return _payments_page(
            request, caller.actor, None, (payment_id, "reason", str(refused)), refused.status
        )
    return see_other("/admin/payments?done=rejected")


# -- the clocks -----------------------------------------------------------------------------


@router.get("/admin/clocks")
def running_clocks(request: Request, caller: AdminCaller) -> Response:
    """`GET /v1/admin/sla` (`kaimen sla`): every running clock, overdue ones first."""
    ws = _workspace(request)
    view = clocks.sla_view(ws.engine, ws.profile())
    return render(request, "admin_clocks.html", view=view, words=CLOCK_WORDS, pages=CLOCK_PAGES)
