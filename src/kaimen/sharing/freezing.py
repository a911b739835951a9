"""A person's freeze of their file, and their inbox of alerts (the person, with their own
token).

While the file is frozen no new decision, report or partner event about the person is served
or accepted: each is answered as if the partner had no consent (so the partner cannot tell a
freeze from a refusal), and each attempt is logged in the person's access log and raised as
an alert. The freeze is read where consent is, in the transaction that serves, so freezing and
unfreezing take effect for the very next request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden, Rejected
from kaimen.domain.json_values import JsonObject
from kaimen.store import access_log, alerts, audit, people
from kaimen.store.alerts import Alert, AlertKind, UnknownAlert

__all__ = [
    "Alert",
    "AlertKind",
    "FileNotActive",
    "FreezeState",
    "UnknownAlert",
    "alerts_of",
    "freeze_state",
    "mark_alert_read",
    "set_freeze",
]


ALERTS_PURPOSE = "alerts"
ALERTS_READ = "alerts.read"


class FileNotActive(Rejected):
    """Only an enrolled person's file can be frozen or unfrozen."""


@dataclass(frozen=True)
class FreezeState:
    frozen: bool
    frozen_at: dt.datetime | None


def freeze_state(engine: Engine, person_id: str) -> FreezeState:
    with engine.connect() as store:
        since = alerts.frozen_since(store, person_id)
    return FreezeState(since is not None, since)


def set_freeze(
    engine: Engine, person_id: str, frozen: bool, actor: str, now: dt.datetime
) -> FreezeState:
    """Freeze or unfreeze the person's file; asking for the state it is in already changes
    nothing (and writes no audit row)."""

    def work(store: Connection) -> FreezeState:
        # Locked: a freeze and an unfreeze at once take turns, each seeing the other's result.
        if people.status_of(store, person_id, lock=True) != "active":
            raise FileNotActive(f"{person_id} is not an enrolled person")
        if alerts.set_frozen(store, person_id, now if frozen else None):
            audit.append(
                store,
                actor,
                "file.frozen" if frozen else "file.unfrozen",
                subject=person_id,
                now=now,
            )
        since = alerts.frozen_since(store, person_id)
        return FreezeState(since is not None, since)

    return audit.audited_transaction(engine, work)


def alerts_of(
    engine: Engine,
    caller: Caller,
    person_id: str,
    unread_only: bool = False,
    now: dt.datetime | None = None,
) -> list[Alert]:
    """The person's alerts, newest first (the person, or the admin acting for them), read in
    a transaction that audits it and logs the admin's read in the person's access log (which
    lists what others saw, not the person's own looks)."""
    if not caller.reads_person(person_id):
        raise Forbidden("only the person, or the admin acting for them, reads their alerts")
    now = now or dt.datetime.now(dt.UTC)

    def work(store: Connection) -> list[Alert]:
        if people.status_of(store, person_id) != "active":
            raise FileNotActive(f"{person_id} is not an enrolled person")
        found = alerts.of_person(store, person_id, unread_only)
        disclosed: JsonObject = {"alerts": len(found), "unread_only": unread_only}
        if not caller.is_person(person_id):
            access_log.record(
                store, person_id, caller.actor, ALERTS_PURPOSE, "alerts", disclosed, now
            )
        audit.append(store, caller.actor, ALERTS_READ, subject=person_id, now=now)
        return found

    return audit.audited_transaction(engine, work)


def mark_alert_read(
    engine: Engine, person_id: str, alert_id: int, actor: str, now: dt.datetime
) -> Alert:
    """Mark one of the person's alerts read; `UnknownAlert` when it is not theirs."""

    def work(store: Connection) -> Alert:
        alert, marked = alerts.mark_read(store, person_id, alert_id, now)
        if marked:
            audit.append(store, actor, "alert.read", subject=str(alert_id), now=now)
        return alert

    return audit.audited_transaction(engine, work)
