import pytest

from kaimen.domain.errors import IdentityRejected
from kaimen.domain.phone import normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("+14155550123", "+14155550123"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "12345", "23800138000", "+86123", "+8612800138000", "phone", "+0123456789"]
)
def test_bad_numbers_are_refused_with_phone_format(raw: str) -> None:
    with pytest.raises(IdentityRejected) as caught:
        normalise_phone(raw)
    assert caught.value.reason == "phone_format"
