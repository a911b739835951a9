import datetime as dt

import numpy as np
import pytest

from kaimen.domain import national_id
from kaimen.domain.errors import IdentityRejected
from tests.conftest import make_national_id

TODAY = dt.date(2026, 11, 22)


def test_a_valid_number_parses_with_its_birth_date() -> None:
    parsed = national_id.parse(make_national_id(birth="19900307"), TODAY)
    assert parsed.birth_date == dt.date(1990, 3, 7)


def test_the_published_example_number_is_valid() -> None:
    # GB 11643-1999's worked example: 11010519491231002X.
    parsed = national_id.parse("11010519491231002X", TODAY)
    assert parsed.value == "11010519491231002X"
    assert parsed.birth_date == dt.date(1949, 12, 31)


def test_lower_case_x_is_normalised() -> None:
    assert national_id.parse("11010519491231002x", TODAY).value == "11010519491231002X"


def test_the_number_never_appears_in_repr_or_str() -> None:
    parsed = national_id.parse("11010519491231002X", TODAY)
    assert "11010519491231002X" not in repr(parsed)
    assert "11010519491231002X" not in str(parsed)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1101051949123100", "format"),  # too short
        ("11010519491231002XX", "format"),  # too long
        ("1101051949123100AX", "format"),  # letter in the body
        ("110105194912310X22", "format"),  # X not last
        ("１１0105194912310022", "format"),  # full-width digits are not ASCII
        ("", "format"),
        ("990105194912310021", "region"),
        ("000105194912310021", "region"),
        ("110105199002300021", "birth_date"),  # 30 February
        ("110105189912310021", "birth_date"),  # before 1900
        ("110105203001010021", "birth_date"),  # in the future
        ("110105199013010021", "birth_date"),  # month 13
        ("110105194912310021", "check_digit"),
    ],
)
def test_each_rejection_names_its_reason(value: str, reason: str) -> None:
    with pytest.raises(IdentityRejected) as caught:
        national_id.parse(value, TODAY)
    assert caught.value.reason == reason
    if value:
        assert value not in str(caught.value)


def test_a_birth_date_today_is_accepted_but_tomorrow_is_not() -> None:
    today = make_national_id(birth=TODAY.strftime("%Y%m%d"))
    tomorrow = make_national_id(birth=(TODAY + dt.timedelta(days=1)).strftime("%Y%m%d"))
    assert national_id.parse(today, TODAY).birth_date == TODAY
    with pytest.raises(IdentityRejected, match="birth_date"):
        national_id.parse(tomorrow, TODAY)


def test_leap_days_follow_the_calendar() -> None:
    assert national_id.parse(make_national_id(birth="20000229"), TODAY)
    with pytest.raises(IdentityRejected, match="birth_date"):
        national_id.parse(make_national_id(birth="19000229"), TODAY)


def test_every_check_character_value_round_trips() -> None:
    seen = set()
    for sequence in range(200):
        number = make_national_id(sequence=f"{sequence:03d}")
        seen.add(number[-1])
        assert national_id.parse(number, TODAY).value == number
    assert seen == set("0123456789X")


def test_bulk_check_agrees_with_single_parse() -> None:
    values = [
        make_national_id(),
        "110105194912310021",
        "990105194912310021",
        "abc",
        "11010519491231002x",
        make_national_id(birth="19000229"),
    ]
    result = national_id.check_many(values, TODAY)
    assert result.reasons == ["", "check_digit", "region", "format", "", "birth_date"]
    assert result.birth_dates[0] == np.datetime64("1990-03-07")
    assert np.isnat(result.birth_dates[1])
