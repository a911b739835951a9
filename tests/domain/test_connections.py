"""The connections bound for one person: capped, positive by default, inside the band."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import ValidationError

from kaimen.domain import profiles
from kaimen.domain.connections import (
    ConnectionsRules,
    connections_points,
    friend_weight,
    friends_points,
)
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN, band_of

CN = profiles.load("cn").connections


def test_a_low_scoring_friend_adds_nothing_and_a_top_one_adds_per_friend() -> None:
    assert friend_weight(SCORE_MIN, CN) == 0.0
    assert friend_weight(CN.pivot, CN) == 0.0
    assert friend_weight(SCORE_MAX, CN) == CN.per_friend
    assert friends_points([900, 900, 900, 900, 900, 900, 900, 900], CN) == CN.cap


def test_no_score_is_carried_across_a_band_edge() -> None:
    fair = next(b for b in BANDS if b.name == "fair")
    top_friends = [SCORE_MAX] * 10
    assert connections_points(fair.high - 2, top_friends, CN) == 2
    assert band_of(fair.high - 2 + 2) == fair
    assert connections_points(fair.low, top_friends, CN) == CN.cap


@pytest.mark.parametrize("seed", range(20))
def test_no_friend_change_moves_a_score_by_more_than_the_cap(seed: int) -> None:
    rng = random.Random(seed)
    base = rng.randint(SCORE_MIN, SCORE_MAX)
    friends = [rng.randint(SCORE_MIN, SCORE_MAX) for _ in range(rng.randint(0, 12))]
    before = connections_points(base, friends, CN)
    changed = list(friends)
    if changed:
        changed[rng.randrange(len(changed))] = rng.randint(SCORE_MIN, SCORE_MAX)
    for after_friends in (changed, friends[1:], [], friends + [SCORE_MAX] * 5):
        assert abs(connections_points(base, after_friends, CN) - before) <= CN.cap


def test_adding_a_low_scoring_friend_never_lowers_a_score_under_the_default() -> None:
    assert CN.positive_only
    for base, friends in itertools.product(
        (360, 560, 640, 720, 940), ([], [900], [700, 800, 950], [951 - 1] * 9)
    ):
        with_low = connections_points(base, [*friends, SCORE_MIN, 500], CN)
        assert with_low >= connections_points(base, friends, CN) >= 0


def test_both_directions_still_span_at_most_the_cap() -> None:
    both = CN.model_copy(update={"positive_only": False})
    assert friends_points([SCORE_MIN] * 20, both) == -(both.cap // 2)
    assert friends_points([SCORE_MAX] * 20, both) - friends_points([SCORE_MIN] * 20, both) <= (
        both.cap
    )


def test_the_eu_profile_switches_connections_off_and_says_why() -> None:
    eu = profiles.load("eu").connections
    assert not eu.allowed
    assert "AI Act" in (eu.off_because or "")
    assert friends_points([SCORE_MAX] * 10, eu) == 0


def test_a_switch_turned_off_without_a_reason_is_refused() -> None:
    with pytest.raises(ValidationError, match="say why"):
        ConnectionsRules(allowed=False)
