import pytest

from kaimen.domain.months import is_month


@pytest.mark.parametrize("text", ["2026-01", "2026-10", "2026-12", "1900-01", "0001-09"])
def test_months_written_yyyy_mm(text: str) -> None:
    assert is_month(text)


@pytest.mark.parametrize(
    "text",
    ["2026-00", "2026-13", "2026-1", "26-01", "2026/01", "2026-01-01", " 2026-01", "2026-01\n", ""],
)
def test_anything_else_is_not_a_month(text: str) -> None:
    assert not is_month(text)
