"""The scored population for scoring tests that change what they are given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.population import Populations, World


@pytest.fixture(scope="module")
def world(populations: Populations) -> Iterator[World]:
    """The scored population on SQLite (PREVIOUS and LAST scored), the module's own copy."""
    with populations.copy("scored", "sqlite") as population, population.opened() as w:
        yield w
