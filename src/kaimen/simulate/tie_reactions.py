"""How people in the spiral sandbox react to scores: they drop friends who cost them points.

Wei, Yildirim, Van den Bulte and Dellarocas (2016), "Credit scoring with social network
data", Marketing Science 35(2), 234-258 (doi:10.1287/mksc.2015.0949), show that when a
lender scores people by their ties, people who care about their score keep fewer ties and
keep them with people like themselves, and the network fragments. The sandbox gives that
incentive a simple form: each month, each person weighs every friend against what keeping
them costs, the points they would gain next month by dropping them. A friendship is worth
something too; if its worth in score points is exponentially distributed with mean
`tie_value`, the chance that the cost exceeds it, and the tie is dropped that month, is

    p = 1 - exp(-gain / tie_value)    for gain > 0, and 0 when dropping gains nothing.

A tie ends when either friend drops it. Ties never end for other reasons and none form: the
sandbox isolates what the score does to a network.
"""

from __future__ import annotations

import numpy as np

from kaimen.simulate.couplings import TieGains
from kaimen.simulate.friend_graph import BoolArray, FloatArray


def drop_chance(gain: FloatArray, tie_value: float) -> FloatArray:
    """The chance a person drops a friend in a month, given what dropping would gain."""
    return np.asarray(1.0 - np.exp(-np.maximum(gain, 0.0) / tie_value), dtype=np.float64)


def ties_cut(gains: TieGains, tie_value: float, draws: FloatArray) -> BoolArray:
    """Which ties end this month: `draws` is one uniform number per tie, shared by the runs
    being compared so that they differ only by their rules (common random numbers)."""
    kept_by_left = 1.0 - drop_chance(gains.left, tie_value)
    kept_by_right = 1.0 - drop_chance(gains.right, tie_value)
    return np.asarray(draws >= kept_by_left * kept_by_right, dtype=np.bool_)
