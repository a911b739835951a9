"""Jurisdiction profiles: every deadline, retention period and switch that differs between
legal systems, in one typed record. `cn` (the default), `us` and `eu` ship with the package as
TOML files in `domain/jurisdictions/`; `KAIMEN_PROFILE` names one of them or the path of a
custom file in the same format. No service holds a deadline of its own: each asks the profile.

A deadline is a `Period`: calendar days, or working days in the profile's calendar (see
`working_days`), counted from the local date (in the profile's time zone) of the moment the
clock starts; it ends at the first instant of the day after its last day.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kaimen.domain.connections import ConnectionsRules
from kaimen.domain.contexts import CONTEXTS, Context
from kaimen.domain.errors import ConfigurationError
from kaimen.domain.working_days import add_working_days, check_calendar

SHIPPED = ("cn", "us", "eu")
DEFAULT = "cn"
# What a report to a partner may hold; a profile lists the sections it allows.
REPORT_SECTIONS = (
    "standing",
    "rent_and_utilities",
    "open_delinquencies",
    "court_list",
    "disputes",
    "statements",
)
RESTRICTION_PURPOSES = ("air_travel", "high_speed_rail", "luxury_hotel", "large_loan")
RestrictionPurpose = Literal["air_travel", "high_speed_rail", "luxury_hotel", "large_loan"]
Unit = Literal["calendar_days", "working_days"]


class Period(BaseModel):
    """A length of time a deadline runs for, and how its days are counted."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    days: int = Field(ge=0, le=3650)
    unit: Unit = "calendar_days"

    def __str__(self) -> str:
        kind = "working days" if self.unit == "working_days" else "days"
        return f"{self.days} {kind}"


class PointsProgrammeRules(BaseModel):
    """A profile's switch for a points programme, and where its privileges may apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed: bool
    off_because: str | None = Field(
        default=None,
        max_length=500,
        description="why the programme is off, shown to whoever asks for it (required when off)",
    )
    privilege_contexts: tuple[Context, ...] = Field(
        default=(), description=f"contexts privileges may apply in, of: {', '.join(CONTEXTS)}"
    )

    @model_validator(mode="after")
    def _explained_when_off(self) -> Self:
        if not self.allowed and not (self.off_because or "").strip():
            raise ValueError("the points programme is off: say why in off_because")
        if not self.allowed and self.privilege_contexts:
            raise ValueError("the points programme is off: it can allow no privilege contexts")
        return self


class Profile(BaseModel):
    """One jurisdiction's rules. Loaded from TOML; unknown keys are refused, so a misspelt
    setting in a custom file never silently falls back to a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")
    title: str = Field(min_length=1, max_length=200)
    time_zone: str
    calendar: str = Field(description="working days: 'country:CN', 'financial:XECB', ...")
    dispute_answer: Period = Field(description="the furnisher's time to answer a dispute")
    dispute_answer_extended: Period = Field(
        description="the same when the person adds information during the investigation"
    )
    furnisher_notice: Period = Field(description="time to tell the furnisher of a dispute")
    listing_lift_after_payment: Period = Field(
        description="time to lift a court listing once its judgment is paid"
    )
    review_within: Period = Field(
        description="time for a person to decide an item in a review queue (a candidate "
        "identity link, a payment matching no judgment for sure)"
    )
    negative_retention_years: int = Field(
        ge=1, le=20, description="negative items stop counting this long after the conduct ended"
    )
    disputed_counts_while_pending: bool
    statement_max_words: int = Field(ge=10, le=1000)
    report_sections: tuple[str, ...]
    court_listing_penalty: int = Field(
        ge=0, le=300, description="points an active court listing takes off the score"
    )
    restrictions: dict[RestrictionPurpose, str] = Field(
        default_factory=dict,
        description="purposes an active court listing restricts, each with its legal basis",
    )
    connections: ConnectionsRules = Field(
        description="whether friends' scores may count, and how little they may move a score"
    )
    points_programme: PointsProgrammeRules = Field(
        description="whether a points programme may run, and where its privileges may apply"
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        try:
            return check_calendar(value)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None

    @field_validator("report_sections")
    @classmethod
    def _known_sections(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(REPORT_SECTIONS))
        if unknown:
            raise ValueError(
                f"unknown report sections {unknown}; known: {', '.join(REPORT_SECTIONS)}"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The date `moment` falls on in this jurisdiction."""
        return _aware(moment).astimezone(self.zone).date()

    def last_day(self, start: dt.datetime, period: Period) -> dt.date:
        """The last local day of a deadline whose clock starts at `start`."""
        first = self.local_date(start)
        if period.unit == "working_days":
            return add_working_days(first, period.days, self.calendar)
        return first + dt.timedelta(days=period.days)

    def deadline(self, start: dt.datetime, period: Period) -> dt.datetime:
        """When a deadline whose clock starts at `start` has passed (UTC): the first instant
        of the local day after its last day."""
        after = self.last_day(start, period) + dt.timedelta(days=1)
        return dt.datetime.combine(after, dt.time(), self.zone).astimezone(dt.UTC)

    def retention_ends(self, conduct_ended: dt.date) -> dt.date:
        """The day a negative item whose conduct ended on `conduct_ended` stops counting."""
        years = self.negative_retention_years
        try:
            return conduct_ended.replace(year=conduct_ended.year + years)
        except ValueError:  # 29 February, in a year that has none
            return conduct_ended.replace(year=conduct_ended.year + years, day=28)

    def retention_cutoff(self, today: dt.date) -> dt.date:
        """The last day of conduct whose negative items have stopped counting by `today`:
        an item expires when `retention_ends(conduct_ended) <= today`, that is when
        `conduct_ended <= retention_cutoff(today)` (`retention_ends` never decreases, so one
        date splits expired from counting; a query filters on it instead of calling
        `retention_ends` per item)."""
        years = self.negative_retention_years
        try:
            cutoff = today.replace(year=today.year - years)
        except ValueError:  # 29 February, in a year that has none
            cutoff = today.replace(year=today.year - years, day=28)
        # 29 February ends its retention on 28 February: step on while the next day has
        # expired too, so the cutoff agrees with `retention_ends` on every date.
        while self.retention_ends(cutoff + dt.timedelta(days=1)) <= today:
            cutoff += dt.timedelta(days=1)
        return cutoff

    def allows_section(self, section: str) -> bool:
        return section in self.report_sections

    def statement_words(self, statement: str) -> int:
        """Words in a statement as the limit counts them: runs separated by spaces, and each
        CJK character on its own (Chinese is written without spaces)."""
        words = 0
        for run in statement.split():
            cjk = sum(1 for ch in run if _is_cjk(ch))
            rest = "".join(" " if _is_cjk(ch) else ch for ch in run).split()
            words += cjk + len(rest)
        return words


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FA1F


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a deadline's clock starts at an aware moment")
    return moment


@dataclass(frozen=True)
class _Source:
    label: str
    text: str


def _source(choice: str) -> _Source:
    if choice in SHIPPED:
        text = resources.files("kaimen.domain").joinpath(f"jurisdictions/{choice}.toml")
        return _Source(f"profile {choice!r}", text.read_text(encoding="utf-8"))
    path = Path(choice)
    if path.suffix != ".toml":
        raise ConfigurationError(
            f"KAIMEN_PROFILE must be one of {', '.join(SHIPPED)} or the path of a .toml file; "
            f"got {choice!r}"
        )
    try:
        return _Source(f"profile file {path}", path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(
            f"cannot read profile file {path}: {error.strerror or error}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"profile file {path} is not UTF-8 text") from None


@lru_cache(maxsize=8)
def load(choice: str = DEFAULT) -> Profile:
    """The profile `choice` names (a shipped name or a .toml path), checked in full."""
    source = _source(choice.strip())
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{source.label} is not valid TOML: {error}") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(f"{source.label} is not a valid profile: {problems}") from None
