"""A seeded friend graph for the spiral sandbox: a small world of uneven circles in which
friends tend to be alike.

The construction is Watts and Strogatz's (1998, "Collective dynamics of 'small-world'
networks", Nature 393) with two changes that real friendship graphs need:

- *Homophily*: people are placed on the ring in the order of a noisy copy of a trait (their
  creditworthiness), so a person's ring neighbours tend to score like them, as friends do.
- *Uneven circles*: each person links forward to a log-normal number of ring neighbours
  (median 4, at least 1), so degrees range from a handful to a few dozen rather than all
  being equal.

A share of the ties is then rewired to a person drawn at random: the shortcuts that make
the world small (few steps between any two people) and that also join unlike people.
Ties are undirected, listed once each with `left < right`, without loops or repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MEDIAN_FORWARD_TIES = 4
FORWARD_TIES_SPREAD = 0.7  # sigma of the log-normal: a few people have 30+ friends
MAX_FORWARD_TIES = 60
SHORTCUT_SHARE = 0.1
LIKENESS_NOISE = 0.7  # noise added to the standardised trait before ordering the ring


@dataclass(frozen=True)
class FriendGraph:
    """Ties between `people` people: tie `k` joins `left[k]` and `right[k]`."""

    people: int
    left: IntArray
    right: IntArray

    @property
    def ties(self) -> int:
        return len(self.left)

    def degrees(self, alive: BoolArray) -> IntArray:
        """How many of the `alive` ties each person has."""
        counts = np.bincount(self.left[alive], minlength=self.people)
        counts += np.bincount(self.right[alive], minlength=self.people)
        return counts.astype(np.int64)

    def friends_sum(self, alive: BoolArray, values: FloatArray) -> FloatArray:
        """Each person's sum of `values` over their friends along the `alive` ties."""
        left, right = self.left[alive], self.right[alive]
        total = np.bincount(left, weights=values[right], minlength=self.people)
        total += np.bincount(right, weights=values[left], minlength=self.people)
        return total.astype(np.float64)

    def friends_of(self, person: int, alive: BoolArray) -> IntArray:
        """The friends `person` has along the `alive` ties, in ascending order."""
        as_left = alive & (self.left == person)
        as_right = alive & (self.right == person)
        return np.sort(np.concatenate([self.right[as_left], self.left[as_right]]))

    def touching(self, people: IntArray) -> BoolArray:
        """Which ties have `people` at one end or the other."""
        return np.isin(self.left, people) | np.isin(self.right, people)


def small_world(rng: np.random.Generator, trait: FloatArray) -> FriendGraph:
    """A small-world graph over `len(trait)` people in which friends tend to share `trait`."""
    n = len(trait)
    if n < 3:
        raise ValueError("a friend graph needs at least 3 people")
    spread = float(trait.std()) or 1.0
    standard = (trait - trait.mean()) / spread
    ring = np.argsort(standard + LIKENESS_NOISE * rng.standard_normal(n), kind="stable")
    forward = np.exp(np.log(MEDIAN_FORWARD_TIES) + FORWARD_TIES_SPREAD * rng.standard_normal(n))
    forward = np.clip(np.rint(forward), 1, min(MAX_FORWARD_TIES, n - 1)).astype(np.int64)
    # Ring position p links to p+1 .. p+forward[p]: one row per tie, built without a loop.
    owner = np.repeat(np.arange(n, dtype=np.int64), forward)
    first_of_owner = np.repeat(np.cumsum(forward) - forward, forward)
    step = np.arange(len(owner), dtype=np.int64) - first_of_owner + 1
    target = (owner + step) % n
    shortcut = rng.random(len(owner)) < SHORTCUT_SHARE
    target[shortcut] = rng.integers(0, n, int(shortcut.sum()))
    a, b = ring[owner], ring[target]
    left, right = np.minimum(a, b), np.maximum(a, b)
    keep = left != right
    unique = np.unique(left[keep] * n + right[keep])
    return FriendGraph(n, (unique // n).astype(np.int64), (unique % n).astype(np.int64))
