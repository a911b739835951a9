"""The person's pages: the score at a glance (gauge, dimensions, reasons, history).

Each handler checks the session's role, calls one service and renders."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from kaimen.domain.scores import Dimension as DimensionName
from kaimen.scoring.reading import NoScore, ScoreView, read_score
from kaimen.web.gauge import Gauge, gauge_of
from kaimen.web.pages.access import PersonCaller
from kaimen.web.rendering import render
from kaimen.web.words import BAND_WORDS, DIMENSION_WORDS

router = APIRouter()


@dataclass(frozen=True)
class Dimension:
    key: str
    name: str
    about: str
    value: int | None


@dataclass(frozen=True)
class PersonPage:
    view: ScoreView
    gauge: Gauge | None
    band_word: str | None
    change: int | None
    previous_month: str | None
    dimensions: tuple[Dimension, ...]
    chart_months: str  # JSON, oldest first, for the chart's data attributes
    chart_scores: str


def person_page(view: ScoreView) -> PersonPage:
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
        chart_months=json.dumps([m.month for m in oldest_first]),
        chart_scores=json.dumps([m.score for m in oldest_first]),
    )


@router.get("/me")
def me(request: Request, caller: PersonCaller) -> Response:
    assert caller.person_id is not None
    try:
        view = read_score(request.app.state.workspace.engine, caller.person_id, caller)
    except NoScore:
        return render(request, "no_score.html")
    return render(request, "person.html", page=person_page(view))
