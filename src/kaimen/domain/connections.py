"""The connections dimension's bound: how much a person's friends may move their score.

The idea kaimen takes from the systems it learns from ("if your friends are all high-score
people, it's good for you") is kept, and the spiral it caused is designed out:

- Each consenting friend adds a weight that is never negative under the default
  (`positive_only`): a friend scoring at or below `pivot` adds nothing, a friend at 950 adds
  `per_friend`. Adding a friend can therefore never lower a score, and dropping a low-scoring
  friend never raises one: the incentive to cut people off is zero.
- The sum is capped at `cap` points, small against the 600-point range, so no friend's
  withdrawal, score change or departure moves anyone by more than `cap`.
- The points never carry a score across a band edge on their own: they stop at the top (or
  the bottom) of the band the score is in without them.
- Friends' scores are their previous published month's scores *before* their own
  connections points (the "base" score): nothing feeds back within a month, and no loop
  runs through the graph across months either.

With `positive_only = false` (a profile may choose it; none shipped does) a friend below
`pivot` subtracts, symmetrically, and the total lies within `cap // 2` either side, so the
largest possible movement is still `cap`.

This module holds the rule for one person as plain arithmetic; the batch computes the same
rule for the whole population in the engine, and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kaimen.domain.errors import Rejected
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN, band_of


class ConnectionsRules(BaseModel):
    """A profile's switch and bound for the connections dimension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed: bool
    off_because: str | None = Field(
        default=None,
        max_length=500,
        description="why the dimension is off, shown to whoever asks for it (required when off)",
    )
    cap: int = Field(
        default=15, ge=0, le=30, description="the most, in points, friends can move a score"
    )
    per_friend: float = Field(
        default=3.0, gt=0, le=30, description="what one friend at 950 adds before the cap"
    )
    pivot: int = Field(
        default=650,
        ge=SCORE_MIN,
        lt=SCORE_MAX,
        description="a friend's base score at or below this adds nothing",
    )
    positive_only: bool = True

    @model_validator(mode="after")
    def _explained_when_off(self) -> Self:
        if not self.allowed and not (self.off_because or "").strip():
            raise ValueError("connections are off: say why in off_because")
        return self

    @property
    def low(self) -> int:
        """The lowest total friends' points can reach."""
        return 0 if self.positive_only else -(self.cap // 2)

    @property
    def high(self) -> int:
        """The highest total friends' points can reach."""
        return self.cap if self.positive_only else self.cap // 2


class ConnectionsOff(Rejected):
    """The jurisdiction's profile switches the connections dimension off: nothing about it
    can be chosen or read, and the refusal says why (the profile's `off_because`)."""

    status = 403
    problem = "connections-off"
    title = "Connections are off"

    def __init__(self, profile: str, because: str) -> None:
        super().__init__(f"the connections dimension is off under the {profile} profile: {because}")
        self.profile = profile
        self.because = because

    def extra(self) -> dict[str, object]:
        return {"profile": self.profile, "off_because": self.because}


class ConnectionsNotRequirable(Rejected):
    """An offer asked for a minimum connections sub-score. No offer may: friends' points are
    the person's choice, lent by friends who may withdraw, and a door that opened only for
    people with well-scored friends would make people drop low-scoring ones, the spiral
    the bound exists to prevent."""

    problem = "connections-not-requirable"
    title = "An offer may not require connections"

    def __init__(self) -> None:
        super().__init__(
            "an offer may not require a connections sub-score: friends' points are each "
            "person's own choice and their friends' consent, and a door opened only to people "
            "with well-scored friends would make them drop the others; remove 'connections' "
            "from min_dimensions"
        )


def friend_lift(friend_base_score: int, rules: ConnectionsRules) -> int:
    """How far a friend's base score lies above `pivot`, in points, held within one span
    (`SCORE_MAX - pivot`) either side, and never below 0 by default: whole points, so a sum
    of them is exact in any engine."""
    span = SCORE_MAX - rules.pivot
    return min(span, max(0 if rules.positive_only else -span, friend_base_score - rules.pivot))


def friend_weight(friend_base_score: int, rules: ConnectionsRules) -> float:
    """What one consenting friend with this base score adds (never negative by default)."""
    return rules.per_friend * friend_lift(friend_base_score, rules) / (SCORE_MAX - rules.pivot)


def friends_points(friend_base_scores: Iterable[int], rules: ConnectionsRules) -> int:
    """Friends' points before the band rule: the sum of their weights rounded half away from
    zero, then held within the cap. The lifts are summed as integers and scaled once
    (`per_friend * lifts / span`, in that order), as the engine computes it, so the two agree
    to the bit whatever order the friends come in."""
    if not rules.allowed:
        return 0
    lifts = sum(friend_lift(s, rules) for s in friend_base_scores)
    total = rules.per_friend * lifts / (SCORE_MAX - rules.pivot)
    rounded = int(total + 0.5) if total >= 0 else -int(-total + 0.5)
    return min(rules.high, max(rules.low, rounded))


def within_band(base_score: int, points: int) -> int:
    """`points` cut so that `base_score + points` stays in the band of `base_score`."""
    band = band_of(base_score)
    return min(band.high - base_score, max(band.low - base_score, points))


def connections_points(
    base_score: int, friend_base_scores: Iterable[int], rules: ConnectionsRules
) -> int:
    """What a person's consenting friends add to (or, off the default, take from) their
    base score: capped, and never across a band edge."""
    return within_band(base_score, friends_points(friend_base_scores, rules))


# The connections sub-score of everyone whose friends move nothing: the card has no
# connections characteristic, so this is what every snapshot held before friends could count.
NEUTRAL_SUB_SCORE = 50


def sub_score(points: int, rules: ConnectionsRules) -> int:
    """The connections sub-score (0-100) of a person whose friends add `points` (after the
    band rule): 50 when they move nothing, as for everyone not opted in, 100 at the cap, and
    0 at the most a profile counting both directions can take off. Rounded half to even."""
    reach = max(rules.high, -rules.low)
    if reach == 0:
        return NEUTRAL_SUB_SCORE
    return NEUTRAL_SUB_SCORE + round(NEUTRAL_SUB_SCORE * points / reach)
