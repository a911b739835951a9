import gc
from collections.abc import Iterator

import pytest

from kaimen.cli.start_up import loading_services


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the test process's collector as it was (enabled, nothing frozen)."""
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("collector")
def test_services_load_with_the_collector_paused_and_then_frozen() -> None:
    gc.enable()
    gc.unfreeze()
    with loading_services():
        assert not gc.isenabled()
        made = [[] for _ in range(100)]  # containers the collector would track
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


@pytest.mark.usefixtures("collector")
def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    with loading_services():
        pass
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_failed_import_still_gives_the_collector_back() -> None:
    gc.enable()
    with pytest.raises(ImportError), loading_services():
        import kaimen.no_such_service  # type: ignore[import-not-found]  # noqa: F401
    assert gc.isenabled()
