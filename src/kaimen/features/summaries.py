"""Compact monthly summaries: one row per person, month of occurrence and month known.

Keying by both months makes point-in-time exact: features as of month T sum the rows known
by T (`known_month <= T`), and windows (last 12 months...) select on `occurred_month`, so a
late report can never change an earlier month's features. Every measure is a count or a
sum, so summaries of new lake files are simply appended: a month's run reads only the new
events, never the years of history behind them. Expressions are Ibis, so the same code runs
on DuckDB or Spark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaimen.domain.events import REPAYMENT_KINDS

if TYPE_CHECKING:
    import ibis.expr.types as ir

# Ibis is imported by `summarise`, not here: the feature catalogue reads FAMILIES, and
# reading a published score through the catalogue must not pay for Ibis.

FAMILIES = {kind: kind.split("_")[0] for kind in REPAYMENT_KINDS}  # loan, bill, rent, utility
SERIOUS_DAYS_LATE = 90
RISKY_CATEGORIES = ("gaming", "luxury")
EDUCATION_RANK = {
    "none": 0,
    "primary": 1,
    "secondary": 2,
    "vocational": 3,
    "bachelor": 4,
    "master": 5,
    "doctorate": 6,
}
VEHICLE_OWNED = ("owned", "financed", "leased")


def month_of(timestamp: ir.TimestampValue) -> ir.StringValue:
    return timestamp.strftime("%Y-%m")


def summarise(events: ir.Table) -> ir.Table:
    """Monthly summary rows of `events` (lake columns), as an Ibis expression."""
    import ibis

    e = events.mutate(
        occurred_month=month_of(events.occurred_at),
        known_month=month_of(ibis.greatest(events.occurred_at, events.recorded_at)),
        days_late=events.paid_date.delta(events.due_date, unit="day"),
    )
    days_late = e.days_late
    measures: dict[str, ir.Value] = {"events": e.count()}
    for kind, family in FAMILIES.items():
        is_kind = e.kind == kind
        measures[f"{family}_on_time"] = e.count(where=is_kind & (e.status == "on_time"))
        measures[f"{family}_late"] = e.count(where=is_kind & (e.status == "late"))
        measures[f"{family}_defaulted"] = e.count(where=is_kind & (e.status == "defaulted"))
        measures[f"{family}_late_90"] = e.count(
            where=is_kind & (e.status == "late") & (days_late >= SERIOUS_DAYS_LATE)
        )
    payment = e.kind == "payment"
    rental = e.kind == "rental"
    measures |= {
        "payments": e.count(where=payment),
        # Exact decimal sums: a float sum would depend on the order rows arrive in.
        "spend": e.amount.sum(where=payment),
        "risky_payments": e.count(where=payment & e.merchant_category.isin(RISKY_CATEGORIES)),
        "rentals": e.count(where=rental),
        "rentals_late": e.count(where=rental & (e.outcome == "late")),
        "rentals_damaged": e.count(where=rental & (e.outcome == "damaged")),
        "rentals_unpaid": e.count(where=rental & (e.outcome == "unpaid")),
        "fines_issued": e.count(where=(e.kind == "fine") & (e.status == "issued")),
        "fines_paid": e.count(where=(e.kind == "fine") & (e.status == "paid")),
        "judgments_entered": e.count(where=(e.kind == "court_judgment") & (e.status == "entered")),
        "judgments_resolved": e.count(
            where=(e.kind == "court_judgment") & e.status.isin(("satisfied", "overturned"))
        ),
        "friends_added": e.count(where=(e.kind == "friend_link") & (e.action == "added")),
        "friends_removed": e.count(where=(e.kind == "friend_link") & (e.action == "removed")),
        "employer_reports": e.count(where=(e.kind == "attribute") & (e.attribute == "employer")),
    }
    education = (e.kind == "attribute") & (e.attribute == "education")
    vehicle = (e.kind == "attribute") & (e.attribute == "vehicle")
    # int32 said outright: DuckDB writes the CASE as INTEGER whatever Ibis infers, and a
    # Spark-written file must have the same column type.
    rank = e.value.cases(*EDUCATION_RANK.items(), else_=None).cast("int32")
    measures |= {
        # Latest fact in the row, with its time, so later rows can supersede it.
        "education_rank": rank.argmax(e.occurred_at, where=education),
        "education_at": e.occurred_at.max(where=education),
        "vehicle_owned": e.value.isin(VEHICLE_OWNED)
        .cast("int8")
        .argmax(e.occurred_at, where=vehicle),
        "vehicle_at": e.occurred_at.max(where=vehicle),
    }
    return e.group_by(["person_id", "occurred_month", "known_month"]).aggregate(**measures)
