"""The worker's rounds: the deadline sweeps (an unanswered dispute lapses and its item is
suppressed; a furnisher notice past its deadline is flagged and audited; a settled-pending
court listing whose lifting time has come is lifted; negative items past retention stop
counting, are purged, and closed court listings past it removed) and the outbox. Every
sweep that changes someone's standing re-scores them at once. `run_worker` repeats the
rounds on a schedule until told to stop, checking between steps."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from kaimen.domain.profiles import Profile
from kaimen.dueprocess.answering import lapse_overdue
from kaimen.dueprocess.identity_links import MatchReport, link_exact_matches
from kaimen.dueprocess.outbox_delivery import DeliveryRound, deliver_due
from kaimen.dueprocess.rescoring import Rescoring
from kaimen.dueprocess.retention import RetentionRound, sweep_retention
from kaimen.dueprocess.settlement import LiftReport, lift_due_listings
from kaimen.store import audit
from kaimen.store import disputes as dispute_rows
from kaimen.store.identity_vault import IdentityVault

WORKER = "worker"


@dataclass(frozen=True)
class Round:
    lapsed: tuple[str, ...]  # disputes closed for want of an answer
    notices_late: tuple[str, ...]  # disputes whose furnisher was not told in time
    delivery: DeliveryRound
    rescore: tuple[str, ...]  # people re-scored now
    lifted: LiftReport  # settled-pending listings lifted
    retention: RetentionRound | None  # None: the round stopped before it
    linked: int = 0  # listings linked by ID number to people who enrolled after their import


def flag_late_notices(engine: Engine, now: dt.datetime, actor: str = WORKER) -> list[str]:
    """Flag (once) and audit each open dispute whose furnisher was not told by its deadline."""
    with engine.connect() as store:
        late = dispute_rows.notices_newly_late(store, now)
    flagged: list[str] = []
    for dispute in late:

        def work(
            store: Connection,
            dispute_id: str = dispute.dispute_id,
            furnisher: str = dispute.furnisher,
        ) -> bool:
            if not dispute_rows.flag_notice_late(store, dispute_id, now):
                return False
            audit.append(
                store,
                actor,
                "dispute.furnisher_notice_late",
                subject=furnisher,
                details={"dispute_id": dispute_id},
                now=now,
            )
            return True

        if audit.audited_transaction(engine, work):
            flagged.append(dispute.dispute_id)
    return flagged


def run_round(
    engine: Engine,
    vault: IdentityVault,
    lake_root: Path,
    profile: Profile,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> Round:
    """One round: lapse overdue disputes, flag late notices, lift due listings (re-scoring
    their people), the retention sweep, deliver the outbox (each step skipped once `stop`
    is set)."""
    now = now or dt.datetime.now(dt.UTC)
    stopped = stop.is_set if stop is not None else (lambda: False)
    lapsed = [] if stopped() else lapse_overdue(engine, lake_root, profile, WORKER, now)
    late = [] if stopped() else flag_late_notices(engine, now)
    # Listings imported before their person enrolled: linked (and re-scored) here.
    linked = (
        MatchReport(0, 0, ())
        if stopped()
        else link_exact_matches(engine, WORKER, now, Rescoring(lake_root, profile))
    )
    lifted = LiftReport((), ()) if stopped() else lift_listings(engine, lake_root, profile, now)
    retention = None if stopped() else sweep_retention(engine, lake_root, profile, now, WORKER)
    delivery = DeliveryRound() if stopped() else deliver_due(engine, vault, now)
    rescore = tuple(
        sorted(
            {p for a in lapsed for p in a.rescore}
            | set(linked.people_changed)
            | set(lifted.people_changed)
            | set(() if retention is None else retention.people)
        )
    )
    return Round(
        tuple(a.dispute.dispute_id for a in lapsed),
        tuple(late),
        delivery,
        rescore,
        lifted,
        retention,
        linked.linked,
    )


def lift_listings(
    engine: Engine, lake_root: Path, profile: Profile, now: dt.datetime
) -> LiftReport:
    """Lift every settled-pending listing whose time has come, and re-score its people."""
    return lift_due_listings(engine, profile, now, WORKER, Rescoring(lake_root, profile))


def run_worker(
    engine: Engine,
    vault: IdentityVault,
    lake_root: Path,
    profile: Profile,
    interval: float,
    stop: threading.Event,
    on_round: Callable[[Round], None],
    once: bool = False,
) -> int:
    """Run rounds every `interval` seconds until `stop` is set (or once); returns how many
    rounds ran. A round in progress finishes its current step before stopping."""
    rounds = 0
    while not stop.is_set():
        on_round(run_round(engine, vault, lake_root, profile, stop=stop))
        rounds += 1
        if once:
            break
        stop.wait(interval)
    return rounds
