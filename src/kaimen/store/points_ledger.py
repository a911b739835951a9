"""The points programme as stored: installed rulebooks, the append-only ledger and the
balances the award run keeps. Nothing here updates or deletes a ledger entry: a mistake is
undone by a reversal (see `reverse`), and only a person's erasure removes their entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Row, Select, and_, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kaimen.domain.disputes import ItemKind, ItemState
from kaimen.store.tables import item_states, points_balances, points_ledger, points_rulebooks

AWARD = "award"
REVERSAL = "reversal"
INSERT_CHUNK = 10_000

# What the replay reads of each entry, as Arrow (see `kaimen.points.balances`).
REPLAY_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("points", pa.int64()),
        ("period", pa.date32()),
        ("expires_on", pa.date32()),
        ("halves_every_months", pa.int64()),
        ("disputed", pa.bool_()),
    ]
)
# The rows an award run writes.
ENTRY_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("person_id", pa.string()),
        ("rule_id", pa.string()),
        ("source", pa.string()),
        ("event_id", pa.string()),
        ("points", pa.int64()),
        ("period", pa.date32()),
        ("expires_on", pa.date32()),
        ("halves_every_months", pa.int64()),
    ]
)


KEY_SCHEMA = pa.schema(
    [("rule_id", pa.string()), ("source", pa.string()), ("event_id", pa.string())]
)
PRIOR_SCHEMA = pa.schema(
    [("person_id", pa.string()), ("rule_id", pa.string()), ("prior", pa.int64())]
)


def _columns(rows: Sequence[Row[*tuple[Any, ...]]], schema: pa.Schema) -> pa.Table:
    """Result rows as Arrow columns (transposed by zip, in C: no per-row code of ours)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table(
        [pa.array(list(values), field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


@dataclass(frozen=True)
class InstalledRulebook:
    rulebook_id: str
    name: str
    text: str
    profile: str
    installed_at: dt.datetime
    installed_by: str


@dataclass(frozen=True)
class Entry:
    entry_id: str
    person_id: str
    rulebook_id: str
    rule_id: str
    entry_kind: str
    source: str
    event_id: str
    points: int
    period: dt.date
    expires_on: dt.date | None
    halves_every_months: int | None
    awarded_at: dt.datetime
    reverses: str | None
    reason: str | None
    # The entry's standing in a dispute (none: it counts as it is).
    state: ItemState | None


@dataclass(frozen=True)
class StoredBalance:
    person_id: str
    month: str
    balance: int
    rulebook_id: str
    computed_at: dt.datetime


def install(
    connection: Connection,
    rulebook_id: str,
    name: str,
    text: str,
    profile: str,
    actor: str,
    now: dt.datetime,
) -> None:
    """Put the rulebook in force (the same text again: in force again from now)."""
    done = connection.execute(
        update(points_rulebooks)
        .where(points_rulebooks.c.rulebook_id == rulebook_id)
        .values(installed_at=now, installed_by=actor, profile=profile)
    )
    if done.rowcount == 0:
        connection.execute(
            insert(points_rulebooks).values(
                rulebook_id=rulebook_id,
                name=name,
                text=text,
                profile=profile,
                installed_at=now,
                installed_by=actor,
            )
        )


def in_force(connection: Connection) -> InstalledRulebook | None:
    """The rulebook installed last, if any."""
    row = connection.execute(
        select(points_rulebooks).order_by(points_rulebooks.c.installed_at.desc()).limit(1)
    ).first()
    return None if row is None else InstalledRulebook(**row._mapping)


def rulebook(connection: Connection, rulebook_id: str) -> InstalledRulebook | None:
    row = connection.execute(
        select(points_rulebooks).where(points_rulebooks.c.rulebook_id == rulebook_id)
    ).first()
    return None if row is None else InstalledRulebook(**row._mapping)


def award_keys(connection: Connection, period: dt.date) -> pa.Table:
    """(rule_id, source, event_id) of every award for events of the month starting `period`:
    what an award run of that month must not award again."""
    rows = connection.execute(
        select(points_ledger.c.rule_id, points_ledger.c.source, points_ledger.c.event_id).where(
            points_ledger.c.period == period, points_ledger.c.entry_kind == AWARD
        )
    ).all()
    return _columns(rows, KEY_SCHEMA)


def totals_between(
    connection: Connection, rule_ids: list[str], first: dt.date, last: dt.date
) -> pa.Table:
    """Points already in the ledger per (person, rule) for months `first` to `last`
    (reversals included: a reversed award frees its room under the cap)."""
    rows = connection.execute(
        select(points_ledger.c.person_id, points_ledger.c.rule_id, func.sum(points_ledger.c.points))
        .where(
            points_ledger.c.rule_id.in_(rule_ids),
            points_ledger.c.period >= first,
            points_ledger.c.period <= last,
        )
        .group_by(points_ledger.c.person_id, points_ledger.c.rule_id)
    ).all()
    return _columns(rows, PRIOR_SCHEMA)


def add_awards(
    connection: Connection, entries: pa.Table, rulebook_id: str, now: dt.datetime
) -> int:
    """Append the award run's entries (ENTRY_SCHEMA); returns how many."""
    table = entries.cast(ENTRY_SCHEMA)
    for batch in table.to_batches(INSERT_CHUNK):
        rows = batch.to_pylist()  # built in C: no per-entry code of ours
        connection.execute(
            insert(points_ledger).values(rulebook_id=rulebook_id, entry_kind=AWARD, awarded_at=now),
            rows,
        )
    return int(table.num_rows)


def replay_rows(connection: Connection, person_id: str | None = None) -> pa.Table:
    """What a replay reads of the ledger (everyone's, or one person's), with whether each
    entry is disputed and pending."""
    # An entry is disputed when it is, or when the event it was awarded for is.
    entries = (
        select(item_states.c.item_ref)
        .where(
            item_states.c.item_kind == ItemKind.POINTS_ENTRY.value,
            item_states.c.state == ItemState.DISPUTED.value,
        )
        .scalar_subquery()
    )
    events = (
        select(item_states.c.item_ref)
        .where(
            item_states.c.item_kind == ItemKind.EVENT.value,
            item_states.c.state == ItemState.DISPUTED.value,
        )
        .scalar_subquery()
    )
    event_ref = points_ledger.c.source + "/" + points_ledger.c.event_id
    query = select(
        points_ledger.c.person_id,
        points_ledger.c.points,
        points_ledger.c.period,
        points_ledger.c.expires_on,
        points_ledger.c.halves_every_months,
        (points_ledger.c.entry_id.in_(entries) | event_ref.in_(events)).label("disputed"),
    )
    if person_id is not None:
        query = query.where(points_ledger.c.person_id == person_id)
    return _columns(connection.execute(query).all(), REPLAY_SCHEMA)


def _entry(row: object) -> Entry:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    state = values.pop("state")
    return Entry(**values, state=None if state is None else ItemState(state))


def _entries_query() -> Select[Any]:
    return select(points_ledger, item_states.c.state).outerjoin(
        item_states,
        and_(
            item_states.c.item_kind == ItemKind.POINTS_ENTRY.value,
            item_states.c.item_ref == points_ledger.c.entry_id,
        ),
    )


def entries_of(connection: Connection, person_id: str) -> list[Entry]:
    """The person's ledger, oldest first."""
    rows = connection.execute(
        _entries_query()
        .where(points_ledger.c.person_id == person_id)
        .order_by(
            points_ledger.c.period,
            points_ledger.c.awarded_at,
            points_ledger.c.rule_id,
            points_ledger.c.source,
            points_ledger.c.event_id,
        )
    )
    return [_entry(r) for r in rows]


def entry(connection: Connection, entry_id: str) -> Entry | None:
    row = connection.execute(_entries_query().where(points_ledger.c.entry_id == entry_id)).first()
    return None if row is None else _entry(row)


def awards_of_event(connection: Connection, source: str, event_id: str) -> list[Entry]:
    """The awards made for one event that no reversal has cancelled yet."""
    reversed_ids = select(points_ledger.c.reverses).where(points_ledger.c.reverses.is_not(None))
    rows = connection.execute(
        _entries_query().where(
            points_ledger.c.source == source,
            points_ledger.c.event_id == event_id,
            points_ledger.c.entry_kind == AWARD,
            points_ledger.c.entry_id.not_in(reversed_ids),
        )
    )
    return [_entry(r) for r in rows]


def reversal_of(connection: Connection, entry_id: str) -> Entry | None:
    row = connection.execute(_entries_query().where(points_ledger.c.reverses == entry_id)).first()
    return None if row is None else _entry(row)


def reverse(
    connection: Connection, original: Entry, entry_id: str, reason: str, now: dt.datetime
) -> None:
    """Append the entry that cancels `original`: opposite points, the same month, expiry and
    decay, so the two cancel in every replay at every month."""
    connection.execute(
        insert(points_ledger).values(
            entry_id=entry_id,
            person_id=original.person_id,
            rulebook_id=original.rulebook_id,
            rule_id=original.rule_id,
            entry_kind=REVERSAL,
            source=original.source,
            event_id=original.event_id,
            points=-original.points,
            period=original.period,
            expires_on=original.expires_on,
            halves_every_months=original.halves_every_months,
            awarded_at=now,
            reverses=original.entry_id,
            reason=reason,
        )
    )


def set_balances(
    connection: Connection, balances: pa.Table, month: str, rulebook_id: str, now: dt.datetime
) -> int:
    """Store each person's balance (person_id, balance) as of `month`, replacing theirs."""
    count = balances.num_rows
    if count == 0:
        return 0
    rows = (
        balances.select(["person_id", "balance"])
        .append_column("month", pa.array([month] * count, pa.string()))
        .append_column("rulebook_id", pa.array([rulebook_id] * count, pa.string()))
        .append_column("computed_at", pa.array([now] * count, pa.timestamp("us", tz="UTC")))
        .to_pylist()
    )
    dialect = connection.dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), INSERT_CHUNK):
        statement = maker(points_balances)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[points_balances.c.person_id],
                set_={
                    "month": statement.excluded.month,
                    "balance": statement.excluded.balance,
                    "rulebook_id": statement.excluded.rulebook_id,
                    "computed_at": statement.excluded.computed_at,
                },
            ),
            rows[start : start + INSERT_CHUNK],
        )
    return len(rows)


def newest_balance_month(connection: Connection) -> str | None:
    """The newest month any stored balance is as of (None before the first award)."""
    newest: str | None = connection.execute(select(func.max(points_balances.c.month))).scalar()
    return newest


def stored_balance(connection: Connection, person_id: str) -> StoredBalance | None:
    row = connection.execute(
        select(points_balances).where(points_balances.c.person_id == person_id)
    ).first()
    return None if row is None else StoredBalance(**row._mapping)
