"""The friend graph from friend-link events, and friends' points in the engine equal to the
domain rule for one person, on a seeded population."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kaimen.domain import profiles
from kaimen.domain.connections import ConnectionsRules, friends_points
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.engines.embedded import ibis_connection
from kaimen.features import friend_graph
from kaimen.scoring.connections_added import friends_points_table

UTC = dt.UTC
SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("friend_id", pa.string()),
        ("action", pa.string()),
        ("kind", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=UTC)


def _link(
    person: str, friend: str | None, action: str, occurred: str, recorded: str | None = None
) -> dict[str, object]:
    return {
        "person_id": person,
        "friend_id": friend,
        "action": action,
        "kind": "friend_link",
        "occurred_at": _at(occurred),
        "recorded_at": _at(recorded or occurred),
    }


def _pairs(rows: list[dict[str, object]], as_of: str) -> set[tuple[str, str]]:
    backend = ibis_connection()
    events = ibis.memtable(pa.Table.from_pylist(rows, schema=SCHEMA))
    table = backend.to_pyarrow(friend_graph.friendships(events, as_of))
    people, friends = table.column("person_id").to_pylist(), table.column("friend_id").to_pylist()
    return set(zip(people, friends, strict=True))


def test_a_tie_counts_for_both_people_whichever_side_it_was_filed_under() -> None:
    pairs = _pairs([_link("a", "b", "added", "2026-01-05")], "2026-01")
    assert pairs == {("a", "b"), ("b", "a")}


def test_the_pairs_latest_action_wins_from_either_side() -> None:
    rows = [
        _link("a", "b", "added", "2026-01-05"),
        _link("b", "a", "removed", "2026-02-10"),  # b leaves: it ends for both
        _link("c", "d", "removed", "2026-01-01"),
        _link("d", "c", "added", "2026-01-20"),  # re-added later: it stands
    ]
    assert _pairs(rows, "2026-01") == {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")}
    assert _pairs(rows, "2026-02") == {("c", "d"), ("d", "c")}


def test_only_what_was_known_by_the_months_end_counts() -> None:
    rows = [
        _link("a", "b", "added", "2026-01-05"),
        # Occurred in January, reported in March: not part of January or February.
        _link("a", "b", "removed", "2026-01-25", "2026-03-02"),
        _link("e", "f", "added", "2026-02-01"),
    ]
    assert _pairs(rows, "2026-01") == {("a", "b"), ("b", "a")}
    assert _pairs(rows, "2026-02") == {("a", "b"), ("b", "a"), ("e", "f"), ("f", "e")}
    assert _pairs(rows, "2026-03") == {("e", "f"), ("f", "e")}


def test_a_removal_wins_a_tie_and_self_links_and_erased_friends_never_count(
    tmp_path: Path,
) -> None:
    rows = [
        _link("a", "b", "added", "2026-01-05"),
        _link("b", "a", "removed", "2026-01-05"),
        _link("c", "c", "added", "2026-01-05"),
        _link("d", None, "added", "2026-01-05"),  # a friend who opted out: emptied
        {**_link("g", "h", "added", "2026-01-05"), "kind": "payment"},
    ]
    path = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    backend = ibis_connection()
    events = friend_graph.friend_events(backend, [path])
    table = backend.to_pyarrow(friend_graph.friendships(events, "2026-01"))
    assert table.num_rows == 0


Population = tuple[list[dict[str, object]], dict[str, int], set[str], set[str]]


def _population(seed: int, size: int) -> Population:
    """Random ties (some removed), base scores, lenders and opted-in people."""
    rng = random.Random(seed)
    ids = [f"p{i:05d}" for i in range(size)]
    rows = []
    for _ in range(size * 4):
        a, b = rng.sample(ids, 2)
        day = f"2026-0{rng.randint(1, 3)}-{rng.randint(1, 28):02d}"
        rows.append(_link(a, b, "added" if rng.random() < 0.8 else "removed", day))
    # A few with many ties, so some reach the cap (or, both directions, its negative side).
    for hub in ids[:60]:
        for friend in rng.sample(ids, 60):
            if friend != hub:
                rows.append(_link(hub, friend, "added", f"2026-01-{rng.randint(1, 28):02d}"))
    bases = {p: rng.randint(SCORE_MIN, SCORE_MAX) for p in ids if rng.random() < 0.9}
    lenders = {p for p in bases if rng.random() < 0.6}
    opted = {p for p in ids if rng.random() < 0.5}
    return rows, bases, lenders, opted


@pytest.mark.parametrize(
    "rules",
    [
        profiles.load("cn").connections,
        profiles.load("us").connections,
        ConnectionsRules(allowed=True, cap=12, per_friend=2.7, pivot=700, positive_only=False),
        ConnectionsRules(allowed=True, cap=4, per_friend=0.3, pivot=351),
    ],
    ids=["cn", "us", "both-directions", "small-steps"],
)
def test_the_engine_gives_every_person_the_domain_rules_points(
    rules: ConnectionsRules, tmp_path: Path
) -> None:
    rows, bases, lenders, opted = _population(7, 3000)
    path = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    as_of = "2026-02"
    # The domain's reading of the same events, one pair at a time.
    latest: dict[frozenset[str], tuple[dt.datetime, int, str]] = {}
    for r in rows:
        occurred = r["occurred_at"]
        assert isinstance(occurred, dt.datetime)
        if occurred.strftime("%Y-%m") > as_of:
            continue
        key = frozenset((str(r["person_id"]), str(r["friend_id"])))
        rank = (occurred, int(r["action"] == "removed"), str(r["action"]))
        latest[key] = max(latest.get(key, rank), rank)
    friends: dict[str, list[str]] = defaultdict(list)
    for key, (_, _, action) in latest.items():
        if action == "added":
            a, b = sorted(key)
            friends[a].append(b)
            friends[b].append(a)
    expected = {
        p: (
            friends_points([bases[f] for f in friends[p] if f in lenders], rules),
            sum(1 for f in friends[p] if f in lenders),
        )
        for p in opted
    }
    lending = pa.table(
        {
            "person_id": pa.array(sorted(lenders), pa.string()),
            "base_score": pa.array([bases[p] for p in sorted(lenders)], pa.int64()),
        }
    )
    opted_in = pa.table({"person_id": pa.array(sorted(opted), pa.string())})
    table = friends_points_table(ibis_connection(), [path], as_of, opted_in, lending, rules)
    got = {r["person_id"]: (r["points"], r["friends_counted"]) for r in table.to_pylist()}
    assert got == expected
    # The population is varied enough to test something: the cap is reached, some get
    # nothing, and (both directions) some lose points.
    points = [p for p, _ in got.values()]
    assert rules.high in points and 0 in points
    assert rules.low in points if not rules.positive_only else min(points) == 0
