"""Due process at the operator's hands: disputes (filed for a person, answered for the court
feed and kaimen's own events), the clocks (`kaimen sla`) and the worker that runs the
deadline sweeps and the outbox (`kaimen worker`, or `--once` from cron)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, errors, fail, run, styled, terminal_safe, titled_table

if TYPE_CHECKING:
    from kaimen.dueprocess.sweeps import Round

# Services are imported inside each command: they bring SQLAlchemy, which `kaimen --help`
# must not pay for.

dispute_app = typer.Typer(help="Disputes of negative items.", no_args_is_help=True)


@dispute_app.command("file")
def dispute_file_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person the admin acts for.")],
    kind: Annotated[str, typer.Option(help="event, court_listing or identity_link.")],
    ref: Annotated[str, typer.Option(help="The item: for an event, source/event_id.")],
    statement: Annotated[str, typer.Option(help="What is wrong, in the person's words.")],
    evidence: Annotated[
        list[Path] | None, typer.Option("--evidence", help="A file to attach; repeat.")
    ] = None,
) -> None:
    """File a dispute for a person (the admin acting for them)."""
    from kaimen.domain.disputes import Evidence, ItemKind, ItemRef
    from kaimen.dueprocess import disputing

    if kind not in {k.value for k in ItemKind}:
        raise fail(f"--kind must be one of {', '.join(k.value for k in ItemKind)}", 2)
    files = [Evidence(*_evidence(path)) for path in evidence or []]
    ws = session(ctx).workspace
    filed = run(
        lambda: disputing.file_dispute(
            ws.engine,
            ws.lake_root,
            ws.evidence_dir,
            ws.profile(),
            OPERATOR,
            person_id,
            ItemRef(ItemKind(kind), ref),
            statement,
            files,
        )
    )
    d = filed.dispute
    console.print(
        f"dispute {d.dispute_id} filed: {d.item} furnished by {d.furnisher}, "
        f"answer due {d.answer_due_at:%Y-%m-%d %H:%M} UTC"
    )


def _evidence(path: Path) -> tuple[str, bytes]:
    """A file to attach (its name and content), read only when it is a regular file, and then
    only as far as the size limit and a byte more (for the service to refuse by its own
    rule): a FIFO waited forever and /dev/zero filled the memory."""
    from kaimen.domain.disputes import MAX_EVIDENCE_BYTES

    if not path.is_file():
        raise fail(f"--evidence {terminal_safe(str(path))} is not a regular file", 2)
    try:
        with path.open("rb") as handle:
            return path.name, handle.read(MAX_EVIDENCE_BYTES + 1)
    except OSError as error:
        raise fail(f"cannot read {path}: {error.strerror or error}", 2) from None


@dispute_app.command("answer")
def dispute_answer_command(
    ctx: typer.Context,
    dispute_id: Annotated[str, typer.Argument(help="The dispute's id.")],
    answer: Annotated[str, typer.Option(help="verified, corrected, deleted or unverifiable.")],
    note: Annotated[str | None, typer.Option(help="corrected: what was corrected.")] = None,
    value: Annotated[
        list[str] | None, typer.Option("--value", help="corrected: FIELD=VALUE; repeat.")
    ] = None,
) -> None:
    """Answer a dispute of the court feed's or kaimen's own item (as the admin)."""
    from kaimen.domain.disputes import Answer, Correction
    from kaimen.dueprocess import answering

    if answer not in {a.value for a in Answer}:
        raise fail(f"--answer must be one of {', '.join(a.value for a in Answer)}", 2)
    values: dict[str, str] = {}
    for pair in value or []:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise fail(f"--value {pair!r} is not FIELD=VALUE", 2)
        values[name] = text
    correction = Correction(values, note) if values or note else None
    ws = session(ctx).workspace
    answered = run(
        lambda: answering.answer_dispute(
            ws.engine, ws.lake_root, ws.profile(), OPERATOR, dispute_id, Answer(answer), correction
        )
    )
    console.print(f"dispute {dispute_id}: {answered.dispute.state.value}")
    if answered.notified:
        console.print(f"partners told: {', '.join(answered.notified)}")


@dispute_app.command("list")
def dispute_list_command(
    ctx: typer.Context, person_id: Annotated[str, typer.Argument(help="The person.")]
) -> None:
    """A person's disputes, newest first."""
    from kaimen.dueprocess import disputing

    ws = session(ctx).workspace
    views = run(lambda: disputing.disputes_of(ws.engine, OPERATOR, person_id))
    table = titled_table(f"disputes of {person_id}")
    for column in ("dispute", "item", "furnisher", "state", "filed", "answer due"):
        table.add_column(column)
    for view in views:
        d = view.dispute
        table.add_row(
            d.dispute_id,
            str(d.item),
            d.furnisher,
            d.state.value,
            f"{d.filed_at:%Y-%m-%d}",
            f"{d.answer_due_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


def sla_command(ctx: typer.Context) -> None:
    """Every running clock: disputes, furnisher notices, the outbox, pending removals, reviews."""
    from kaimen.dueprocess import clocks

    ws = session(ctx).workspace
    view = run(lambda: clocks.sla_view(ws.engine, ws.profile()))
    table = titled_table(f"clocks at {view.at:%Y-%m-%d %H:%M} UTC")
    for column in ("clock", "ref", "subject", "due (UTC)", "overdue", "detail"):
        table.add_column(column)
    for item in view.items:
        table.add_row(
            item.source,
            item.ref,
            item.subject,
            "-" if item.due_at is None else f"{item.due_at:%Y-%m-%d %H:%M}",
            styled("[bold red]OVERDUE") if item.overdue else "",
            item.detail,
        )
    console.print(table)
    backlog = view.outbox
    console.print(
        f"{view.overdue} overdue; outbox: {backlog.pending} pending, {backlog.dead} dead letters"
    )


def worker_command(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between rounds.")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit (for cron).")] = False,
) -> None:
    """Run the deadline sweeps and the outbox on a schedule; SIGTERM stops it between steps."""
    from kaimen.dueprocess import sweeps

    ws = session(ctx).workspace
    stop = threading.Event()

    def stop_on(signum: int, _frame: FrameType | None) -> None:
        errors.print(f"signal {signum}: stopping after the current step")
        stop.set()

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)

    def show(done: Round) -> None:
        delivery = done.delivery
        kept = done.retention
        console.print(
            f"lapsed {len(done.lapsed)}, notices late {len(done.notices_late)}, "
            f"lifted {len(done.lifted.lifted)}, "
            f"expired {0 if kept is None else kept.expiry.events}, "
            f"purged {0 if kept is None else kept.purge.events}, "
            f"listings removed {0 if kept is None else kept.listings.listings}, "
            f"delivered {len(delivery.delivered)}, retrying {len(delivery.retrying)}, "
            f"dead {len(delivery.dead)}, re-scored {len(done.rescore)}"
        )

    run(
        lambda: sweeps.run_worker(
            ws.engine, ws.vault, ws.lake_root, ws.profile(), interval, stop, show, once=once
        )
    )
