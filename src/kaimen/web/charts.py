"""Charts as data: a page puts a `Chart`'s JSON in a `data-chart` attribute and
`static/charts.js` draws it with uPlot (no inline script, no second request). Every chart
is shown beside a table of the same figures, its text alternative."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

# The series' colours, each with a swatch class in app.css for the chart's key; all reach
# 3:1 against white (WCAG 2.2 non-text contrast).
COLOURS = {"blue": "#0b57d0", "red": "#b3261e", "green": "#1a6e2e", "grey": "#5f6368"}
Colour = Literal["blue", "red", "green", "grey"]


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float | None, ...]
    colour: Colour
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    """A line or bar chart over `x`; `ticks` labels x positions when given (months, bins)."""

    kind: Literal["line", "bars"]
    x: tuple[float, ...]
    series: tuple[Series, ...]
    x_label: str
    y_label: str
    y_range: tuple[float, float] | None = None
    x_range: tuple[float, float] | None = None
    ticks: tuple[str, ...] | None = None
    percent: bool = False  # the y axis shows shares as percentages
    x_percent: bool = False  # and the x axis too

    def to_json(self) -> str:
        document = asdict(self)
        for series in document["series"]:
            series["colour"] = COLOURS[series["colour"]]
        return json.dumps(document, ensure_ascii=False, allow_nan=False)
