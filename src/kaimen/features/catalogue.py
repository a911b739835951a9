"""The feature catalogue: one small function per feature, named after the column it makes.

Each takes the summary rows known by `as_of` (an Ibis table) and a `Window`, and returns
one aggregate per person. The decorator records its dimension, the direction in which risk
moves with it (`ascending`: more of it, more risk), whether a person can act on it, and
the plain-language reason shown when it costs points. One catalogue serves the monthly
batch and the single-person rescore.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from kaimen.domain.events import MAX_AMOUNT
from kaimen.domain.months import is_month
from kaimen.domain.scores import Dimension
from kaimen.domain.value_domains import ValueDomain
from kaimen.features.summaries import FAMILIES, latest

if TYPE_CHECKING:
    import ibis.expr.types as ir

# Ibis is imported only inside the aggregates that call it: reading a published score needs
# the catalogue's reasons and descriptions, and `kaimen show` must not pay for Ibis.
Monotone = Literal["ascending", "descending", "auto"]
Aggregate: TypeAlias = "Callable[[ir.Table, Window], ir.Value | TwoSteps]"


@dataclass(frozen=True)
class Window:
    """The month a build is as of ('YYYY-MM', inclusive), and windows ending there."""

    as_of: str

    def __post_init__(self) -> None:
        if not is_month(self.as_of):
            raise ValueError(f"as_of must look like 2026-10, not {self.as_of!r}")

    def start(self, months: int) -> str:
        """The last month *before* a window of `months` months ending at as_of."""
        year, month = int(self.as_of[:4]), int(self.as_of[5:])
        index = year * 12 + month - 1 - months
        return f"{index // 12:04d}-{index % 12 + 1:02d}"

    def within(self, s: ir.Table, months: int) -> ir.BooleanValue:
        return s.occurred_month > self.start(months)

    def month_bit(self, s: ir.Table, months: int) -> ir.IntegerValue:
        """2**k for a row that occurred k months before as_of (0 for as_of itself), for k
        below `months`; null for an older row.

        A lookup of the month's text among the `months` months, newest first (most rows are
        recent, so most stop early): worked out from the text (two substrings, two casts and
        a power, for every summary row, twice) it was a quarter of the feature query's time
        (5.15 against 3.82 s at a million people)."""
        import ibis

        bits = [(self.start(k), ibis.literal(2**k, type="int64")) for k in range(months)]
        bit: ir.IntegerValue = s.occurred_month.cases(*bits, else_=None)
        return bit


@dataclass(frozen=True)
class Feature:
    name: str
    dimension: Dimension
    description: str
    monotone: Monotone
    actionable: bool
    reason: str
    aggregate: Aggregate


CATALOGUE: dict[str, Feature] = {}


def feature(
    dimension: Dimension, monotone: Monotone, actionable: bool, reason: str
) -> Callable[[Aggregate], Aggregate]:
    def register(function: Aggregate) -> Aggregate:
        name = function.__name__
        if name in CATALOGUE:
            raise ValueError(f"feature {name} defined twice")
        description = (function.__doc__ or "").strip()
        if not description:
            raise ValueError(f"feature {name} needs a one-line docstring")
        CATALOGUE[name] = Feature(
            name, dimension, description, monotone, actionable, reason, function
        )
        return function

    return register


def sum_where(value: ir.NumericValue, condition: ir.BooleanValue) -> ir.NumericScalar:
    """The sum of `value` over the rows where `condition` holds (null when there are none).

    A CASE inside the sum rather than `sum(where=...)`: DuckDB runs each FILTER clause as
    its own selection over the rows, which made the windowed sums three times slower.
    """
    import ibis

    return total(ibis.cases((condition, value)))


def total(value: ir.NumericValue) -> ir.NumericScalar:
    """The sum of `value` over the rows; a whole number when `value` is one.

    Whole numbers are added as float64 and the sum made whole again: DuckDB adds BIGINT
    columns in a 128-bit accumulator, which made each count's sum about 1.6 times as dear
    (the feature query took 5.8 against 4.7 s at a million people). The counts are exact in
    float64 (whole numbers far below 2**53), so the sum is the same in any order of the rows.
    """
    if value.type().is_integer():
        added: ir.NumericScalar = value.cast("float64").sum().cast("int64")
        return added
    return value.sum()


# Distinct months as bits of one integer: bit i set when a row occurred i months before
# as_of. An OR of integers is as cheap as a sum, where COUNT(DISTINCT month) made the engine
# keep a set per person: the two distinct counts took about a quarter of the feature query's
# CPU (measured at 100k people).
MONTH_BITS = 62


def _bit_count(mask: ir.IntegerValue) -> ir.IntegerValue:
    """How many bits of `mask` are set: `bit_count`, which DuckDB and Spark SQL both have
    (Ibis has no operation for it, so it is called by name)."""
    import ibis

    @ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
    def bit_count(value: int) -> int:  # type: ignore[empty-body]
        """The engine's own bit_count."""

    counted: ir.IntegerValue = bit_count(mask)
    return counted.cast("int64")


def _bit_or(bits: ir.IntegerValue) -> ir.IntegerScalar:
    """The bitwise OR of `bits` over the rows (null when there are none): `bit_or`, by name,
    as DuckDB and Spark SQL both call it (Ibis compiles its own BitOr for DuckDB only)."""
    import ibis

    @ibis.udf.agg.builtin(name="bit_or")  # type: ignore[untyped-decorator]
    def bit_or(value: int) -> int:  # type: ignore[empty-body]
        """The engine's own bit_or."""

    combined: ir.IntegerScalar = bit_or(bits)
    return combined


@dataclass(frozen=True)
class TwoSteps:
    """A feature made in two steps: aggregates per person (`parts`), then `finish` over their
    results, so an expression that uses an aggregate several times computes it once. With
    `beyond`, a per-person count (`person_id`, `count`) of what the parts cannot hold, added
    to the finished value (0 for people it does not list)."""

    parts: dict[str, ir.Value]
    finish: Callable[[dict[str, ir.Value]], ir.Value]
    beyond: ir.Table | None = None


def distinct_months(s: ir.Table, w: Window, months: int | None, where: ir.BooleanValue) -> TwoSteps:
    """How many distinct months the rows where `where` holds occurred in, within the last
    `months` months (all time for None): as bits of one integer for the last MONTH_BITS
    months; rows older than that (rare: over five years) are counted apart, exactly."""
    import ibis

    # Not a shift of the literal 1: Spark types that 1 as a 32-bit int and shifts modulo 32.
    bit = w.month_bit(s, MONTH_BITS)
    # Month names compare as text, so the engine can skip files by their statistics.
    recent = s.occurred_month > w.start(MONTH_BITS)
    mask = _bit_or(ibis.cases((where & recent, bit)))
    beyond = None
    if months is None or months > MONTH_BITS:
        old = s.filter(where & ~recent)
        if months is not None:
            old = old.filter(w.within(old, months))
        months_of = old.select("person_id", "occurred_month").distinct()
        beyond = months_of.group_by("person_id").aggregate(count=months_of.count())
    return TwoSteps({"mask": mask}, lambda part: _bit_count(part["mask"].fill_null(0)), beyond)


def total_of(s: ir.Table, columns: list[str]) -> ir.IntegerValue:
    total: ir.IntegerValue = s[columns[0]]
    for column in columns[1:]:
        total = total + s[column]
    return total


LATE = [f"{family}_late" for family in FAMILIES.values()]
ON_TIME = [f"{family}_on_time" for family in FAMILIES.values()]
DEFAULTED = [f"{family}_defaulted" for family in FAMILIES.values()]
SERIOUS = [f"{family}_late_90" for family in FAMILIES.values()] + DEFAULTED


# -- credit history ---------------------------------------------------------------------
@feature(
    Dimension.CREDIT_HISTORY,
    "ascending",
    True,
    "{value} bills or instalments paid late in the last 12 months",
)
def late_repayments_12m(s: ir.Table, w: Window) -> ir.Value:
    """Bills, rent, utilities and loan instalments paid late in the last 12 months."""
    return sum_where(total_of(s, LATE), w.within(s, 12))


@feature(
    Dimension.CREDIT_HISTORY,
    "ascending",
    True,
    "{value} defaults or payments 90+ days late in the last 24 months",
)
def serious_delinquencies_24m(s: ir.Table, w: Window) -> ir.Value:
    """Defaults and payments 90 or more days late in the last 24 months."""
    return sum_where(total_of(s, SERIOUS), w.within(s, 24))


@feature(
    Dimension.CREDIT_HISTORY,
    "descending",
    True,
    "{value:.0%} of bills and instalments paid on time in the last 12 months",
)
def on_time_share_12m(s: ir.Table, w: Window) -> ir.Value:
    """Share of repayments in the last 12 months that were on time (empty if none)."""
    window = w.within(s, 12)
    on_time = sum_where(total_of(s, ON_TIME), window)
    every = sum_where(total_of(s, ON_TIME) + total_of(s, LATE) + total_of(s, DEFAULTED), window)
    return on_time.cast("float64") / every.nullif(0).cast("float64")


@feature(
    Dimension.CREDIT_HISTORY,
    "descending",
    False,
    "only {value} repayments on record in the last 12 months",
)
def repayments_12m(s: ir.Table, w: Window) -> ir.Value:
    """Repayments of any kind recorded in the last 12 months: how deep the file is."""
    return sum_where(
        total_of(s, ON_TIME) + total_of(s, LATE) + total_of(s, DEFAULTED), w.within(s, 12)
    )


@feature(Dimension.CREDIT_HISTORY, "descending", False, "only {value} months of history")
def history_months(s: ir.Table, w: Window) -> TwoSteps:
    """Months with any recorded activity, all time."""
    import ibis

    return distinct_months(s, w, None, ibis.literal(True))


@feature(Dimension.CREDIT_HISTORY, "ascending", True, "{value} court judgments not satisfied")
def open_judgments(s: ir.Table, w: Window) -> ir.Value:
    """Court judgments entered and not yet satisfied or overturned."""
    import ibis

    return ibis.greatest(total(s.judgments_entered) - total(s.judgments_resolved), 0)


# -- behaviour --------------------------------------------------------------------------
@feature(
    Dimension.BEHAVIOUR,
    "ascending",
    True,
    "{value} rentals returned late, damaged or unpaid in the last 12 months",
)
def rental_problems_12m(s: ir.Table, w: Window) -> ir.Value:
    """Rentals returned late, damaged or left unpaid in the last 12 months."""
    return sum_where(s.rentals_late + s.rentals_damaged + s.rentals_unpaid, w.within(s, 12))


@feature(Dimension.BEHAVIOUR, "ascending", True, "{value} fines not paid")
def unpaid_fines(s: ir.Table, w: Window) -> ir.Value:
    """Fines issued and not paid, all time."""
    import ibis

    return ibis.greatest(total(s.fines_issued) - total(s.fines_paid), 0)


@feature(
    Dimension.BEHAVIOUR,
    "auto",
    True,
    "{value:.0%} of purchases on gaming or luxury in the last 6 months",
)
def risky_spend_share_6m(s: ir.Table, w: Window) -> ir.Value:
    """Share of purchases in the last 6 months at gaming or luxury merchants."""
    window = w.within(s, 6)
    risky = sum_where(s.risky_payments, window).cast("float64")
    return risky / sum_where(s.payments, window).nullif(0).cast("float64")


# -- fulfilment capacity ----------------------------------------------------------------
@feature(
    Dimension.CAPACITY, "auto", False, "spending of {value:,.0f} a month over the last 6 months"
)
def monthly_spend_6m(s: ir.Table, w: Window) -> ir.Value:
    """Average monthly spending over the last 6 months."""
    return sum_where(s.spend, w.within(s, 6)).fill_null(0).cast("float64") / 6


@feature(
    Dimension.CAPACITY,
    "descending",
    True,
    "rent and utilities paid on time {value:.0%} of the time in the last 12 months",
)
def rent_utility_on_time_share_12m(s: ir.Table, w: Window) -> ir.Value:
    """Share of rent and utility payments in the last 12 months that were on time."""
    window = w.within(s, 12)
    on_time = sum_where(s.rent_on_time + s.utility_on_time, window).cast("float64")
    every = sum_where(
        s.rent_on_time
        + s.utility_on_time
        + s.rent_late
        + s.utility_late
        + s.rent_defaulted
        + s.utility_defaulted,
        window,
    )
    return on_time / every.nullif(0).cast("float64")


@feature(
    Dimension.CAPACITY,
    "descending",
    False,
    "purchases in only {value} of the last 6 months",
)
def active_months_6m(s: ir.Table, w: Window) -> TwoSteps:
    """Months among the last 6 with at least one purchase: a sign of steady means."""
    return distinct_months(s, w, 6, w.within(s, 6) & (s.payments > 0))


# -- identity facts ---------------------------------------------------------------------
@feature(Dimension.IDENTITY, "descending", False, "education level {value} of 6 on record")
def education_rank(s: ir.Table, w: Window) -> ir.Value:
    """Latest verified education level, 0 (none) to 6 (doctorate)."""
    return latest(s.education_rank, s.education_at)


@feature(Dimension.IDENTITY, "descending", False, "no employer on record")
def has_employer(s: ir.Table, w: Window) -> ir.Value:
    """1 if an employer has been verified, else 0."""
    return (total(s.employer_reports) > 0).cast("int64")


@feature(Dimension.IDENTITY, "descending", False, "no vehicle on record")
def has_vehicle(s: ir.Table, w: Window) -> ir.Value:
    """1 if the latest verified vehicle record shows one owned, financed or leased."""
    return latest(s.vehicle_owned, s.vehicle_at).cast("int64")


# -- connections ------------------------------------------------------------------------
@feature(Dimension.CONNECTIONS, "auto", False, "{value} friends on the platform")
def friends_on_platform(s: ir.Table, w: Window) -> ir.Value:
    """Friend links added minus removed (kept out of the model until influence is bounded)."""
    return total(s.friends_added - s.friends_removed)


# What each feature's value can be: what a what-if may try. Counts are whole and at most
# COUNT_MAX (no one has more events of a kind in a window; the ingest caps make more a data
# error); a share is a fraction.
COUNT_MAX = 10_000
_COUNT = ValueDomain(0, COUNT_MAX, whole=True)
_SHARE = ValueDomain(0.0, 1.0)
DOMAINS: dict[str, ValueDomain] = {
    "late_repayments_12m": _COUNT,
    "serious_delinquencies_24m": _COUNT,
    "on_time_share_12m": _SHARE,
    "repayments_12m": _COUNT,
    "history_months": ValueDomain(0, 1200, whole=True),
    "open_judgments": _COUNT,
    "rental_problems_12m": _COUNT,
    "unpaid_fines": _COUNT,
    "risky_spend_share_6m": _SHARE,
    "monthly_spend_6m": ValueDomain(0.0, float(MAX_AMOUNT) * COUNT_MAX),
    "rent_utility_on_time_share_12m": _SHARE,
    "active_months_6m": ValueDomain(0, 6, whole=True),
    "education_rank": ValueDomain(0, 6, whole=True),
    "has_employer": ValueDomain(0, 1, whole=True),
    "has_vehicle": ValueDomain(0, 1, whole=True),
    "friends_on_platform": _COUNT,
}
