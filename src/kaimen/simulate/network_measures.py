"""Measures of a friend network and its scores: how it has fragmented, and how unequal the
scores are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from kaimen.simulate.friend_graph import BoolArray, FloatArray, FriendGraph, IntArray


@dataclass(frozen=True)
class Fragmentation:
    """The network's pieces: `components` counts isolated people as pieces of one."""

    components: int
    isolated: int
    largest_component: int


def fragmentation(graph: FriendGraph, alive: BoolArray) -> Fragmentation:
    """Connected components of the `alive` ties, isolated people and the largest piece."""
    left, right = graph.left[alive], graph.right[alive]
    adjacency = coo_array(
        (np.ones(len(left), dtype=np.int8), (left, right)), shape=(graph.people, graph.people)
    ).tocsr()
    count, labels = connected_components(adjacency, directed=False)
    sizes = np.bincount(labels)
    isolated = int((graph.degrees(alive) == 0).sum())
    return Fragmentation(int(count), isolated, int(sizes.max()))


def gini(values: IntArray | FloatArray) -> float:
    """The Gini coefficient of non-negative `values`: 0 when all are equal, towards 1 when
    one holds everything."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = len(ordered)
    total = float(ordered.sum())
    if n == 0 or total == 0.0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float((2.0 * (ranks * ordered).sum()) / (n * total) - (n + 1) / n)
