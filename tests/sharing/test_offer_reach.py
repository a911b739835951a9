"""How many people would qualify at an offer's thresholds (`offering.reach`): on the scored
population, on SQLite and PostgreSQL, the count the database makes equals the number of
people a decision would approve, judged one by one with the decision's own rule; below 10 it
is never given."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import Engine, select

from kaimen.domain.connections import ConnectionsNotRequirable
from kaimen.domain.scores import Dimension
from kaimen.sharing import offering
from kaimen.sharing.deciding import _judge
from kaimen.store.offers import Offer
from kaimen.store.scores import snapshot_of
from kaimen.store.tables import score_runs, score_snapshots
from tests.population import Population

THRESHOLDS = [
    offering.Thresholds(600),
    offering.Thresholds(650, "excellent"),
    offering.Thresholds(500, None, {"capacity": 50, "behaviour": 40}),
    offering.Thresholds(350),
]


@pytest.fixture(scope="module")
def engine(scored_copy: Population) -> Iterator[Engine]:
    world = scored_copy.open()
    yield world.engine
    world.engine.dispose()


def approved_one_by_one(engine: Engine, thresholds: offering.Thresholds) -> int:
    """People whose latest published snapshot a decision would approve, in Python."""
    offer = Offer(
        1,
        "p",
        "n",
        "p",
        thresholds.min_score,
        thresholds.min_band,
        {Dimension(d): m for d, m in thresholds.min_dimensions.items()},
    )
    query = (
        select(score_snapshots, score_runs.c.published_at, score_runs.c.characteristics)
        .join(
            score_runs,
            (score_runs.c.month == score_snapshots.c.month)
            & (score_runs.c.model_version == score_snapshots.c.model_version),
        )
        .order_by(score_snapshots.c.month.desc(), score_runs.c.published_at.desc())
    )
    latest = {}
    with engine.connect() as store:
        for row in store.execute(query):
            latest.setdefault(row.person_id, snapshot_of(row))
    return sum(_judge(snapshot, offer)[0] for snapshot in latest.values())


@pytest.mark.parametrize("thresholds", THRESHOLDS)
def test_the_count_is_the_number_a_decision_would_approve(
    engine: Engine, thresholds: offering.Thresholds
) -> None:
    exact = approved_one_by_one(engine, thresholds)
    assert exact >= offering.SMALLEST_COUNT
    expected = round_to_ten(exact)
    assert offering.reach(engine, thresholds).people == expected
    offers = [
        Offer(
            i,
            "p",
            "n",
            "p",
            t.min_score,
            t.min_band,
            {Dimension(d): m for d, m in t.min_dimensions.items()},
        )
        for i, t in enumerate(THRESHOLDS, start=1)
    ]
    together = offering.reach_of_offers(engine, offers)
    assert together[THRESHOLDS.index(thresholds) + 1].people == expected


def round_to_ten(count: int) -> int:
    """The count as shown: to the nearest ten, a half up."""
    return int(Decimal(count).scaleb(-1).quantize(Decimal(1), ROUND_HALF_UP)) * 10


def test_counts_a_point_apart_do_not_tell_who_lies_between(engine: Engine) -> None:
    """Exact counts at 700 and 701 told by their difference how many score exactly 700 (one,
    say): shown to the nearest ten, a difference of one mostly shows none, and never as one."""
    scores = range(640, 680)
    shown = [offering.reach(engine, offering.Thresholds(score)).people for score in scores]
    exact = [approved_one_by_one(engine, offering.Thresholds(score)) for score in scores]
    assert shown == [round_to_ten(n) if n >= 10 else None for n in exact]
    steps = {a - b for a, b in itertools.pairwise(shown) if a is not None and b is not None}
    assert steps <= {0, 10, 20} and 0 in steps


def test_fewer_than_ten_is_never_counted_aloud(engine: Engine) -> None:
    top = offering.Thresholds(950)
    assert approved_one_by_one(engine, top) < offering.SMALLEST_COUNT
    assert offering.reach(engine, top).people is None
    assert offering.reach(engine, top).fewer_than_smallest


def test_thresholds_are_checked_as_an_offers_are(engine: Engine) -> None:
    with pytest.raises(offering.OfferRejected, match="between 350 and 950") as refused:
        offering.reach(engine, offering.Thresholds(200))
    assert refused.value.field == "min_score"
    with pytest.raises(ConnectionsNotRequirable):
        offering.reach(engine, offering.Thresholds(600, None, {"connections": 10}))
