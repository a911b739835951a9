"""Scores, bands and dimensions: the vocabulary every score is published in.

Scaling convention (one, documented): 600 points at good:bad odds of 30:1, and every 50
points double the odds (PDO 50). So score = OFFSET + FACTOR * ln(odds of good), with
FACTOR = 50 / ln 2 and OFFSET = 600 - FACTOR * ln 30; published scores are clipped to
350-950.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

SCORE_MIN = 350
SCORE_MAX = 950
ANCHOR_SCORE = 600
ANCHOR_ODDS = 30.0
POINTS_TO_DOUBLE_ODDS = 50.0
FACTOR = POINTS_TO_DOUBLE_ODDS / math.log(2)
OFFSET = ANCHOR_SCORE - FACTOR * math.log(ANCHOR_ODDS)
MAX_REASONS = 4


class Dimension(StrEnum):
    CREDIT_HISTORY = "credit_history"
    BEHAVIOUR = "behaviour"
    CAPACITY = "capacity"
    IDENTITY = "identity"
    CONNECTIONS = "connections"


# The dimensions' names, in the order they are stored and shown.
DIMENSIONS: tuple[str, ...] = tuple(d.value for d in Dimension)


@dataclass(frozen=True)
class Band:
    name: str
    low: int
    high: int
    colour: str


BANDS: tuple[Band, ...] = (
    Band("poor", 350, 549, "#c0392b"),
    Band("fair", 550, 599, "#e67e22"),
    Band("good", 600, 649, "#f1c40f"),
    Band("very good", 650, 699, "#7dbb42"),
    Band("excellent", 700, 950, "#1e8449"),
)


def band_of(score: int) -> Band:
    """The band a published score falls in."""
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise ValueError(f"score {score} is outside {SCORE_MIN}-{SCORE_MAX}")
    return next(b for b in BANDS if b.low <= score <= b.high)


def score_from_log_odds(log_odds_good: float) -> float:
    """Unclipped score for natural-log odds of good."""
    return OFFSET + FACTOR * log_odds_good


def clip_score(raw: float) -> int:
    return int(min(SCORE_MAX, max(SCORE_MIN, round(raw))))


# A 0-100 sub-score per dimension; None for every one of a thin file.
DimensionScores: TypeAlias = Mapping[Dimension, int | None]
