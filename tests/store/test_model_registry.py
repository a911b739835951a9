"""The model registry: one champion across kinds, enforced by the database itself."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.store import model_registry
from kaimen.store.database import _alembic_config, connect, migrate
from kaimen.store.model_registry import ModelRecord
from kaimen.store.tables import models
from tests.conftest import NOW


def record(version: str, kind: str = "scorecard", minutes: int = 0) -> ModelRecord:
    return ModelRecord(
        version,
        kind,
        f"/models/{version}.json",
        "0" * 64,
        NOW + dt.timedelta(minutes=minutes),
        "2026-10",
        {"out_of_time": {"auc": 0.8}},
        False,
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
