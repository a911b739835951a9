"""The model registry: one champion across kinds, enforced by the database itself."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.domain.model_metrics import Evaluation, ModelMetrics
from kaimen.store import model_registry
from kaimen.store.database import _alembic_config, connect, migrate
from kaimen.store.model_registry import ModelRecord
from kaimen.store.tables import models
from tests.conftest import NOW


def record(version: str, kind: str = "scorecard", minutes: int = 0) -> ModelRecord:
    out_of_time = Evaluation(rows=10, bad_rate=0.2, auc=0.8, ks=0.5, gini=0.6, bad_rate_by_band=())
    return ModelRecord(
        version,
        kind,
        f"/models/{version}.json",
        "0" * 64,
        NOW + dt.timedelta(minutes=minutes),
        "2026-10",
        ModelMetrics(out_of_time=out_of_time),
        False,
    )


# Metrics as training stores them today (sorted keys), with a band nobody fell in.
STORED = (
    '{"comparison": {"models": [{"auc": 0.8592, "gini": 0.7183, "kind": "scorecard", '
    '"ks": 0.5871, "version": "card-1"}], "out_of_time": "2025-10"}, '
    '"out_of_time": {"auc": 0.8592, "bad_rate": 0.06666666666666667, "bad_rate_by_band": '
    '[{"bad_rate": 0.18181818181818182, "band": "poor", "count": 462, '
    '"expected_bad_rate": 0.2192125722336561}, {"bad_rate": null, "band": "excellent", '
    '"count": 0, "expected_bad_rate": null}], "expected_bad_rate": 0.07989429524431661, '
    '"gini": 0.7183, "ks": 0.5871, "rows": 1500}, "training": {"auc": 0.8743, '
    '"bad_rate": 0.06755555555555555, "bad_rate_by_band": [], "expected_bad_rate": 0.0677, '
    '"gini": 0.7486, "ks": 0.5927, "rows": 4500}}'
)
# As the first trainings stored them: no expected bad rates, no comparison.
STORED_BEFORE_CALIBRATION = (
    '{"out_of_time": {"auc": 0.8, "bad_rate": 0.1, "bad_rate_by_band": [{"bad_rate": 0.1, '
    '"band": "poor", "count": 10}], "gini": 0.6, "ks": 0.5, "rows": 10}}'
)


def champions(engine: Engine) -> list[str]:
    with engine.connect() as store:
        return list(store.execute(select(models.c.version).where(models.c.champion == 1)).scalars())


def test_the_first_model_ever_is_champion_and_later_ones_of_any_kind_are_not(
    engine: Engine,
) -> None:
    with engine.begin() as store:
        assert model_registry.champion(store) is None
        assert model_registry.register(store, record("card-1")) is True
        assert model_registry.register(store, record("lgb-1", "lightgbm", 1)) is False
        assert model_registry.register(store, record("card-2", minutes=2)) is False
    assert champions(engine) == ["card-1"]
    with engine.connect() as store:
        champion = model_registry.champion(store)
        assert champion is not None and champion.version == "card-1"
        assert [r.version for r in model_registry.every(store)] == ["card-1", "lgb-1", "card-2"]
        assert model_registry.get(store, "lgb-1") == record("lgb-1", "lightgbm", 1)


def test_a_new_model_cannot_take_the_champion_by_asking(engine: Engine) -> None:
    with engine.begin() as store:
        model_registry.register(store, record("card-1"))
    with engine.begin() as store, pytest.raises(ValueError, match="card-1 is the champion"):
        model_registry.register(store, dataclasses.replace(record("lgb-1"), champion=True))
    assert champions(engine) == ["card-1"]


def test_promote_moves_the_one_champion_across_kinds(engine: Engine) -> None:
    with engine.begin() as store:
        model_registry.register(store, record("card-1"))
        model_registry.register(store, record("lgb-1", "lightgbm", 1))
        model_registry.promote(store, "lgb-1")
    assert champions(engine) == ["lgb-1"]
    with engine.begin() as store:
        model_registry.promote(store, "card-1")
    assert champions(engine) == ["card-1"]
    with engine.begin() as store, pytest.raises(KeyError, match="nope"):
        model_registry.promote(store, "nope")
    assert champions(engine) == ["card-1"]


def test_the_database_refuses_a_second_champion(engine: Engine) -> None:
    with engine.begin() as store:
        model_registry.register(store, record("card-1"))
        model_registry.register(store, record("lgb-1", "lightgbm", 1))
    with pytest.raises(IntegrityError), engine.begin() as store:
        store.execute(update(models).where(models.c.version == "lgb-1").values(champion=1))
    with pytest.raises(IntegrityError), engine.begin() as store:
        store.execute(
            insert(models).values(
                version="x", kind="lightgbm", path="p", sha256="0" * 64,
                trained_at=NOW, as_of="2026-10", metrics="{}", champion=1,
            )
        )  # fmt: skip
    assert champions(engine) == ["card-1"]
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("models")}
    assert indexes["uq_models_one_champion"]["unique"]


def test_an_unknown_kind_is_refused(engine: Engine) -> None:
    with engine.begin() as store, pytest.raises(ValueError, match="unknown model kind"):
        model_registry.register(store, record("x", "xgboost"))


def test_migrating_a_store_with_a_champion_per_kind_keeps_the_first_trained(
    empty_database_url: str,
) -> None:
    engine = connect(empty_database_url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with engine.begin() as store:
        for version, kind, minutes in (("lgb-1", "lightgbm", 5), ("card-1", "scorecard", 0)):
            store.execute(
                insert(models).values(
                    version=version, kind=kind, path="p", sha256="0" * 64,
                    trained_at=NOW + dt.timedelta(minutes=minutes), as_of="2026-10",
                    metrics="{}", champion=1,
                )
            )  # fmt: skip
    migrate(engine)
    assert champions(engine) == ["card-1"]
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(models)).scalar() == 2
    engine.dispose()


@pytest.mark.parametrize("stored", [STORED, STORED_BEFORE_CALIBRATION, "{}"])
def test_metrics_stored_before_read_as_records_and_write_back_the_same(
    engine: Engine, stored: str
) -> None:
    with engine.begin() as store:
        store.execute(
            insert(models).values(
                version="old", kind="scorecard", path="p", sha256="0" * 64,
                trained_at=NOW, as_of="2026-10", metrics=stored, champion=1,
            )
        )  # fmt: skip
    with engine.connect() as store:
        old = model_registry.get(store, "old")
    assert old is not None
    assert old.metrics.to_json() == stored
    with engine.begin() as store:
        model_registry.register(store, dataclasses.replace(old, version="again", champion=False))
    with engine.connect() as store:
        again = store.execute(select(models.c.metrics).where(models.c.version == "again"))
        assert again.scalar_one() == stored
        assert model_registry.get(store, "again") == dataclasses.replace(
            old, version="again", champion=False
        )


def test_stored_metrics_read_as_typed_values(engine: Engine) -> None:
    with engine.begin() as store:
        model_registry.register(store, record("card-1"))
        store.execute(update(models).values(metrics=STORED))
    with engine.connect() as store:
        stored = model_registry.get(store, "card-1")
    assert stored is not None
    metrics = stored.metrics
    assert metrics.out_of_time is not None and metrics.comparison is not None
    assert (metrics.out_of_time.rows, metrics.out_of_time.auc) == (1500, 0.8592)
    poor, excellent = metrics.out_of_time.bad_rate_by_band
    assert (poor.band, poor.count, poor.expected_bad_rate) == ("poor", 462, 0.2192125722336561)
    assert (excellent.bad_rate, excellent.expected_bad_rate) == (None, None)
    assert [m.version for m in metrics.comparison.models] == ["card-1"]
    assert metrics.training is not None and metrics.training.bad_rate_by_band == ()
