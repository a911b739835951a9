"""Scoring one person in-process from their feature values, in microseconds.

The batch path (`scorecard.points`, `scorecard.score_expression`) works on whole columns; an
API call or a what-if scores a single person, where NumPy's per-call overhead dominates. A
`CardScorer` holds each characteristic's edges and points as plain tuples and finds the bin
with `bisect`, so one person costs a few microseconds. It gives exactly the points of
`scorecard.points` (right-closed bins, NaN or None in the missing bin; categories by their
canonical code, blank text missing).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass

from kaimen.model.category_codes import canonical_code
from kaimen.model.scorecard import Scorecard

Value = float | int | str | None


def is_missing(value: Value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class _Compiled:
    name: str
    edges: tuple[float, ...]
    points: tuple[int, ...]
    missing_points: int
    # Categorical only: category -> bin, and the bin of a category not seen in training.
    bin_of_category: dict[str, int] | None = None
    unseen_bin: int = 0

    def bin(self, value: Value) -> int:
        if value is None or (isinstance(value, float) and value != value):
            return -1
        if self.bin_of_category is not None:
            code = canonical_code(value)
            if code is None:
                return -1
            return self.bin_of_category.get(code, self.unseen_bin)
        return bisect_left(self.edges, value)


class CardScorer:
    """A card compiled for one-person scoring: `scorer.raw(values)`, `scorer.points(values)`."""

    def __init__(self, card: Scorecard) -> None:
        self.card = card
        self._compiled = tuple(
            _Compiled(
                c.name,
                c.edges,
                c.points,
                c.missing_points,
                {category: j for j, members in enumerate(c.categories) for category in members}
                if c.kind == "categorical"
                else None,
                c.unseen_bin or 0,
            )
            for c in card.characteristics
        )

    def bin_of(self, name: str, value: Value) -> int:
        """Bin number of `value` on characteristic `name`; -1 for the missing bin."""
        for c in self._compiled:
            if c.name == name:
                return c.bin(value)
        raise KeyError(f"{name!r} is not on the card")

    def points(self, values: Mapping[str, Value]) -> dict[str, int]:
        """Points per characteristic, in card order. Raises KeyError naming a missing value."""
        out: dict[str, int] = {}
        for c in self._compiled:
            try:
                value = values[c.name]
            except KeyError:
                raise KeyError(f"no value for characteristic {c.name!r}") from None
            j = c.bin(value)
            out[c.name] = c.missing_points if j < 0 else c.points[j]
        return out

    def raw(self, values: Mapping[str, Value]) -> int:
        """The sum of the person's points, before clipping to the published range."""
        total = 0
        for c in self._compiled:
            value = values[c.name]
            if c.bin_of_category is not None:
                j = c.bin(value)
                total += c.missing_points if j < 0 else c.points[j]
            elif value is None or value != value:  # None or NaN: the missing bin
                total += c.missing_points
            else:
                total += c.points[bisect_left(c.edges, value)]
        return total
