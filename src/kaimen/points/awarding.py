"""The monthly award run: the rulebook in force, applied to a month's events in the lake, in
the engine (one expression for everyone: no code of ours runs per person or per event).

Each (rule, event) is awarded once: keys already in the ledger are left out, so running a
month twice adds nothing, and running it again after late events arrived adds only theirs.
A cap holds per person, rule and calendar month or year, counting what the ledger already
holds for that period, so a late event never lifts a person past the cap. Events that must
not count in a score (suppressed or corrected after a dispute, disputed where the profile
says so, past retention) do not earn points either. After the entries, every balance is
replayed from the ledger as of the month's end and stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden, Rejected
from kaimen.domain.months import is_month
from kaimen.domain.profiles import Profile
from kaimen.domain.rulebook import Rule, Rulebook
from kaimen.engines.parquet_files import read_parquet, to_arrow
from kaimen.ingest.inbox_ingest import seal_inbox
from kaimen.lake.schema import PARTITION
from kaimen.points import rulebooks
from kaimen.points.balances import replayed
from kaimen.scoring.exclusions import excluded_events
from kaimen.store import audit, lake_manifest
from kaimen.store import points_ledger as ledger

AWARDED = "points.awarded"


@dataclass(frozen=True)
class AwardReport:
    month: str
    rulebook: str
    entries: int
    points: int
    people: int
    balances: int


def first_day(month: str) -> dt.date:
    year, number = month.split("-")
    return dt.date(int(year), int(number), 1)


def months_after(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `day`'s."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _matching(events: ir.Table, rule: Rule, period: dt.date) -> ir.Table:
    """The events `rule` scores, with the rule's terms as columns."""
    condition = events.kind == rule.event.kind
    for name, value in rule.event.where.items():
        values = [value] if isinstance(value, str) else list(value)
        condition &= events[name].isin(values)
    if rule.event.min_amount is not None:
        condition &= events.amount >= rule.event.min_amount
    expires = (
        None
        if rule.expires_after_months is None
        else months_after(period, rule.expires_after_months)
    )
    halves = None if rule.decay is None else rule.decay.halves_every_months
    return events.filter(condition).select(
        "person_id",
        "source",
        "event_id",
        "occurred_at",
        rule_id=ibis.literal(rule.id, "string"),
        points=ibis.literal(rule.points, "int64"),
        cap=ibis.literal(None if rule.cap is None else rule.cap.points, "int64"),
        expires_on=ibis.literal(expires, "date"),
        halves_every_months=ibis.literal(halves, "int64"),
    )


def award_expression(
    events: ir.Table,
    rulebook: Rulebook,
    period: dt.date,
    already: pa.Table,
    priors: pa.Table,
    excluded: pa.Table,
) -> ir.Table:
    """The new entries of the month starting `period`: `events` are the month's lake rows,
    `already` the (rule_id, source, event_id) awarded before, `priors` the points each
    (person_id, rule_id) already holds in its cap's period, `excluded` the (person_id,
    source, event_id) that must not count."""
    if PARTITION in events.columns:
        events = events.drop(PARTITION)
    # Only the kinds the rules read are deduplicated: every copy of an event has its kind
    # (the ingest refuses a second version with other content), so filtering first keeps
    # the same events and leaves the engine a fraction of the rows to partition.
    events = events.filter(events.kind.isin(sorted({r.event.kind for r in rulebook.rules})))
    first = ibis.window(group_by=["source", "event_id"], order_by=["recorded_at", "occurred_at"])
    events = events.mutate(_n=ibis.row_number().over(first)).filter(ibis._["_n"] == 0)
    if excluded.num_rows:
        events = events.anti_join(ibis.memtable(excluded), ["person_id", "source", "event_id"])
    scored = ibis.union(*(_matching(events, rule, period) for rule in rulebook.rules))
    if already.num_rows:
        scored = scored.anti_join(ibis.memtable(already), ["rule_id", "source", "event_id"])
    held = ibis.memtable(
        priors, schema={"person_id": "string", "rule_id": "string", "prior": "int64"}
    )
    scored = scored.left_join(held, ["person_id", "rule_id"]).select(
        scored, prior=held.prior.fill_null(0)
    )
    sign = scored.points.sign()
    size = scored.points.abs()
    order = ibis.cumulative_window(
        group_by=["person_id", "rule_id"], order_by=["occurred_at", "source", "event_id"]
    )
    # Room left under the cap: the cap less what the period held and what this month's
    # earlier events of the rule took (each taking its full points, so the awards sum to
    # the cap exactly once it is reached).
    used = ibis.greatest(sign * scored.prior, 0) + size.sum().over(order) - size
    room = ibis.greatest(scored.cap - used, 0)
    size_awarded = scored.cap.isnull().ifelse(size, ibis.least(size, room))
    awarded = scored.mutate(points=sign * size_awarded).filter(ibis._["points"] != 0)
    return awarded.select(
        # Named by its key (md5 of award/rule/source/event: no `/` in any of them), so the
        # same award has the same id on every engine (Spark has no random UUID in Ibis).
        entry_id=(
            ibis.literal("award/")
            .concat(awarded.rule_id, "/", awarded.source, "/", awarded.event_id)
            .hexdigest("md5")
        ),
        person_id=awarded.person_id,
        rule_id=awarded.rule_id,
        source=awarded.source,
        event_id=awarded.event_id,
        points=awarded.points.cast("int64"),
        period=ibis.literal(period, "date"),
        expires_on=awarded.expires_on,
        halves_every_months=awarded.halves_every_months,
    )


def _priors(store: Connection, rulebook: Rulebook, period: dt.date) -> pa.Table:
    monthly = [r.id for r in rulebook.rules if r.cap is not None and r.cap.per == "month"]
    yearly = [r.id for r in rulebook.rules if r.cap is not None and r.cap.per == "year"]
    return pa.concat_tables(
        [
            ledger.totals_between(store, monthly, period, period),
            # The whole year: a late event of an earlier month, awarded after later months
            # were, still finds the year's cap as full as it is.
            ledger.totals_between(store, yearly, period.replace(month=1), period.replace(month=12)),
        ]
    )


def award_month(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    caller: Caller,
    month: str,
    now: dt.datetime | None = None,
) -> AwardReport:
    """Award the month's points under the rulebook in force and store every balance as of
    the month's end (the admin only; ProgrammeOff where the profile forbids a programme)."""
    if caller.kind != "admin":
        raise Forbidden("only the admin runs the award")
    if not is_month(month):
        raise Rejected(f"a month is written YYYY-MM, e.g. 2026-10; got {month!r}")
    rulebooks.require_programme(profile)
    now = now or dt.datetime.now(dt.UTC)
    today = profile.local_date(now)
    if month > f"{today.year:04d}-{today.month:02d}":
        raise Rejected(f"{month} has not begun yet: a month is awarded from its events")
    period = first_day(month)
    seal_inbox(engine, lake_root, caller.actor, now)
    with engine.connect() as store:
        loaded = rulebooks.in_force(store, profile)
        files = lake_manifest.files(store, [month])
        already = ledger.award_keys(store, period)
        priors = _priors(store, loaded.rulebook, period)
        excluded = excluded_events(store, lake_root, profile).keys
    entries = ledger.ENTRY_SCHEMA.empty_table()
    if files:
        events = read_parquet(backend, [lake_root / f for f in files])
        expression = award_expression(events, loaded.rulebook, period, already, priors, excluded)
        entries = to_arrow(backend, expression)

    def work(store: Connection) -> AwardReport:
        added = ledger.add_awards(store, entries, loaded.rulebook_id, now)
        # A month awarded again after a later one (late events) leaves the stored balances
        # as of the later month: they never go back to an older month's.
        newest = ledger.newest_balance_month(store)
        as_of = month if newest is None or newest < month else newest
        balances = replayed(
            ledger.replay_rows(store),
            as_of,
            loaded.rulebook.base,
            profile.disputed_counts_while_pending,
        )
        stored = ledger.set_balances(store, balances, as_of, loaded.rulebook_id, now)
        points = int(pa.compute.sum(entries.column("points")).as_py() or 0)
        people = len(pa.compute.unique(entries.column("person_id")))
        audit.append(
            store,
            caller.actor,
            AWARDED,
            subject=month,
            details={
                "rulebook_id": loaded.rulebook_id,
                "entries": added,
                "points": points,
                "people": people,
                "balances": stored,
            },
            now=now,
        )
        return AwardReport(month, loaded.rulebook.name, added, points, people, stored)

    return audit.audited_transaction(engine, work)
