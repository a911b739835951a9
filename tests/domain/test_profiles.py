"""Jurisdiction profiles: the shipped three, deadlines in each one's calendar, custom files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kaimen.domain import profiles
from kaimen.domain.errors import ConfigurationError
from kaimen.domain.working_days import (
    add_working_days,
    check_calendar,
    is_working_day,
    working_days_between,
)

BEIJING = dt.timezone(dt.timedelta(hours=8))


def test_the_shipped_profiles_hold_their_laws_numbers() -> None:
    cn, us, eu = (profiles.load(name) for name in profiles.SHIPPED)
    assert (cn.dispute_answer.days, cn.dispute_answer.unit) == (20, "calendar_days")
    assert (us.dispute_answer.days, us.dispute_answer_extended.days) == (30, 45)
    assert (us.furnisher_notice.days, us.furnisher_notice.unit) == (5, "working_days")
    assert (cn.listing_lift_after_payment.days, cn.listing_lift_after_payment.unit) == (
        3,
        "working_days",
    )
    assert (cn.negative_retention_years, us.negative_retention_years) == (5, 7)
    assert us.statement_max_words == 100
    assert set(cn.restrictions) == set(profiles.RESTRICTION_PURPOSES)
    assert us.restrictions == {} and eu.restrictions == {}
    assert not eu.allows_section("court_list") and cn.allows_section("court_list")
    assert profiles.load() == cn  # cn is the default


def test_china_counts_the_golden_week_off_and_its_make_up_saturday_in() -> None:
    # State Council schedule for 2026: 1-7 October off, Saturday 10 October a working day.
    assert not is_working_day(dt.date(2026, 10, 5), "country:CN")
    assert is_working_day(dt.date(2026, 10, 10), "country:CN")
    assert add_working_days(dt.date(2026, 9, 30), 3, "country:CN") == dt.date(2026, 10, 10)
    assert working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 10), "country:CN") == 3


def test_a_listing_paid_before_golden_week_must_be_lifted_by_the_make_up_saturday() -> None:
    cn = profiles.load("cn")
    paid = dt.datetime(2026, 9, 30, 15, 0, tzinfo=BEIJING)
    assert cn.last_day(paid, cn.listing_lift_after_payment) == dt.date(2026, 10, 10)
    # Passed at midnight Beijing time, the start of Sunday 11 October.
    assert cn.deadline(paid, cn.listing_lift_after_payment) == dt.datetime(
        2026, 10, 10, 16, 0, tzinfo=dt.UTC
    )


def test_the_clock_starts_on_the_local_date_of_the_jurisdiction() -> None:
    cn = profiles.load("cn")
    # 23:30 UTC on 1 December is already 2 December in Beijing.
    filed = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert cn.last_day(filed, cn.dispute_answer) == dt.date(2026, 12, 22)


def test_us_business_days_skip_thanksgiving() -> None:
    us = profiles.load("us")
    received = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # Monday
    # Tue 24, Wed 25, (Thu 26 Thanksgiving), Fri 27, Mon 30, Tue 1 December.
    assert us.last_day(received, us.furnisher_notice) == dt.date(2026, 12, 1)


def test_retention_runs_from_the_end_of_the_conduct() -> None:
    assert profiles.load("cn").retention_ends(dt.date(2020, 2, 29)) == dt.date(2025, 2, 28)
    assert profiles.load("us").retention_ends(dt.date(2020, 3, 1)) == dt.date(2027, 3, 1)


def test_statement_words_count_chinese_characters_one_by_one() -> None:
    cn = profiles.load("cn")
    assert cn.statement_words("I paid the fine twice") == 5
    assert cn.statement_words("我已缴纳罚款 see slip 2") == 6 + 3


def test_a_custom_profile_file_is_checked_in_full(tmp_path: Path) -> None:
    text = (
        Path(profiles.__file__).parent.joinpath("jurisdictions/us.toml").read_text("utf-8")
    ).replace('name = "us"', 'name = "us-ny"')
    good = tmp_path / "ny.toml"
    good.write_text(text, encoding="utf-8")
    assert profiles.load(str(good)).name == "us-ny"

    misspelt = tmp_path / "bad.toml"
    misspelt.write_text(text.replace("statement_max_words", "statement_max_wordz"), "utf-8")
    with pytest.raises(ConfigurationError, match=r"statement_max_wordz.*not permitted"):
        profiles.load(str(misspelt))

    zone = tmp_path / "zone.toml"
    zone.write_text(text.replace("America/New_York", "Mars/Olympus"), "utf-8")
    with pytest.raises(ConfigurationError, match="unknown time zone 'Mars/Olympus'"):
        profiles.load(str(zone))

    with pytest.raises(ConfigurationError, match="must be one of cn, us, eu"):
        profiles.load("atlantis")
    with pytest.raises(ConfigurationError, match="cannot read profile file"):
        profiles.load(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ", "utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        profiles.load(str(broken))


def test_profiles_hold_the_connections_and_points_switches() -> None:
    cn, us, eu = (profiles.load(name) for name in profiles.SHIPPED)
    assert cn.connections.allowed and us.connections.allowed and not eu.connections.allowed
    assert 0 < us.connections.cap <= cn.connections.cap <= 30
    assert cn.points_programme.allowed and not eu.points_programme.allowed
    assert "AI Act" in (eu.points_programme.off_because or "")
    for profile in (cn, us):
        assert not {"education", "employment", "licences", "social_services"} & set(
            profile.points_programme.privilege_contexts
        )


def test_a_profile_naming_an_unknown_privilege_context_is_refused(tmp_path: Path) -> None:
    text = (
        Path(profiles.__file__).parent.joinpath("jurisdictions/us.toml").read_text("utf-8")
    ).replace('"civic"]', '"civic", "dating"]')
    path = tmp_path / "us-dating.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="privilege_contexts"):
        profiles.load(str(path))


@pytest.mark.parametrize(
    ("calendar", "known"),
    [
        ("country:CN", True),
        ("country:CHN", True),
        ("country:DE", True),
        ("financial:XECB", True),
        ("financial:XNYS", True),
        ("country:ZZ", False),
        ("country:XECB", False),  # a market is not a country
        ("financial:CN", False),
        ("country:country_holidays", False),  # an attribute of the library, not a calendar
    ],
)
def test_a_calendar_is_checked_as_the_library_would_load_it(
    tmp_path: Path, calendar: str, known: bool
) -> None:
    text = Path(profiles.__file__).parent.joinpath("jurisdictions/us.toml").read_text("utf-8")
    path = tmp_path / "custom.toml"
    path.write_text(text.replace('"country:US"', f'"{calendar}"'), encoding="utf-8")
    if known:
        profile = profiles.load(str(path))
        # What the check let through, the deadlines can count in.
        assert add_working_days(dt.date(2026, 9, 30), 3, profile.calendar) > dt.date(2026, 9, 30)
    else:
        with pytest.raises(ConfigurationError, match=f"no calendar '{calendar}'"):
            profiles.load(str(path))
    with pytest.raises(ConfigurationError, match="must be 'country:<ISO code>'"):
        check_calendar("planet:MARS")
