"""What opted-in people's consenting friends add to a month's snapshots: the batch's one hook.

After the model and the court listings' deductions, each person who opted in gets their
friends' points (`features.friend_graph.friends_points`, computed in the engine for the whole
population: the friendships standing at the end of the month, the friends who lent their
score, and those friends' *base* scores in the newest run published before the month, so
nothing feeds back within a month and no loop runs through the graph). The points are then
cut to the band the score is in (`domain.connections.within_band`) and added, all columns at
once in Arrow; the connections sub-score says how much was added (`domain.connections.
sub_score`: 50 for nothing, 100 at the cap). Everyone else's row is left exactly as it was:
a person not opted in gets the score they would have without this feature.

The same function serves the monthly batch and the single-person re-score, so a re-scored
person gets the points the batch would give them; the rows it returns (`points`) are what
the publication stores beside the snapshots (`store.connections.write_points`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.connections import NEUTRAL_SUB_SCORE, ConnectionsRules
from kaimen.domain.profiles import Profile
from kaimen.domain.scores import BANDS, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.engines.parquet_files import to_arrow
from kaimen.features.friend_graph import friend_events, friends_points, friendships
from kaimen.store import connections as connection_rows
from kaimen.store import lake_manifest
from kaimen.store.connections import BASE_SCHEMA, FRIENDS_SCHEMA, POINTS_SCHEMA

# Later than any month: `run_before(NEWEST)` is the newest published run.
NEWEST = "9999-12"
_SCORES = range(SCORE_MIN, SCORE_MAX + 1)
_BAND_LOW = pa.array([next(b.low for b in BANDS if b.low <= s <= b.high) for s in _SCORES])
_BAND_HIGH = pa.array([next(b.high for b in BANDS if b.low <= s <= b.high) for s in _SCORES])


@dataclass(frozen=True)
class Added:
    """The snapshot table with friends' points added, and the points to store with it."""

    table: pa.Table
    points: pa.Table = field(default_factory=POINTS_SCHEMA.empty_table)


def friends_points_table(
    backend: ibis.BaseBackend,
    lake_paths: Sequence[Path],
    month: str,
    opted_in: pa.Table,
    lenders: pa.Table,
    rules: ConnectionsRules,
    person_ids: Sequence[str] | None = None,
) -> pa.Table:
    """(person_id, points, friends_counted) of every person in `opted_in`, before the band
    rule, computed in the engine."""
    people = ibis.memtable(opted_in.select(["person_id"]))
    if not lake_paths or lenders.num_rows == 0:
        # Nobody's friend lends a score (or there are no events): no engine work to do.
        zeros = pa.array([0] * opted_in.num_rows, pa.int64())
        return pa.table([opted_in.column("person_id"), zeros, zeros], schema=FRIENDS_SCHEMA)
    friends = friendships(friend_events(backend, lake_paths), month, person_ids)
    points = friends_points(friends, people, ibis.memtable(lenders), rules)
    return to_arrow(backend, points.order_by("person_id")).cast(FRIENDS_SCHEMA)


def friends_of(
    backend: ibis.BaseBackend, lake_paths: Sequence[Path], month: str, person_ids: Sequence[str]
) -> list[str]:
    """The friends of `person_ids` at the end of `month` (a few people's)."""
    if not lake_paths:
        return []
    friends = friendships(friend_events(backend, lake_paths), month, person_ids)
    mine = friends.filter(friends.person_id.isin(list(person_ids)))
    return [str(f) for f in to_arrow(backend, mine.select("friend_id")).column(0).to_pylist()]


def apply(table: pa.Table, friends: pa.Table, rules: ConnectionsRules) -> Added:
    """`table` (snapshot columns) with each scored person of `friends` (`FRIENDS_SCHEMA`:
    their points before the band rule) raised (or, off the default, lowered) by their
    friends' points cut to their band, and their connections sub-score set from what was
    added; everyone else's row as it was."""
    if friends.num_rows == 0 or table.num_rows == 0:
        return Added(table)
    index = pc.index_in(table.column("person_id"), value_set=friends.column("person_id"))
    score = table.column("score")
    counted = pc.and_(pc.is_valid(index), pc.is_valid(score))
    if not pc.any(counted).as_py():
        return Added(table)
    wanted = pc.take(friends.column("points"), index)
    place = pc.subtract(pc.fill_null(score, SCORE_MIN), SCORE_MIN)
    low = pc.subtract(pc.take(_BAND_LOW, place), score)
    high = pc.subtract(pc.take(_BAND_HIGH, place), score)
    added = pc.min_element_wise(high, pc.max_element_wise(low, wanted))
    new_score = pc.if_else(counted, pc.add(score, added), score)
    # As `domain.connections.sub_score`: 50 + 50 * added / reach, rounded half to even.
    reach = max(rules.high, -rules.low)
    share = pc.divide(
        pc.cast(pc.multiply(added, NEUTRAL_SUB_SCORE), pa.float64()), float(reach or 1)
    )
    rounded = pc.cast(pc.round(share, round_mode="half_to_even"), pa.int64())
    sub_score = pc.add(rounded if reach else pc.multiply(rounded, 0), NEUTRAL_SUB_SCORE)
    connections = Dimension.CONNECTIONS.value
    sub_scores = table.column(connections)
    columns = {
        "score": pc.cast(new_score, score.type),
        connections: pc.if_else(counted, pc.cast(sub_score, sub_scores.type), sub_scores),
    }
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    rows = pa.table(
        {
            "person_id": table.column("person_id"),
            "points": added,
            "friends_counted": pc.take(friends.column("friends_counted"), index),
            "points_before_band": wanted,
        }
    ).filter(counted)
    return Added(table, rows.cast(POINTS_SCHEMA))


def add_friends(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    month: str,
    table: pa.Table,
    person_ids: Sequence[str] | None = None,
) -> Added:
    """`table` (a month's snapshot columns, of everyone or of `person_ids`) with what
    opted-in people's consenting friends add; unchanged when the profile switches the
    dimension off or nobody in it opted in."""
    rules = profile.connections
    if not rules.allowed or table.num_rows == 0:
        return Added(table)
    wanted = None if person_ids is None else list(person_ids)
    with engine.connect() as store:
        opted_in = connection_rows.opted_in(store, wanted)
        if opted_in.num_rows == 0:
            return Added(table)
        previous = connection_rows.run_before(store, month)
        lake_paths = [lake_root / path for path in lake_manifest.files(store)]
    if previous is None:
        lenders = BASE_SCHEMA.empty_table()
    elif wanted is None:
        with engine.connect() as store:
            lenders = connection_rows.base_scores(store, *previous)
    else:
        # A few people: read only their friends' base scores.
        friend_ids = friends_of(backend, lake_paths, month, wanted)
        with engine.connect() as store:
            lenders = connection_rows.base_scores(store, *previous, friend_ids)
    friends = friends_points_table(backend, lake_paths, month, opted_in, lenders, rules, wanted)
    return apply(table, friends, rules)


def friends_now(
    engine: Engine, backend: ibis.BaseBackend, lake_root: Path, person_id: str
) -> list[str]:
    """The person's friends at the end of the newest published month (those a change of
    theirs can move now); none before any month is published."""
    with engine.connect() as store:
        newest = connection_rows.run_before(store, NEWEST)
        lake_paths = [lake_root / path for path in lake_manifest.files(store)]
    if newest is None:
        return []
    return friends_of(backend, lake_paths, newest[0], [person_id])
