"""The half-circle gauge, drawn on the server as SVG: one arc per band, 350 at the left end
and 950 at the right, a dial pointing at the score. Geometry only; the template draws it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN, Band, band_of

CX, CY, RADIUS = 150.0, 160.0, 120.0
# The dial rides on the arc, at the score.
DIAL = RADIUS


@dataclass(frozen=True)
class Arc:
    band: Band
    path: str  # the SVG path's `d`
    current: bool


@dataclass(frozen=True)
class Gauge:
    score: int
    band: Band
    arcs: tuple[Arc, ...]
    dial_x: float
    dial_y: float
    # The band above and the points still needed to reach it; None in the top band.
    next_band: Band | None
    points_to_next: int | None


def _angle(score: float) -> float:
    """Radians from the positive x axis: pi at SCORE_MIN, 0 at SCORE_MAX."""
    return math.pi * (1.0 - (score - SCORE_MIN) / (SCORE_MAX - SCORE_MIN))


def _point(score: float, radius: float) -> tuple[float, float]:
    angle = _angle(score)
    # SVG's y grows downwards.
    return CX + radius * math.cos(angle), CY - radius * math.sin(angle)


def _arc_path(low: float, high: float) -> str:
    (x1, y1), (x2, y2) = _point(low, RADIUS), _point(high, RADIUS)
    # Never more than half a circle, drawn clockwise on screen (sweep flag 1).
    return f"M {x1:.2f} {y1:.2f} A {RADIUS:.0f} {RADIUS:.0f} 0 0 1 {x2:.2f} {y2:.2f}"


def gauge_of(score: int) -> Gauge:
    """The gauge for a published score (350-950)."""
    band = band_of(score)
    arcs = tuple(
        # A band ends where the next begins (its `high` + 1), the last at SCORE_MAX.
        Arc(b, _arc_path(b.low, min(b.high + 1, SCORE_MAX)), b == band)
        for b in BANDS
    )
    dial_x, dial_y = _point(score, DIAL)
    above = [b for b in BANDS if b.low > score]
    next_band = above[0] if above else None
    return Gauge(
        score=score,
        band=band,
        arcs=arcs,
        dial_x=round(dial_x, 2),
        dial_y=round(dial_y, 2),
        next_band=next_band,
        points_to_next=None if next_band is None else next_band.low - score,
    )
