"""Connections, bounded, through the monthly batch on real stores (SQLite and PostgreSQL).

The seeded population (its simulated friend links) is scored for 2026-09 with nobody opted
in; then a third of people opt in, half lend their score, and one person (`X`) is given four
friends of our choosing: three high scorers (F, G, H) and a low scorer (L). F then pays a dozen
loan instalments late in October. 2026-10 and 2026-11 are scored through `score_month`, and each
acceptance statement is checked against what the batch published and against the same
batch computed without friends (`snapshot_table`, the code path both share):

- a person not opted in gets exactly what they would without this feature;
- an opted-in person gets their base score plus the domain rule's points over their
  consenting friends' previous-month base scores (engine == domain for everyone);
- F's score falling, G withdrawing consent and H leaving kaimen (X re-scored at once) each move X by at most the
  cap; L lending never lowers X;
- under `eu` the dimension is off: nothing is added, and every service says why.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from kaimen.connections import choosing, reading
from kaimen.connections.choosing import CHANGES
from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.connections import (
    ConnectionsOff,
    connections_points,
    friends_points,
    sub_score,
)
from kaimen.domain.profiles import Profile
from kaimen.domain.scores import DIMENSIONS, band_of
from kaimen.engines.embedded import ibis_connection
from kaimen.features.friend_graph import friend_events, friendships
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.scoring import court_penalty
from kaimen.scoring.after_card import published_scores
from kaimen.scoring.batch import load_model, score_month, snapshot_table
from kaimen.scoring.connections_added import friends_of
from kaimen.scoring.exclusions import excluded_events
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.way_up import way_up
from kaimen.sharing import own_data
from kaimen.sharing.own_data import opt_out as leave_kaimen
from kaimen.store import connections as connection_rows
from kaimen.store import lake_manifest, people
from kaimen.store.tables import connection_points, score_snapshots
from tests.conftest import NOW
from tests.population import VAULT, Population, World

CN = profiles.load("cn")
EU = profiles.load("eu")
CAP = CN.connections.cap
ADMIN = Caller.admin("test")
LEND, WITHDRAW = CHANGES["lend"], CHANGES["withdraw"]
SEPTEMBER, OCTOBER, NOVEMBER, DECEMBER = "2026-09", "2026-10", "2026-11", "2026-12"
# When the months after the simulated ones are scored: a month is scored once it is over.
SCORED_AT = dt.datetime(2027, 1, 2, tzinfo=dt.UTC)


@dataclass
class Scenario:
    world: World
    x: str
    f: str
    g: str
    h: str
    low: str
    opted: set[str]


def _scores(engine: Engine, month: str) -> dict[str, int | None]:
    with engine.connect() as store:
        rows = store.execute(
            select(score_snapshots.c.person_id, score_snapshots.c.score).where(
                score_snapshots.c.month == month
            )
        ).all()
    return {r.person_id: r.score for r in rows}


def _points(engine: Engine, month: str) -> dict[str, tuple[int, int]]:
    with engine.connect() as store:
        rows = store.execute(
            select(connection_points).where(connection_points.c.month == month)
        ).all()
    return {r.person_id: (r.points, r.friends_counted) for r in rows}


def _before_band(engine: Engine, month: str) -> dict[str, int | None]:
    """What friends would have added to each snapshot of `month` before the band rule."""
    p = connection_points.c
    with engine.connect() as store:
        rows = store.execute(select(p.person_id, p.points_before_band).where(p.month == month))
        return {r.person_id: r.points_before_band for r in rows}


def _without_friends(world: World, month: str, profile: Profile) -> dict[str, dict[str, object]]:
    """The month's snapshot rows as the batch computes them before friends count."""
    version, loaded = load_model(world.engine, lake_root=world.lake)
    with world.engine.connect() as store:
        enrolled = people.active_ids(store)
        excluded = excluded_events(store, world.lake, profile)
        deductions = court_penalty.deductions(store, profile)
    table = snapshot_table(
        ibis_connection(),
        summary_paths(world.engine, world.lake),
        month,
        enrolled,
        (version, loaded),
        NOW,
        excluded,
        deductions,
    )
    return {r["person_id"]: r for r in table.to_pylist()}


def _published(world: World, month: str) -> dict[str, dict[str, object]]:
    with world.engine.connect() as store:
        rows = store.execute(select(score_snapshots).where(score_snapshots.c.month == month))
        return {r.person_id: dict(r._mapping) for r in rows}


def _link(person: str, friend: str, n: int) -> dict[str, str | None]:
    return {
        "source": "social-test",
        "event_id": f"tie-{n}",
        "person_id": person,
        "kind": "friend_link",
        "occurred_at": "2026-09-15T08:00:00+00:00",
        "recorded_at": "2026-09-15T09:00:00+00:00",
        "friend_id": friend,
        "action": "added",
    }


def _late(person: str, n: int) -> dict[str, str | None]:
    """A loan instalment paid late in October (the card counts late payments)."""
    return {
        "source": "lender-test",
        "event_id": f"late-{n}",
        "person_id": person,
        "kind": "loan_repayment",
        "occurred_at": "2026-10-05T08:00:00+00:00",
        "recorded_at": "2026-10-06T08:00:00+00:00",
        "amount": "5000.00",
        "currency": "CNY",
        "due_date": "2026-10-01",
        "paid_date": "2026-10-04",
        "status": "late",
    }


@pytest.fixture(scope="module")
def scenario(trained_copy: Population) -> Iterator[Scenario]:
    with trained_copy.opened() as world:
        engine = world.engine
        score_month(engine, ibis_connection(), world.lake, SEPTEMBER, "test", SCORED_AT, profile=CN)
        september = {p: s for p, s in _scores(engine, SEPTEMBER).items() if s is not None}
        ranked = sorted(september, key=lambda p: (september[p], p))
        # X in the middle of a wide band (so the band rule does not cut the cap), F, G, H
        # among the highest, L among the lowest.
        x = next(p for p in ranked if 720 <= september[p] <= 900)
        f, g, h = ranked[-1], ranked[-2], ranked[-3]
        low = ranked[0]
        accept_events(
            engine,
            world.lake,
            [_link(x, friend, n) for n, friend in enumerate((f, g, h, low))]
            + [_late(f, n) for n in range(12)],
            "test",
            now=NOW,
        )
        seal_inbox(engine, world.lake, "test", now=NOW)
        rng = random.Random(12)
        everyone = sorted(_scores(engine, SEPTEMBER))
        opted = {p for p in everyone if rng.random() < 0.33} | {x}
        lenders = {p for p in everyone if rng.random() < 0.5} | {f, g, h}
        lenders.discard(low)  # L lends later, in its own test
        with engine.begin() as store:
            for p in sorted(opted):
                connection_rows.set_choice(store, p, "counts_friends", True, "test", NOW)
            for p in sorted(lenders):
                connection_rows.set_choice(store, p, "lends_score", True, "test", NOW)
        for month in (OCTOBER, NOVEMBER):
            score_month(engine, ibis_connection(), world.lake, month, "test", SCORED_AT, profile=CN)
        yield Scenario(world, x, f, g, h, low, opted)


@pytest.mark.parametrize("month", [OCTOBER, NOVEMBER])
def test_not_opted_in_is_unaffected_and_opted_in_gets_base_plus_the_domain_rule(
    scenario: Scenario, month: str
) -> None:
    world = scenario.world
    published = _published(world, month)
    before = _without_friends(world, month, CN)
    points = _points(world.engine, month)
    before_band = _before_band(world.engine, month)
    previous = SEPTEMBER if month == OCTOBER else OCTOBER
    previous_scores = _scores(world.engine, previous)
    previous_points = _points(world.engine, previous)
    with world.engine.connect() as store:
        lending = set(connection_rows.lender_ids(store))
    backend = ibis_connection()
    with world.engine.connect() as store:
        lake = [world.lake / p for p in lake_manifest.files(store)]
    assert set(published) == set(before)
    moved = 0
    for person, row in published.items():
        base = before[person]
        if person not in scenario.opted or base["score"] is None:
            # Exactly the snapshot the batch makes without this feature.
            assert person not in points
            assert {k: row[k] for k in ("score", "band", *DIMENSIONS)} == {
                k: base[k] for k in ("score", "band", *DIMENSIONS)
            }
            continue
        added, _ = points[person]
        assert row["score"] == base["score"] + added  # type: ignore[operator]
        assert 0 <= added <= CAP
        assert row["band"] == base["band"] == band_of(row["score"]).name
        assert row["connections"] == sub_score(added, CN.connections)
        moved += added > 0
    # The domain rule, for every opted-in person, over their lending friends' base scores.
    ties = backend.to_pyarrow(friendships(friend_events(backend, lake), month)).to_pylist()
    friends: dict[str, list[str]] = {}
    for tie in ties:
        friends.setdefault(tie["person_id"], []).append(tie["friend_id"])
    for person in scenario.opted:
        if before[person]["score"] is None:
            continue
        bases = [
            previous_scores[f] - previous_points.get(f, (0, 0))[0]  # type: ignore[operator]
            for f in friends.get(person, [])
            if f in lending and previous_scores.get(f) is not None
        ]
        expected = connections_points(before[person]["score"], bases, CN.connections)  # type: ignore[arg-type]
        assert points[person] == (expected, len(bases)), person
        # Kept with it, for the what-if: the points before the band rule cut them.
        assert before_band[person] == friends_points(bases, CN.connections), person
    assert moved > 10, "too few people moved to test anything"


def _x_now(scenario: Scenario) -> tuple[int, tuple[int, int]]:
    """X's published November score and what friends added to it."""
    engine = scenario.world.engine
    score = _scores(engine, NOVEMBER)[scenario.x]
    assert score is not None
    return score, _points(engine, NOVEMBER)[scenario.x]


def test_x_is_moved_by_the_friends_chosen_for_them(scenario: Scenario) -> None:
    october = _points(scenario.world.engine, OCTOBER)[scenario.x]
    assert october[1] >= 3 and october[0] > 0  # F, G and H count (and any friends lending)
    # X's what-if starts from the score X is shown, friends' points in it, and its plan's
    # score after the changes counts them too (cut to the band that score is in).
    world = scenario.world
    score, (added, _) = _x_now(scenario)
    backend = ibis_connection()
    _, plan = way_up(world.engine, backend, world.lake, CN, scenario.x, min(score + 60, 950))
    assert plan.score == score and added > 0
    card_after = min(max(plan.new_raw_score, 350), 950)
    # X sits mid-band, so what friends add now was not cut: it is what they would add.
    assert plan.new_score == min(band_of(card_after).high, card_after + added)


def test_x_s_what_if_reads_friends_points_kept_with_the_snapshot(
    scenario: Scenario, tmp_path: Path
) -> None:
    world = scenario.world
    score, (added, _) = _x_now(scenario)
    version, _ = load_model(world.engine, lake_root=world.lake)
    backend = ibis_connection()
    # No lake file is read: with no lake at all, X's card score still maps to X's score.
    kept = published_scores(
        world.engine, backend, tmp_path / "no-lake", CN, NOVEMBER, version, scenario.x
    )
    assert kept.of(score - added) == score and added > 0
    # A snapshot published before the points were kept: worked out again from the lake.
    p = connection_points.c
    mine = (p.person_id == scenario.x) & (p.month == NOVEMBER)
    kept_points = _before_band(world.engine, NOVEMBER)[scenario.x]
    with world.engine.begin() as store:
        store.execute(update(connection_points).where(mine).values(points_before_band=None))
    try:
        again = published_scores(
            world.engine, backend, world.lake, CN, NOVEMBER, version, scenario.x
        )
        assert again == kept
    finally:
        with world.engine.begin() as store:
            store.execute(
                update(connection_points).where(mine).values(points_before_band=kept_points)
            )


def test_x_s_export_holds_what_friends_added_to_each_score(scenario: Scenario) -> None:
    world = scenario.world
    document = own_data.export(world.engine, VAULT, world.lake, scenario.x, NOW)
    p = connection_points.c
    with world.engine.connect() as store:
        stored = store.execute(
            select(p.month, p.model_version, p.points, p.friends_counted, p.points_before_band)
            .where(p.person_id == scenario.x)
            .order_by(p.month)
        ).all()
    exported = [
        (e.month, e.model_version, e.points, e.friends_counted, e.points_before_band)
        for e in document.connections.points_added
    ]
    assert exported == [tuple(row) for row in stored]
    assert [e[0] for e in exported] == [OCTOBER, NOVEMBER]
    assert all(e[4] is not None and e[4] >= e[2] > 0 for e in exported)


def test_a_friends_score_change_moves_a_person_by_at_most_the_cap(scenario: Scenario) -> None:
    engine = scenario.world.engine
    f_september, f_october = (_scores(engine, m)[scenario.f] for m in (SEPTEMBER, OCTOBER))
    assert f_september is not None and f_october is not None
    assert f_september - f_october > 100  # F's late payments made a real change
    base = _without_friends(scenario.world, NOVEMBER, CN)[scenario.x]["score"]
    assert isinstance(base, int)
    score, (added, _) = _x_now(scenario)
    # X's friends as the batch counted them, with F at October's score and at September's.
    october_scores, october_points = _scores(engine, OCTOBER), _points(engine, OCTOBER)
    backend = ibis_connection()
    with engine.connect() as store:
        lake = [scenario.world.lake / p for p in lake_manifest.files(store)]
        lending = set(connection_rows.lender_ids(store))
    friends = [
        f
        for f in friends_of(backend, lake, NOVEMBER, [scenario.x])
        if f in lending and october_scores.get(f) is not None
    ]
    bases = {f: october_scores[f] - october_points.get(f, (0, 0))[0] for f in friends}  # type: ignore[operator]
    assert added == connections_points(base, bases.values(), CN.connections)
    had_f_kept_its_score = connections_points(
        base, {**bases, scenario.f: f_september}.values(), CN.connections
    )
    assert 0 < had_f_kept_its_score - added <= CAP
    assert score == base + added >= base


def test_a_low_scoring_friend_never_lowers_a_score(scenario: Scenario) -> None:
    engine = scenario.world.engine
    low = _scores(engine, OCTOBER)[scenario.low]
    assert low is not None and low < CN.connections.pivot
    before = _x_now(scenario)
    made = choosing.change(
        engine, CN, Caller.person(scenario.low), scenario.low, LEND, scenario.world.lake
    )
    assert made.choices.lends_score
    (revision,) = [r for r in made.revisions if r.person_id == scenario.x]
    assert revision.score_before == revision.score_after == before[0]
    score, (added, counted) = _x_now(scenario)
    assert (score, added, counted) == (before[0], before[1][0], before[1][1] + 1)


def test_a_friends_withdrawal_moves_a_person_by_at_most_the_cap(scenario: Scenario) -> None:
    engine = scenario.world.engine
    before, (added_before, counted_before) = _x_now(scenario)
    made = choosing.change(
        engine, CN, Caller.person(scenario.g), scenario.g, WITHDRAW, scenario.world.lake
    )
    assert not made.choices.lends_score
    (revision,) = [r for r in made.revisions if r.person_id == scenario.x]
    after, (added, counted) = _x_now(scenario)
    assert revision.score_after == after
    assert counted == counted_before - 1
    assert 0 < before - after <= CAP  # G, a top scorer, added something; never more than the cap
    assert after - added == before - added_before  # the base did not move


def test_a_friends_departure_moves_a_person_by_at_most_the_cap(scenario: Scenario) -> None:
    world = scenario.world
    before, (added_before, counted_before) = _x_now(scenario)
    # H leaves: the opted-in friends who counted H (X among them) are re-scored at once.
    report = leave_kaimen(world.engine, world.lake, scenario.h, "test", now=NOW, profile=CN)
    assert report.friends_rescored >= 1
    after, (added, counted) = _x_now(scenario)
    assert counted == counted_before - 1
    assert 0 < before - after <= CAP
    assert after - added == before - added_before


def test_reading_my_connections_shows_who_counts_and_logs_it(scenario: Scenario) -> None:
    world = scenario.world
    read = reading.my_connections(
        world.engine, world.lake, CN, Caller.person(scenario.x), scenario.x
    )
    assert read.cap == CAP and read.month == NOVEMBER and read.choices.counts_friends
    ids = {c.friend_id for c in read.counting}
    assert scenario.f in ids and scenario.low in ids
    assert scenario.g not in ids and scenario.h not in ids  # withdrawn; gone
    assert read.points_now == read.published_points
    low = next(c for c in read.counting if c.friend_id == scenario.low)
    assert low.adds == 0
    with pytest.raises(ConnectionsOff, match="AI Act"):
        reading.my_connections(world.engine, world.lake, EU, Caller.person(scenario.x), scenario.x)


def test_under_eu_the_dimension_is_off_and_says_why(scenario: Scenario) -> None:
    world = scenario.world
    for wanted in CHANGES.values():
        with pytest.raises(
            ConnectionsOff, match=r"eu profile: the EU AI Act \(art\. 5\(1\)\(c\)\)"
        ):
            choosing.change(world.engine, EU, ADMIN, scenario.x, wanted, world.lake)
    # People who opted in under another profile get nothing added under eu: their score is
    # exactly the batch's without friends.
    score_month(
        world.engine, ibis_connection(), world.lake, DECEMBER, "test", SCORED_AT, profile=EU
    )
    assert _points(world.engine, DECEMBER) == {}
    published = _published(world, DECEMBER)
    before = _without_friends(world, DECEMBER, EU)
    keys = ("score", "band", *DIMENSIONS)
    assert {p: tuple(r[k] for k in keys) for p, r in published.items()} == {
        p: tuple(r[k] for k in keys) for p, r in before.items()
    }
