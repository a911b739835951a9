"""The two ways friends' scores can enter a score in the spiral sandbox, over the whole
population at once (NumPy over people and ties, no loop over either).

- `Unbounded`: the coupling the systems kaimen learns from describe ("if you have some
  bad-credit people as friends, it's not nice"): a share `a` of the score is the average of
  the friends' published scores of the previous month, up or down, and what the friends'
  average is made of includes their own friends' average, so influence runs round the graph
  month after month. A person with no friends left has no average; the coupling counts it at
  `friendless_at` (the floor by default), as the 2012 patent's rule does in effect: it rejects an
  applicant whose friends' average is below a minimum, and an applicant with no friends cannot
  show one above it.
- `Bounded`: kaimen's rule, `kaimen.domain.connections`, with a profile's `ConnectionsRules`:
  each friend's previous-month *base* score (before their own connections points) adds a
  weight, capped in total, never across a band edge, never negative by default.

Both take a court listing's penalty off after the friends' part, as kaimen's batch does (the
penalty comes off the published score), so the fall at the listing itself is the same in the
two worlds and whatever follows is the coupling's doing.

Each also answers the question the people in the sandbox ask of every tie: how many points
would I gain next month if I dropped this friend? That gain drives `tie_reactions`. It is
computed from the same rule that makes the score, never assumed: under the bound it comes
out at zero or below for every tie, and a profile with `positive_only = false` would show
ties cut there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kaimen.domain.connections import ConnectionsRules
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN
from kaimen.simulate.friend_graph import BoolArray, FloatArray, FriendGraph, IntArray

_BAND_LOWS = np.array([band.low for band in BANDS], dtype=np.int64)
_BAND_HIGHS = np.array([band.high for band in BANDS], dtype=np.int64)


@dataclass(frozen=True)
class Standing:
    """What a person's score is made of in a month, apart from friends: the score the model
    gives and the points a court listing takes off (0 when not listed)."""

    model: IntArray
    penalty: IntArray

    @property
    def base(self) -> IntArray:
        """The score before friends count, as the bound reads it: the model's score less
        any listing's penalty, never below the floor."""
        return np.asarray(np.maximum(self.model - self.penalty, SCORE_MIN), dtype=np.int64)


@dataclass(frozen=True)
class TieGains:
    """Per tie, the points its `left` end would gain next month by dropping its `right` end,
    and the other way round. Negative: dropping would cost points."""

    left: FloatArray
    right: FloatArray


class Coupling(Protocol):
    """A rule for how friends' scores enter a score."""

    @property
    def name(self) -> str: ...

    def published(
        self, standing: Standing, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> IntArray:
        """This month's published scores, friends counted from `seen` (last month's)."""
        ...

    def seen(self, standing: Standing, published: IntArray) -> IntArray:
        """What friends will read of each person next month."""
        ...

    def gains(
        self, standing: Standing, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> TieGains:
        """What dropping each friend would gain each person next month."""
        ...


@dataclass(frozen=True)
class Unbounded:
    """score = (1 - share) * model + share * friends' average, then less any penalty."""

    share: float
    friendless_at: float = float(SCORE_MIN)

    @property
    def name(self) -> str:
        return "unbounded"

    def _average(
        self, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> tuple[FloatArray, FloatArray, IntArray]:
        degree = graph.degrees(alive)
        total = graph.friends_sum(alive, seen.astype(np.float64))
        average = np.where(degree > 0, total / np.maximum(degree, 1), self.friendless_at)
        return average, total, degree

    def published(
        self, standing: Standing, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> IntArray:
        average, _, _ = self._average(graph, alive, seen)
        blended = (1.0 - self.share) * standing.model + self.share * average
        score = np.clip(np.rint(blended), SCORE_MIN, SCORE_MAX).astype(np.int64)
        return np.asarray(np.maximum(score - standing.penalty, SCORE_MIN), dtype=np.int64)

    def seen(self, standing: Standing, published: IntArray) -> IntArray:
        return published

    def gains(
        self, standing: Standing, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> TieGains:
        average, total, degree = self._average(graph, alive, seen)
        values = seen.astype(np.float64)

        def gain(person: IntArray, friend: IntArray) -> FloatArray:
            rest = degree[person] - 1
            without = np.where(
                rest > 0,
                (total[person] - values[friend]) / np.maximum(rest, 1),
                self.friendless_at,
            )
            return np.asarray(self.share * (without - average[person]), dtype=np.float64)

        return TieGains(gain(graph.left, graph.right), gain(graph.right, graph.left))


def friend_weights(friend_base: IntArray, rules: ConnectionsRules) -> FloatArray:
    """`kaimen.domain.connections.friend_weight` for many friends at once."""
    share = (friend_base - rules.pivot) / (SCORE_MAX - rules.pivot)
    if rules.positive_only:
        share = np.maximum(0.0, share)
    return np.asarray(rules.per_friend * np.clip(share, -1.0, 1.0), dtype=np.float64)


def connections_points(
    base: IntArray, weight_total: FloatArray, rules: ConnectionsRules
) -> IntArray:
    """`kaimen.domain.connections.connections_points` for many people at once, from each
    one's sum of friend weights: rounded half away from zero, held within the cap, and cut at
    the edges of the band the base score is in."""
    if not rules.allowed:
        return np.zeros(len(base), dtype=np.int64)
    rounded = np.sign(weight_total) * np.floor(np.abs(weight_total) + 0.5)
    points = np.clip(rounded, rules.low, rules.high).astype(np.int64)
    band = np.searchsorted(_BAND_LOWS, base, side="right") - 1
    low, high = _BAND_LOWS[band] - base, _BAND_HIGHS[band] - base
    return np.asarray(np.clip(points, low, high), dtype=np.int64)


@dataclass(frozen=True)
class Bounded:
    """kaimen's bound: base score plus `connections_points` of the friends' base scores."""

    rules: ConnectionsRules

    @property
    def name(self) -> str:
        return "bounded"

    def published(
        self, standing: Standing, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> IntArray:
        base = standing.base
        total = graph.friends_sum(alive, friend_weights(seen, self.rules))
        return base + connections_points(base, total, self.rules)

    def seen(self, standing: Standing, published: IntArray) -> IntArray:
        # Friends read the base score, before its own connections points: no loop through
        # the graph, within a month or across months.
        return standing.base

    def gains(
        self, standing: Standing, graph: FriendGraph, alive: BoolArray, seen: IntArray
    ) -> TieGains:
        base = standing.base
        weight = friend_weights(seen, self.rules)
        total = graph.friends_sum(alive, weight)
        now = connections_points(base, total, self.rules)

        def gain(person: IntArray, friend: IntArray) -> FloatArray:
            without = connections_points(base[person], total[person] - weight[friend], self.rules)
            return (without - now[person]).astype(np.float64)

        return TieGains(gain(graph.left, graph.right), gain(graph.right, graph.left))
