"""Sex and province from the ID number, and age bands."""

from __future__ import annotations

import datetime as dt

import pytest

from kaimen.domain import national_id
from kaimen.domain.audit_groups import (
    PROVINCES,
    age_band,
    age_on,
    region_label,
    split_traits,
    traits_of,
)
from kaimen.domain.national_id import PROVINCE_CODES
from tests.conftest import make_national_id


def test_sex_is_the_parity_of_the_17th_digit() -> None:
    assert national_id.sex_of(make_national_id(sequence="011")) == "male"
    assert national_id.sex_of(make_national_id(sequence="010")) == "female"


def test_province_is_the_first_two_digits() -> None:
    assert national_id.province_of(make_national_id(region="440305")) == "44"
    assert region_label("44") == "44 Guangdong"
    assert {int(code) for code in PROVINCES} == set(PROVINCE_CODES)


def test_traits_are_kept_as_one_text() -> None:
    value = make_national_id(region="440305", sequence="013")
    assert traits_of(value) == "male 44"
    assert split_traits(traits_of(value)) == ("male", "44")


@pytest.mark.parametrize(
    ("birth", "day", "band"),
    [
        ("2010-05-01", "2026-10-31", "under 18"),
        ("2008-11-01", "2026-10-31", "under 18"),  # 18 tomorrow
        ("2008-10-31", "2026-10-31", "18-24"),
        ("2001-10-31", "2026-10-31", "25-34"),
        ("1961-01-01", "2026-10-31", "65+"),
        ("1970-06-15", "2026-10-31", "55-64"),
    ],
)
def test_age_bands(birth: str, day: str, band: str) -> None:
    age = age_on(dt.date.fromisoformat(birth), dt.date.fromisoformat(day))
    assert age_band(age) == band
