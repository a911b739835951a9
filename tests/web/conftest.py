"""The browser tests' fixtures: one Chromium per module, and the app served live over a copy
of the scored population, per module (each module may change what it serves)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.population import Populations
from tests.web.browsing import Live, launch_browser, serve_live


@pytest.fixture(scope="module")
def live(populations: Populations) -> Iterator[Live]:
    yield from serve_live(populations)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()
