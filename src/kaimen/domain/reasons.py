"""Reasons: the characteristics that cost a person points, as every score is published with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    """A characteristic that cost points against its best bin, with the person's own value
    (None: nothing on record). A snapshot lists them largest loss first."""

    feature: str
    points_lost: int
    value: float | None
