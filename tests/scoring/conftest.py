"""Copies of the shared population for scoring tests that change what they are given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.population import BACKENDS, Populations, World


@pytest.fixture(scope="module")
def world(populations: Populations, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The scored population on SQLite (PREVIOUS and LAST scored), the module's own copy."""
    home = tmp_path_factory.mktemp("world")
    with populations.copy("scored", "sqlite", home) as population, population.opened() as w:
        yield w


@pytest.fixture(params=BACKENDS)
def trained_world(
    request: pytest.FixtureRequest,
    populations: Populations,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The trained population, nothing scored, the test's own copy on each backend."""
    home = tmp_path_factory.mktemp(f"trained-{request.param}")
    with populations.copy("trained", request.param, home) as population, population.opened() as w:
        yield w
