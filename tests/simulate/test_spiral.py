"""The spiral sandbox: seeded runs repeat; under kaimen's bound nobody has a score reason to
cut a tie and friends move by at most the cap; under the unbounded coupling the listed person
falls further than the penalty and ties are cut. Every claim is read off a simulation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kaimen.domain import profiles
from kaimen.domain.connections import ConnectionsRules
from kaimen.domain.connections import connections_points as one_person
from kaimen.domain.errors import Rejected
from kaimen.simulate.couplings import Bounded, Standing, connections_points, friend_weights
from kaimen.simulate.friend_graph import FriendGraph, small_world
from kaimen.simulate.network_measures import fragmentation, gini
from kaimen.simulate.spiral import SpiralReport, SpiralSettings, run_spiral
from kaimen.simulate.spiral_sandbox import spiral_sandbox
from kaimen.simulate.spiral_world import make_world

CN = profiles.load("cn")
SMALL = SpiralSettings(seed=7, people=2_000, months=12)


@pytest.fixture(scope="module")
def report() -> SpiralReport:
    return run_spiral(SMALL, CN)


def test_the_same_seed_gives_the_same_report(report: SpiralReport) -> None:
    assert run_spiral(SMALL, CN) == report
    other = run_spiral(SpiralSettings(seed=8, people=2_000, months=12), CN)
    assert other.unbounded.months != report.unbounded.months


def test_under_the_bound_no_tie_is_cut_and_friends_move_by_at_most_the_cap(
    report: SpiralReport,
) -> None:
    cap = CN.connections.cap
    bounded = report.bounded
    assert all(m.ties_cut == 0 and m.listed_ties_cut == 0 for m in bounded.months)
    assert all(
        m.circle_largest_fall <= cap and m.circle_largest_rise <= cap for m in bounded.months
    )
    assert bounded.after.listed_friends == report.circle
    # The listing's penalty, and at most the cap on top (the band rule can take the friends'
    # points away when the listing lands the score at a band's top).
    assert CN.court_listing_penalty <= bounded.listed_fall <= CN.court_listing_penalty + cap


def test_under_the_bound_dropping_a_friend_never_gains_a_point() -> None:
    world = make_world(3, 3_000, 5)
    penalty = np.zeros(3_000, dtype=np.int64)
    penalty[world.listed] = 120
    standing = Standing(world.model, penalty)
    alive = np.ones(world.graph.ties, dtype=np.bool_)
    gains = Bounded(CN.connections).gains(standing, world.graph, alive, standing.base)
    assert gains.left.max() <= 0 and gains.right.max() <= 0
    assert gains.left.min() < 0  # dropping a high-scoring friend does cost points


def test_a_two_sided_bound_would_give_people_a_reason_to_cut() -> None:
    # The zero above comes from the rule, not from the sandbox: let a low-scoring friend
    # subtract and the same model finds ties worth cutting.
    two_sided = CN.connections.model_copy(update={"positive_only": False})
    world = make_world(3, 3_000, 5)
    standing = Standing(world.model, np.zeros(3_000, dtype=np.int64))
    alive = np.ones(world.graph.ties, dtype=np.bool_)
    gains = Bounded(two_sided).gains(standing, world.graph, alive, standing.base)
    assert max(gains.left.max(), gains.right.max()) > 0


def test_under_the_unbounded_coupling_the_listed_person_falls_further_and_ties_are_cut(
    report: SpiralReport,
) -> None:
    unbounded = report.unbounded
    assert unbounded.listed_fall > report.penalty
    assert unbounded.after.listed_ties_cut > 0
    assert unbounded.after.listed_friends < unbounded.before.listed_friends
    assert unbounded.after.ties_cut > 0
    assert unbounded.after.isolated > unbounded.before.isolated
    assert unbounded.after.components > unbounded.before.components
    assert unbounded.after.gini > unbounded.before.gini
    # Ties are only ever cut, so the counts never go back.
    cuts = [m.ties_cut for m in unbounded.months]
    assert cuts == sorted(cuts)


def test_the_vectorised_bound_is_the_domain_rule() -> None:
    rng = np.random.default_rng(11)
    graph = small_world(rng, rng.standard_normal(400))
    alive = rng.random(graph.ties) < 0.8
    friend_base = rng.integers(350, 951, 400)
    base = rng.integers(350, 951, 400)
    for rules in (
        CN.connections,
        ConnectionsRules(allowed=True, cap=20, per_friend=4.5, pivot=600, positive_only=False),
        profiles.load("eu").connections,
    ):
        total = graph.friends_sum(alive, friend_weights(friend_base, rules))
        many = connections_points(base, total, rules)
        for person in range(400):
            friends = friend_base[graph.friends_of(person, alive)]
            exact = sum(float(w) for w in friend_weights(friends, rules))
            if abs(abs(exact) % 1 - 0.5) < 1e-9:
                continue  # a rounding tie: float sums in another order may fall either side
            assert many[person] == one_person(int(base[person]), map(int, friends), rules)


def test_the_friend_graph_is_a_connected_small_world_of_like_friends() -> None:
    rng = np.random.default_rng(5)
    trait = rng.standard_normal(5_000)
    graph = small_world(rng, trait)
    assert np.all(graph.left < graph.right)
    assert len(np.unique(graph.left * 5_000 + graph.right)) == graph.ties
    degrees = graph.degrees(np.ones(graph.ties, dtype=np.bool_))
    assert degrees.min() >= 1 and degrees.max() >= 4 * np.median(degrees)
    assert np.corrcoef(trait[graph.left], trait[graph.right])[0, 1] > 0.3
    assert fragmentation(graph, np.ones(graph.ties, dtype=np.bool_)).components == 1


def test_fragmentation_and_gini_on_known_cases() -> None:
    graph = FriendGraph(5, np.array([0, 1, 3]), np.array([1, 2, 4]))
    pieces = fragmentation(graph, np.array([True, True, False]))
    assert (pieces.components, pieces.isolated, pieces.largest_component) == (3, 2, 3)
    assert gini(np.array([600, 600, 600])) == 0.0
    assert gini(np.array([0, 0, 0, 900])) == pytest.approx(0.75)


def test_settings_out_of_range_are_refused_in_words() -> None:
    with pytest.raises(Rejected, match="listed must be between 1 and a tenth"):
        run_spiral(SpiralSettings(people=100, listed=50), CN)
    with pytest.raises(Rejected, match="share must be above 0"):
        run_spiral(SpiralSettings(share=0.0), CN)


def test_the_report_files_are_written(tmp_path: Path) -> None:
    settings = SpiralSettings(seed=7, people=500, months=4, repeats=2)
    outcome = spiral_sandbox(settings, CN, tmp_path / "report")
    files = outcome.files
    for path in (files.markdown, files.json, files.csv, files.png, files.svg):
        assert path.stat().st_size > 0
    text = files.markdown.read_text(encoding="utf-8")
    assert "| measure | unbounded coupling | kaimen's bound |" in text
    assert "## Across 2 seeds (7 to 8)" in text
    document = json.loads(files.json.read_text(encoding="utf-8"))
    assert document["unbounded"]["months"][0]["month"] == -1
    assert len(document["seeds"]) == 2
    with files.csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * (settings.months + 1)
    assert {r["coupling"] for r in rows} == {"unbounded", "bounded"}
    assert files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files.svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    # The tables depend only on the report: a second run writes the same bytes.
    first = files.markdown.read_bytes(), files.csv.read_bytes(), files.json.read_bytes()
    again = spiral_sandbox(settings, CN, tmp_path / "again").files
    assert (again.markdown.read_bytes(), again.csv.read_bytes(), again.json.read_bytes()) == first
