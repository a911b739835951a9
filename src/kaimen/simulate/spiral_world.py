"""The seeded world of the spiral sandbox: people, the scores a model gives them, their
friends, and who is court-listed in month 0.

People are `kaimen simulate`'s synthetic population (`make_population`). Their model score
is the documented scaling (600 at good:bad odds of 30:1, 50 points to double the odds) of
the risk the behaviour simulation gives a person in an ordinary month, `z = -1.1 reliability
- 0.45 log(income / 6000)` (`kaimen.simulate.behaviour`): log-odds of good `ln 30 + 0.6 - z`,
which puts the median near 640 and a tenth of people in each of the two outer bands.

The person the sandbox follows is an ordinary, well-connected one: drawn among people whose
model score lies in the "good" or "very good" band and whose circle is at least the median
size, as in the case the issue describes. Any further listed people are drawn from everyone.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from kaimen.domain.scores import ANCHOR_ODDS, BANDS, FACTOR, OFFSET, SCORE_MAX, SCORE_MIN
from kaimen.simulate.friend_graph import FriendGraph, IntArray, small_world
from kaimen.simulate.population import MEDIAN_INCOME, make_population

BIRTHS_BEFORE = dt.date(2026, 1, 1)  # the population's ages are counted to this day
LOG_ODDS_SHIFT = 0.6
FOLLOWED_BANDS = ("good", "very good")


@dataclass(frozen=True)
class SpiralWorld:
    """People (by index), their model scores, their friends and the court-listed ones;
    `listed[0]` is the person the sandbox follows."""

    person_ids: tuple[str, ...]
    model: IntArray
    graph: FriendGraph
    listed: IntArray

    @property
    def followed(self) -> int:
        return int(self.listed[0])


def _streams(seed: int) -> tuple[np.random.Generator, ...]:
    # One stream per part, so that changing one (say, more listed people) leaves the others.
    return tuple(np.random.default_rng([seed, part]) for part in range(3))


def make_world(seed: int, people: int, listed: int) -> SpiralWorld:
    """The same world for the same arguments, whichever coupling then runs on it."""
    if not 1 <= listed < people:
        raise ValueError("listed people must number at least 1 and fewer than all people")
    population_rng, graph_rng, listing_rng = _streams(seed)
    population = make_population(population_rng, people, seed, BIRTHS_BEFORE)
    risk = -1.1 * population.reliability - 0.45 * np.log(population.income / MEDIAN_INCOME)
    log_odds = math.log(ANCHOR_ODDS) + LOG_ODDS_SHIFT - risk
    # `clip_score(score_from_log_odds(x))` for everyone at once (both round half to even).
    model = np.clip(np.rint(OFFSET + FACTOR * log_odds), SCORE_MIN, SCORE_MAX).astype(np.int64)
    graph = small_world(graph_rng, model.astype(np.float64))
    degree = graph.degrees(np.ones(graph.ties, dtype=np.bool_))
    bands = [b for b in BANDS if b.name in FOLLOWED_BANDS]
    ordinary = (model >= min(b.low for b in bands)) & (model <= max(b.high for b in bands))
    candidates = np.flatnonzero(ordinary & (degree >= np.median(degree)))
    if len(candidates) == 0:
        candidates = np.arange(people)
    first = int(listing_rng.choice(candidates))
    others = np.setdiff1d(np.arange(people), [first])
    more = listing_rng.choice(others, listed - 1, replace=False)
    return SpiralWorld(
        person_ids=tuple(population.person_id.to_pylist()),
        model=model,
        graph=graph,
        listed=np.concatenate([[first], np.sort(more)]).astype(np.int64),
    )
