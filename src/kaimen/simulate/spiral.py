"""The spiral sandbox (`kaimen sandbox spiral`): one seeded world, run twice, month by month.

In month 0 one person (and optionally a few more) is court-listed and loses the profile's
penalty. Then, each month, scores are published from the friends' scores of the month
before, and everyone weighs every friend against what keeping them costs
(`tie_reactions`, after Wei et al. 2016). The two runs differ only by how friends' scores
enter a score (`couplings`): the unbounded coupling the issue describes, and kaimen's bound
under the profile's `connections` rules. Both use the same random draws.

The sandbox follows the listed person and the friends they had before the listing: how far
they fall, how many ties are cut, how the network fragments (connected components, isolated
people) and how unequal scores become (Gini). Everything is NumPy over people and ties; a
month of 10,000 people and 50,000 ties takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kaimen.domain.errors import Rejected
from kaimen.domain.profiles import Profile
from kaimen.simulate.couplings import Bounded, Coupling, Standing, Unbounded
from kaimen.simulate.friend_graph import BoolArray, IntArray
from kaimen.simulate.network_measures import fragmentation, gini
from kaimen.simulate.spiral_world import SpiralWorld, make_world
from kaimen.simulate.tie_reactions import ties_cut

# Rounds of the coupling before month 0, with nobody listed and no tie cut: the scores the
# world had settled at. The unbounded coupling shrinks a difference by `share` each round, so
# 30 rounds leave nothing of the start; the bound settles in one.
REST_ROUNDS = 30
BEFORE = -1  # the month row for the settled world, before the listing


@dataclass(frozen=True)
class SpiralSettings:
    """The sandbox's knobs; the same settings and profile always give the same report."""

    seed: int = 7
    people: int = 10_000
    months: int = 12
    listed: int = 1
    share: float = 0.08  # the unbounded coupling's weight on the friends' average
    tie_value: float = 4.0  # a tie's mean worth in score points (tie_reactions)
    repeats: int = 1  # worlds run in all, seeds `seed` onwards: how much is the seed's luck

    def problems(self) -> list[str]:
        """What is wrong with these settings, in words for the person who chose them."""
        found = []
        # A seed is a non-negative whole number below 2**32 (repeats use the next ones):
        # a negative one stopped the page with NumPy's error.
        if not 0 <= self.seed <= 2**32 - 101:
            found.append(f"seed must be a whole number from 0 to {2**32 - 101:,}, not {self.seed}")
        if self.people < 10:
            found.append(f"people must be at least 10 to make a friend graph, not {self.people}")
        if not 1 <= self.months <= 240:
            found.append(f"months must be between 1 and 240, not {self.months}")
        if not 1 <= self.listed <= max(1, self.people // 10):
            found.append(
                f"listed must be between 1 and a tenth of the people "
                f"({max(1, self.people // 10)}), not {self.listed}"
            )
        if not 0.0 < self.share <= 0.5:
            found.append(f"share must be above 0 and at most 0.5, not {self.share}")
        if not 1 <= self.repeats <= 100:
            found.append(f"repeats must be between 1 and 100, not {self.repeats}")
        if not self.tie_value > 0.0:
            found.append(f"tie value must be above 0 points, not {self.tie_value}")
        return found


@dataclass(frozen=True)
class SpiralMonth:
    """The state at the end of one month of one run (`month` -1: before the listing)."""

    month: int
    listed_score: int  # the followed person's published score
    listed_friends: int  # the ties the followed person still has
    circle_mean_score: float  # their friends before the listing, on average
    circle_largest_fall: int  # the most any of those friends has lost since before
    circle_largest_rise: int  # the most any of those friends has gained since before
    ties_cut: int  # all ties cut so far
    listed_ties_cut: int  # ties of listed people cut so far
    components: int
    isolated: int
    largest_component: int
    mean_score: float
    gini: float


@dataclass(frozen=True)
class SpiralRun:
    """One coupling's months, before the listing first."""

    coupling: str
    months: tuple[SpiralMonth, ...]

    @property
    def before(self) -> SpiralMonth:
        return self.months[0]

    @property
    def after(self) -> SpiralMonth:
        return self.months[-1]

    @property
    def listed_fall(self) -> int:
        return self.before.listed_score - self.after.listed_score


@dataclass(frozen=True)
class SeedOutcome:
    """How one seeded world ends under each coupling, for the table across seeds."""

    seed: int
    circle: int
    unbounded_fall: int
    bounded_fall: int
    unbounded_friends_kept: int
    bounded_friends_kept: int
    unbounded_ties_cut: int
    bounded_ties_cut: int
    unbounded_isolated: int
    bounded_isolated: int
    ties: int


@dataclass(frozen=True)
class SpiralReport:
    """The two runs side by side, and what they were run on."""

    settings: SpiralSettings
    profile: str
    penalty: int
    connections_allowed: bool
    cap: int
    people: int
    ties: int
    friend_score_correlation: float
    listed_person: str
    listed_model_score: int
    listed_people: int
    circle: int
    unbounded: SpiralRun
    bounded: SpiralRun
    seeds: tuple[SeedOutcome, ...]

    @property
    def runs(self) -> tuple[SpiralRun, SpiralRun]:
        return self.unbounded, self.bounded


def _month(
    month: int,
    world: SpiralWorld,
    circle: IntArray,
    alive: BoolArray,
    published: IntArray,
    before: IntArray,
    cut: tuple[int, int],
) -> SpiralMonth:
    pieces = fragmentation(world.graph, alive)
    change = published[circle] - before[circle]
    return SpiralMonth(
        month=month,
        listed_score=int(published[world.followed]),
        listed_friends=len(world.graph.friends_of(world.followed, alive)),
        circle_mean_score=round(float(published[circle].mean()), 2) if len(circle) else 0.0,
        circle_largest_fall=max(0, -int(change.min())) if len(circle) else 0,
        circle_largest_rise=max(0, int(change.max())) if len(circle) else 0,
        ties_cut=cut[0],
        listed_ties_cut=cut[1],
        components=pieces.components,
        isolated=pieces.isolated,
        largest_component=pieces.largest_component,
        mean_score=round(float(published.mean()), 2),
        gini=round(gini(published), 5),
    )


def run_coupling(
    world: SpiralWorld, coupling: Coupling, penalty: int, settings: SpiralSettings
) -> SpiralRun:
    """`settings.months` months of `coupling` on `world`, the listing in month 0."""
    graph = world.graph
    alive = np.ones(graph.ties, dtype=np.bool_)
    calm = Standing(world.model, np.zeros(graph.people, dtype=np.int64))
    seen = calm.base
    published = seen
    for _ in range(REST_ROUNDS):
        published = coupling.published(calm, graph, alive, seen)
        seen = coupling.seen(calm, published)
    before = published
    penalties = np.zeros(graph.people, dtype=np.int64)
    penalties[world.listed] = penalty
    listing = Standing(world.model, penalties)
    circle = np.setdiff1d(graph.friends_of(world.followed, alive), world.listed)
    listed_ties = graph.touching(world.listed)
    months = [_month(BEFORE, world, circle, alive, published, before, (0, 0))]
    for month in range(settings.months):
        published = coupling.published(listing, graph, alive, seen)
        seen = coupling.seen(listing, published)
        gains = coupling.gains(listing, graph, alive, seen)
        draws = np.random.default_rng([settings.seed, 3, month]).random(graph.ties)
        alive &= ~ties_cut(gains, settings.tie_value, draws)
        cut = (int((~alive).sum()), int((~alive & listed_ties).sum()))
        months.append(_month(month, world, circle, alive, published, before, cut))
    return SpiralRun(coupling.name, tuple(months))


def _outcome(seed: int, circle: int, ties: int, runs: tuple[SpiralRun, SpiralRun]) -> SeedOutcome:
    unbounded, bounded = runs
    return SeedOutcome(
        seed=seed,
        circle=circle,
        unbounded_fall=unbounded.listed_fall,
        bounded_fall=bounded.listed_fall,
        unbounded_friends_kept=unbounded.after.listed_friends,
        bounded_friends_kept=bounded.after.listed_friends,
        unbounded_ties_cut=unbounded.after.ties_cut,
        bounded_ties_cut=bounded.after.ties_cut,
        unbounded_isolated=unbounded.after.isolated,
        bounded_isolated=bounded.after.isolated,
        ties=ties,
    )


def _both(
    world: SpiralWorld, settings: SpiralSettings, profile: Profile
) -> tuple[SpiralRun, SpiralRun]:
    penalty = profile.court_listing_penalty
    return (
        run_coupling(world, Unbounded(settings.share), penalty, settings),
        run_coupling(world, Bounded(profile.connections), penalty, settings),
    )


def _circle(world: SpiralWorld) -> int:
    everyone = np.ones(world.graph.ties, dtype=np.bool_)
    return len(np.setdiff1d(world.graph.friends_of(world.followed, everyone), world.listed))


def run_spiral(settings: SpiralSettings, profile: Profile) -> SpiralReport:
    """The same seeded world under the unbounded coupling and under the profile's bound;
    with `repeats` above 1, the worlds of the next seeds too, summed up per seed."""
    problems = settings.problems()
    if problems:
        raise Rejected("; ".join(problems))
    world = make_world(settings.seed, settings.people, settings.listed)
    unbounded, bounded = _both(world, settings, profile)
    graph = world.graph
    seeds = [_outcome(settings.seed, _circle(world), graph.ties, (unbounded, bounded))]
    for seed in range(settings.seed + 1, settings.seed + settings.repeats):
        other = make_world(seed, settings.people, settings.listed)
        runs = _both(other, replace(settings, seed=seed), profile)
        seeds.append(_outcome(seed, _circle(other), other.graph.ties, runs))
    return SpiralReport(
        settings=settings,
        profile=profile.name,
        penalty=profile.court_listing_penalty,
        connections_allowed=profile.connections.allowed,
        cap=profile.connections.cap if profile.connections.allowed else 0,
        people=graph.people,
        ties=graph.ties,
        friend_score_correlation=round(
            float(np.corrcoef(world.model[graph.left], world.model[graph.right])[0, 1]), 3
        ),
        listed_person=world.person_ids[world.followed],
        listed_model_score=int(world.model[world.followed]),
        listed_people=len(world.listed),
        circle=_circle(world),
        unbounded=unbounded,
        bounded=bounded,
        seeds=tuple(seeds),
    )
