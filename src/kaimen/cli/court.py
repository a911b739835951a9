"""The court list at the operator's hands: import a list, read a listing, undo a link; and
the review queue of candidate links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, escape, report_file, run, spinner, titled_table

# Services are imported inside the commands that call them: they bring SQLAlchemy, Arrow and
# the vault's cryptography, which `kaimen --help` and the other commands must not pay for.

courtlist_app = typer.Typer(help="The court list of judgment defaulters.", no_args_is_help=True)
review_app = typer.Typer(
    help="Candidate links from court listings to people, for a person to decide.",
    no_args_is_help=True,
)


def _changed(people: tuple[str, ...]) -> str:
    return f"; standing changed for {', '.join(people)}" if people else ""


@courtlist_app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A .csv or .jsonl court list.")],
    report: Annotated[
        Path | None, typer.Option(help="Write every problem of a rejected file here.")
    ] = None,
) -> None:
    """Import a court list: all or nothing, and the same file twice changes nothing.
    Columns: name, id_number, case_number, court, amount, currency (CNY), judgment_date,
    status (entered, satisfied or overturned)."""
    from kaimen.dueprocess.court_import import import_file
    from kaimen.dueprocess.rescoring import Rescoring

    report = report_file(report, path)
    ws = session(ctx).workspace
    with spinner(f"importing {path.name}"):
        rescoring = Rescoring(ws.lake_root, ws.profile())
        done = run(
            lambda: import_file(ws.engine, ws.vault, path, OPERATOR.actor, rescoring=rescoring),
            report,
        )
    if done.replayed_file:
        console.print(f"this exact file was imported before ({done.rows:,} rows): no change")
        return
    console.print(
        f"{done.rows:,} rows: {done.new_listings:,} new listings, "
        f"{done.status_changes:,} status changes, {done.unchanged:,} unchanged; "
        f"{done.linked:,} linked by ID number, {done.auto_linked:,} by matching, "
        f"{done.queued_for_review:,} queued for review{_changed(done.people_changed)}",
        highlight=False,
    )


@courtlist_app.command("show")
def show_command(
    ctx: typer.Context, listing_id: Annotated[str, typer.Argument(help="The listing's id.")]
) -> None:
    """One listing in full (name and ID number as published), its history and links."""
    from kaimen.dueprocess.court_listings import listing_for_admin

    ws = session(ctx).workspace
    view = run(lambda: listing_for_admin(ws.engine, ws.vault, listing_id, OPERATOR.actor))
    x = view.listing
    console.print(
        f"{x.listing_id}: {escape(x.case_number)} at {escape(x.court)}, {x.amount} {x.currency} "
        f"judged {x.judgment_date}, [bold]{x.status}[/]",
        highlight=False,
        markup=True,
    )
    console.print(f"  {view.name}, {view.id_number} ({x.id_form})", highlight=False, markup=False)
    for change in view.history:
        console.print(
            f"  {change.changed_at:%Y-%m-%d %H:%M} {change.old_status or '-'} -> "
            f"{change.new_status} ({change.source}, {change.actor})",
            highlight=False,
            markup=False,
        )
    for link in view.links:
        state = "live" if link.live else f"undone {link.undone_at:%Y-%m-%d} ({link.undo_reason})"
        console.print(
            f"  link {link.link_id} -> {link.person_id}: {link.method} "
            f"p={link.match_probability:.3f} by {link.approved_by}, {state}",
            highlight=False,
            markup=False,
        )


@courtlist_app.command("unlink")
def unlink_command(
    ctx: typer.Context,
    link_id: Annotated[str, typer.Argument(help="The identity link's id.")],
    reason: Annotated[str, typer.Option(help="Why the link is wrong (kept with the link).")],
) -> None:
    """Un-merge: the person is no longer linked to the listing."""
    from kaimen.dueprocess.identity_links import unlink
    from kaimen.dueprocess.rescoring import Rescoring

    ws = session(ctx).workspace
    rescoring = Rescoring(ws.lake_root, ws.profile())
    change = run(lambda: unlink(ws.engine, link_id, OPERATOR.actor, reason, rescoring=rescoring))
    console.print(f"link {link_id} undone{_changed(change.people_changed)}", highlight=False)


@review_app.command("list")
def review_list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
) -> None:
    """Pending candidates, most probable first."""
    from kaimen.dueprocess.identity_links import pending_reviews

    ws = session(ctx).workspace
    pending = run(lambda: pending_reviews(ws.engine, ws.vault, OPERATOR.actor, limit))
    if not pending:
        console.print("no candidate links wait for review")
        return
    table = titled_table("candidate links")
    for column in ("review", "p", "listing", "name", "id number", "born", "person", "born"):
        table.add_column(column)
    for p in pending:
        table.add_row(
            str(p.review.review_id),
            f"{p.review.match_probability:.3f}",
            f"{p.listing.listing_id} {p.listing.case_number}",
            p.name,
            p.id_number,
            str(p.listing.birth_date or "?"),
            p.review.person_id,
            str(p.person_birth_date or "?"),
        )
    console.print(table)


@review_app.command("approve")
def review_approve_command(
    ctx: typer.Context, review_id: Annotated[int, typer.Argument(help="The candidate's id.")]
) -> None:
    """Link the candidate's listing to its person."""
    from kaimen.dueprocess.identity_links import approve_review
    from kaimen.dueprocess.rescoring import Rescoring

    ws = session(ctx).workspace
    rescoring = Rescoring(ws.lake_root, ws.profile())
    change = run(lambda: approve_review(ws.engine, review_id, OPERATOR.actor, rescoring=rescoring))
    assert change.link is not None
    console.print(
        f"review {review_id} approved: link {change.link.link_id}{_changed(change.people_changed)}",
        highlight=False,
    )


@review_app.command("reject")
def review_reject_command(
    ctx: typer.Context, review_id: Annotated[int, typer.Argument(help="The candidate's id.")]
) -> None:
    """Close the candidate without linking; the pair is never proposed again."""
    from kaimen.dueprocess.identity_links import reject_review

    ws = session(ctx).workspace
    run(lambda: reject_review(ws.engine, review_id, OPERATOR.actor))
    console.print(f"review {review_id} rejected")
