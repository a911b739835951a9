"""The friend graph as of a month's end, and what consenting friends add, for the whole
population in the engine.

A `friend_link` event reports a tie between two people (its `person_id` and `friend_id`),
added or removed. Two choices, and why:

- **A friendship is mutual.** An event is filed under one of the two people, but it states
  a fact about the pair: platforms record a friendship once both accepted it, and the
  furnishers (and the simulator) file each tie once. So a tie counts for both people, and
  either one's removal ends it for both (the right to leave needs no one's agreement).
  One-way "follows" would let anyone hang themselves on a high scorer; here that is also
  stopped by consent: a friend counts only if they lent their score (see
  `kaimen.connections`).
- **The pair's latest action wins**, from either side: the event that occurred last (then
  the one recorded last; a removal first on a tie, so a doubt ends a tie rather than
  keeps it). Only what had occurred and was known by the end of the month counts, as for
  the features (`known_month <= as_of`), so a late report never changes an earlier month.

A friend erased from kaimen is gone from the graph: their own events leave the lake, and
others' links to them are emptied (`friend_id` null) when they opt out.

The friends' points are `kaimen.domain.connections.friends_points` as one aggregation:
integer lifts summed per person, scaled once, rounded half away from zero and capped, so the
engine and the domain rule agree to the bit (a test holds them equal on a seeded
population). Only portable Ibis is used: DuckDB and Spark run the same expressions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir

from kaimen.domain.connections import ConnectionsRules
from kaimen.domain.scores import SCORE_MAX
from kaimen.engines.parquet_files import read_parquet
from kaimen.features.summaries import month_of

FRIEND_LINK = "friend_link"
ADDED, REMOVED = "added", "removed"
_COLUMNS = ("person_id", "friend_id", "action", "kind", "occurred_at", "recorded_at")


def friend_events(backend: ibis.BaseBackend, lake_paths: Sequence[Path]) -> ir.Table:
    """The lake's friend-link events (the columns the graph needs) from the listed files."""
    events = read_parquet(backend, lake_paths)
    events = events.select(*_COLUMNS)
    return events.filter(
        (events.kind == FRIEND_LINK)
        & events.friend_id.notnull()
        & (events.friend_id != events.person_id)
    )


def friendships(events: ir.Table, as_of: str, person_ids: Sequence[str] | None = None) -> ir.Table:
    """(person_id, friend_id): every friendship standing at the end of `as_of`, listed once
    from each side. With `person_ids`, only theirs (either side)."""
    e = events.filter(
        (month_of(events.occurred_at) <= as_of)
        & (month_of(ibis.greatest(events.occurred_at, events.recorded_at)) <= as_of)
    )
    if person_ids is not None:
        wanted = list(person_ids)
        e = e.filter(e.person_id.isin(wanted) | e.friend_id.isin(wanted))
    e = e.mutate(
        low=ibis.least(e.person_id, e.friend_id),
        high=ibis.greatest(e.person_id, e.friend_id),
        removal=ibis.ifelse(e.action == REMOVED, 1, 0),
    )
    latest = ibis.window(
        group_by=[e.low, e.high],
        order_by=[e.occurred_at.desc(), e.recorded_at.desc(), e.removal.desc()],
    )
    ranked = e.mutate(place=ibis.row_number().over(latest))
    ties = ranked.filter((ranked.place == 0) & (ranked.action == ADDED)).select("low", "high")
    one_side = ties.select(person_id=ties.low, friend_id=ties.high)
    other_side = ties.select(person_id=ties.high, friend_id=ties.low)
    return one_side.union(other_side)


def friends_points(
    friends: ir.Table, opted_in: ir.Table, lenders: ir.Table, rules: ConnectionsRules
) -> ir.Table:
    """(person_id, points, friends_counted) for every person of `opted_in` (`person_id`):
    what their friends among `lenders` (`person_id`, `base_score`: the friends' previous
    published month's base scores, consent given) add before the band rule, as
    `domain.connections.friends_points` gives it; 0 and 0 for a person with none."""
    span = SCORE_MAX - rules.pivot
    lowest = 0 if rules.positive_only else -span
    counted = friends.join(lenders, friends.friend_id == lenders.person_id).select(
        person_id=friends.person_id,
        lift=(lenders.base_score - rules.pivot).clip(lower=lowest, upper=span).cast("int64"),
    )
    sums = counted.group_by("person_id").aggregate(
        lifts=counted.lift.sum(), friends_counted=counted.count()
    )
    people = opted_in.select("person_id")
    joined = people.left_join(sums, people.person_id == sums.person_id)
    lifts = joined.lifts.fill_null(0)
    # As the domain rule: per_friend * lifts / span, in that order, in float64.
    total = (lifts.cast("float64") * ibis.literal(rules.per_friend, "float64")) / ibis.literal(
        float(span), "float64"
    )
    rounded = ibis.ifelse(total >= 0, (total + 0.5).floor(), -((-total + 0.5).floor()))
    points = rounded.clip(lower=rules.low, upper=rules.high).cast("int64")
    return joined.select(
        person_id=people.person_id,
        points=ibis.ifelse(ibis.literal(rules.allowed), points, ibis.literal(0, "int64")),
        friends_counted=joined.friends_counted.fill_null(0).cast("int64"),
    )
