"""Payments of court judgments at the operator's hands: import a file, see and decide the
review queue, register a court's collection account, record a court's objection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, report_file, run, spinner, titled_table

# Services are imported inside each command: matching brings DuckDB and the store SQLAlchemy,
# which `kaimen --help` and the other commands must not pay for.

payments_app = typer.Typer(
    help="Payments of court judgments: reconciliation with the court list.", no_args_is_help=True
)


@payments_app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A .csv or .jsonl file of payments.")],
    report: Annotated[
        Path | None, typer.Option(help="Write every problem of a rejected file here.")
    ] = None,
) -> None:
    """Import payments (all or nothing) and match them to the listings they settle."""
    from kaimen.dueprocess.payment_import import import_payments_file

    report = report_file(report, path)
    ws = session(ctx).workspace
    profile = ws.profile()
    with spinner(f"importing {path.name}"):
        result = run(
            lambda: import_payments_file(ws.engine, ws.vault, profile, path, OPERATOR.actor),
            report,
        )
    note = " (this exact file was imported before)" if result.replayed_file else ""
    console.print(
        f"{result.rows:,} payments: matched {result.matched:,}, review {result.review:,}, "
        f"unmatched {result.unmatched:,}, already held {result.already_held:,}{note}"
    )
    if result.settled_listings:
        console.print(
            f"settled-pending: {len(result.settled_listings):,} listing(s), lifted within "
            f"{profile.listing_lift_after_payment} of payment unless the court objects"
        )


@payments_app.command("review")
def review_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many to show.")] = 50,
) -> None:
    """Payments waiting for a person: review first, then unmatched."""
    from kaimen.dueprocess.settlement import review_queue

    ws = session(ctx).workspace
    queue = run(lambda: review_queue(ws.engine, ws.vault, OPERATOR.actor, limit))
    table = titled_table(
        f"payments waiting: {queue.review:,} to review, {queue.unmatched:,} unmatched"
    )
    for column in ("payment", "state", "paid on", "amount", "reference", "candidate", "score"):
        table.add_column(column)
    for item in queue.items:
        p = item.payment
        candidate = (
            f"{p.listing_id} {item.candidate_case_number} ({item.candidate_court})"
            if p.listing_id
            else "-"
        )
        table.add_row(
            p.payment_id,
            p.state,
            p.paid_on.isoformat(),
            f"{p.amount} {p.currency}",
            p.reference,
            candidate,
            f"{p.match_score}",
        )
    console.print(table)


@payments_app.command("approve")
def approve_command(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The payment's id (P...).")],
    listing: Annotated[
        str | None, typer.Option(help="The listing it paid (default: its candidate).")
    ] = None,
) -> None:
    """Confirm a waiting payment paid a listing: the listing is settled-pending."""
    from kaimen.dueprocess.settlement import approve_payment

    ws = session(ctx).workspace
    profile = ws.profile()
    change = run(lambda: approve_payment(ws.engine, profile, payment_id, OPERATOR.actor, listing))
    due = f", lifted by {change.last_day.isoformat()}" if change.last_day else ""
    console.print(
        f"payment {payment_id} matched to listing {change.listing_id}: {change.status}{due}"
    )


@payments_app.command("reject")
def reject_command(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The payment's id (P...).")],
    reason: Annotated[str, typer.Option(help="Why it settles no listing.")],
) -> None:
    """Decide a waiting payment settles nothing (it is kept, with the reason)."""
    from kaimen.dueprocess.settlement import reject_payment

    ws = session(ctx).workspace
    run(lambda: reject_payment(ws.engine, payment_id, reason, OPERATOR.actor))
    console.print(f"payment {payment_id} rejected (kept)")


@payments_app.command("object")
def object_command(
    ctx: typer.Context,
    listing_id: Annotated[str, typer.Argument(help="The settled-pending listing (L...).")],
    reason: Annotated[str, typer.Option(help="The court's objection.")],
) -> None:
    """Record the court's objection: the listing is entered again, the payment reviewed."""
    from kaimen.dueprocess.settlement import object_to_settlement

    ws = session(ctx).workspace
    run(lambda: object_to_settlement(ws.engine, listing_id, reason, OPERATOR.actor))
    console.print(f"listing {listing_id} entered again; its payment is back in review")


@payments_app.command("account")
def account_command(
    ctx: typer.Context,
    court: Annotated[str, typer.Argument(help="The court, as the court list names it.")],
    account: Annotated[str, typer.Argument(help="The account it collects payments into.")],
) -> None:
    """Register the account a court collects judgment payments into."""
    from kaimen.dueprocess.settlement import register_collection_account

    ws = session(ctx).workspace
    new = run(lambda: register_collection_account(ws.engine, court, account, OPERATOR.actor))
    console.print(f"{'registered' if new else 'replaced'} the collection account of {court}")
