"""The card compiled to engine expressions publishes exactly what the NumPy path made.

The seeded population is scored by `score_month`, whose scorecard runs inside DuckDB
(`model.card_snapshots`). For every person and both scored months, the stored snapshot must
equal the record the NumPy scorecard (`scorecard.points`, `dimension_scores`, `reasons`)
and the per-person record builder make from the same features: same score, band, sub-scores,
reasons in the same order with the same values, and the same points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pyarrow.compute as pc
import pytest
from sqlalchemy import select

from kaimen.engines.embedded import ibis_connection
from kaimen.features.build import build_features
from kaimen.model.scorecard import Scorecard, published_score
from kaimen.scoring.batch import _snapshots, load_model
from kaimen.scoring.datasets import feature_arrays
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import ScorecardModel
from kaimen.store import people, scores
from kaimen.store.tables import score_runs
from tests.population import LAST, PREVIOUS, Population, World


@pytest.fixture(scope="module")
def world(scored_copy: Population) -> Iterator[World]:
    with scored_copy.opened() as w:
        yield w


@pytest.mark.parametrize("month", [PREVIOUS, LAST])
def test_stored_snapshots_equal_the_numpy_scorecards(world: World, month: str) -> None:
    version, card = load_model(world.engine, lake_root=world.lake)
    assert isinstance(card, Scorecard)
    model = ScorecardModel(card)
    with world.engine.connect() as store:
        enrolled = people.active_ids(store)
        published_at = store.execute(
            select(score_runs.c.published_at).where(score_runs.c.month == month)
        ).scalar_one()
    features = build_features(ibis_connection(), summary_paths(world.engine, world.lake), month)
    table = enrolled.join(features, "person_id", join_type="left outer").sort_by("person_id")
    thin = pc.fill_null(table.column("thin_file"), True).to_pylist()
    values = feature_arrays(table)
    scored = model.score(values)
    ids = table.column("person_id").to_pylist()
    expected = list(
        _snapshots(
            month,
            version,
            published_at,
            ids,
            thin,
            published_score(scored.raw).tolist(),
            model.names,
            scored,
            values,
        )
    )
    assert len(expected) == 1500
    assert any(len(s.reasons) == 4 for s in expected)
    with world.engine.connect() as store:
        stored = {s.person_id: s for p in ids for s in scores.history(store, p) if s.month == month}
    assert len(stored) == len(expected)
    for want in expected:
        got = stored[want.person_id]
        # Compared field by field so a failure names the field.
        for field in dataclasses.fields(want):
            assert getattr(got, field.name) == getattr(want, field.name), (
                want.person_id,
                field.name,
            )
