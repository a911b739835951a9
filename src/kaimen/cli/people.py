"""A person's score, their way up, their token, and their own data (export, opt-out), at
the operator's hands and on the person's request."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, errors, escape, fail, run, spinner

# Services are imported inside the commands that call them: each pulls in engines and model
# libraries (Ibis, DuckDB, pandas, LightGBM, scikit-learn) that `kaimen --help` and the other
# commands must not pay for.

person_app = typer.Typer(
    help="A person's own data: export it, opt out, freeze it, read their alerts.",
    no_args_is_help=True,
)


def show_command(
    ctx: typer.Context, person_id: Annotated[str, typer.Argument(help="The person's id.")]
) -> None:
    """A person's latest score, band, dimensions, reasons and history."""
    # Through the database driver alone: importing SQLAlchemy took most of the start-up.
    from kaimen.scoring.direct_reading import read_score_at

    url = session(ctx).settings.resolved_database_url
    view = run(lambda: read_score_at(url, person_id, OPERATOR))
    if view.thin_file:
        console.print(
            f"{person_id}, {view.month}: [bold]thin file[/]: too little history to score",
            markup=True,
        )
    else:
        console.print(
            f"{person_id}, {view.month}: [bold {view.colour}]{view.score} ({view.band})[/]"
            f"  [dim]{view.model_version}[/]",
            markup=True,
        )
        console.print(
            "  "
            + ", ".join(
                f"{name.replace('_', ' ')} {value}" for name, value in view.dimensions.items()
            )
        )
        for reason in view.reasons:
            console.print(
                f"  - {escape(reason.text)} ([red]-{reason.points_lost}[/] points)", markup=True
            )
    for fix in view.corrections:
        console.print(
            f"  corrected {fix.revised_at[:16].replace('T', ' ')} ({fix.month}): "
            f"{fix.score_before} -> {fix.score_after}: {fix.why}"
        )
    for month in view.history:
        change = "" if month.change is None else f" ({month.change:+d})"
        score = "thin file" if month.score is None else f"{month.score} {month.band}"
        console.print(
            f"  {month.month}: {score}{change}"
            + (f" - {'; '.join(month.why)}" if month.why else "")
        )


def _parse_setting(text: str) -> tuple[str, float | None]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise fail(f"--set takes NAME=VALUE (or NAME=missing), not {text!r}", 2)
    if value.strip().lower() in ("missing", "none", ""):
        return name.strip(), None
    try:
        return name.strip(), float(value)
    except ValueError:
        raise fail(f"--set {name}: {value!r} is not a number", 2) from None


def whatif_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    target: Annotated[
        int | None,
        typer.Option(help="The score to reach: shows the smallest set of changes that does."),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="NAME=VALUE: score with this characteristic changed."),
    ] = None,
) -> None:
    """The way up to a target score, or the score with some characteristics changed."""
    from kaimen.scoring.way_up import describe, plan_for, try_changes

    if (target is None) == (not setting):
        raise fail("give either --target SCORE or one or more --set NAME=VALUE", 2)
    ws = session(ctx).workspace
    if target is not None:
        plan = run(
            lambda: plan_for(
                ws.engine, ws.lake_root, ws.profile(), person_id, target, OPERATOR, ws.backend()
            )
        )
        console.print(
            f"{person_id}, {plan.month}: {plan.score} now, target {plan.target}"
            f"  [dim]{plan.model_version}[/]",
            markup=True,
        )
        if not plan.changes:
            console.print("  the target is already reached")
            return
        if not plan.reachable:
            console.print(
                f"  [yellow]out of reach by what you can change: at best {plan.new_score}[/]",
                markup=True,
            )
        for change in plan.changes:
            console.print(
                f"  - {escape(change.description)}: {escape(change.current_label)} -> "
                f"{escape(change.new_label)} ([green]+{change.points_added}[/] points)",
                markup=True,
            )
        console.print(f"  score after these changes: [bold]{plan.new_score}[/]", markup=True)
        return
    changes = dict(_parse_setting(text) for text in setting or [])
    result = run(
        lambda: try_changes(
            ws.engine, ws.lake_root, ws.profile(), person_id, changes, OPERATOR, ws.backend()
        )
    )
    console.print(
        f"{person_id}, {result.month}: {result.score} now, [bold]{result.new_score}[/] "
        f"with {escape(', '.join(f'{k}={v}' for k, v in changes.items()))}",
        markup=True,
    )
    for name, delta in result.points_change.items():
        console.print(f"  - {describe(name)}: {delta:+d} points")


def token_command(
    ctx: typer.Context, person_id: Annotated[str, typer.Argument(help="The person's id.")]
) -> None:
    """Issue a person's own API token (shown once; only its hash is kept)."""
    from kaimen.sharing.authentication import issue_person_token

    ws = session(ctx).workspace
    token = run(lambda: issue_person_token(ws.engine, person_id))
    console.print(token, highlight=False)


@person_app.command("sign-in-code")
def person_sign_in_code_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    base_url: Annotated[
        str, typer.Option(help="The web app's address, for the link.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """A short-lived, single-use code (and link) that signs the person in to the web app."""
    from urllib.parse import urlencode

    from kaimen.sharing.signing_in import issue_sign_in_code

    ws = session(ctx).workspace
    issued = run(lambda: issue_sign_in_code(ws.engine, person_id, OPERATOR.actor))
    link = f"{base_url.rstrip('/')}/sign-in?{urlencode({'code': issued.code})}"
    console.print(issued.code, highlight=False)
    console.print(link, highlight=False, soft_wrap=True)
    errors.print(f"single use, until {issued.expires_at:%Y-%m-%d %H:%M} UTC")


@person_app.command("export")
def person_export_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    out: Annotated[
        Path | None, typer.Option(help="Write to this new file (mode 600), not to stdout.")
    ] = None,
) -> None:
    """Everything held about a person, as one JSON document (on their request)."""
    from kaimen.sharing import own_data

    # The file is made first (their identity numbers go in it: readable by the owner only,
    # never overwriting), so a name taken or a folder that cannot be written is refused
    # before the export is read and logged in the person's access log.
    ws = session(ctx).workspace
    descriptor = None if out is None else _new_private_file(out)
    try:
        document = run(
            lambda: own_data.export_for(ws.engine, ws.vault, ws.lake_root, person_id, OPERATOR)
        )
    except BaseException:
        if out is not None and descriptor is not None:
            os.close(descriptor)
            out.unlink(missing_ok=True)
        raise
    text = json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    if out is None or descriptor is None:
        typer.echo(text, nl=False)
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    errors.print(f"{len(document.events):,} events and the rest written to {out}")


def _new_private_file(out: Path) -> int:
    """A new file at `out`, mode 600, open for writing; refused when it exists or cannot be
    made (no such folder, no permission)."""
    try:
        return os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise fail(f"{out} already exists; choose a new file") from None
    except OSError as error:
        raise fail(f"{out} cannot be written: {error.strerror}") from None


@person_app.command("opt-out")
def person_opt_out_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: this removes their data for good.")
    ] = False,
) -> None:
    """Remove everything held about a person and stop scoring them (on their request)."""
    from kaimen.sharing import own_data

    if not yes:
        raise fail("opting out removes the person's data for good; add --yes to confirm")
    ws = session(ctx).workspace
    with spinner(f"removing {person_id}'s data"):
        report = run(
            lambda: own_data.opt_out(
                ws.engine,
                ws.lake_root,
                person_id,
                OPERATOR.actor,
                profile=ws.profile(),
                evidence_dir=ws.evidence_dir,
            )
        )
    removed = ", ".join(f"{n} {table}" for table, n in sorted(report.rows_removed.items()) if n)
    console.print(
        f"{person_id} opted out: {report.lake_events_removed:,} events removed from "
        f"{report.lake_files_rewritten} lake file(s), {report.summary_rows_removed:,} summary "
        f"row(s), {report.friend_links_cut + report.inbox_links_redacted} friend link(s) cut"
        f"{'; store rows: ' + removed if removed else ''}",
        highlight=False,
    )
    for left in report.files_left:
        errors.print(f"could not delete old file {left} (unlisted; the next opt-out removes it)")


def _freeze(ctx: typer.Context, person_id: str, frozen: bool) -> None:
    import datetime as dt

    from kaimen.sharing import freezing

    ws = session(ctx).workspace
    now = dt.datetime.now(dt.UTC)
    state = run(lambda: freezing.set_freeze(ws.engine, person_id, frozen, OPERATOR.actor, now))
    if state.frozen_at is not None:
        console.print(f"{person_id}: file frozen since {state.frozen_at:%Y-%m-%d %H:%M} UTC")
    else:
        console.print(f"{person_id}: file not frozen")


@person_app.command("freeze")
def person_freeze_command(
    ctx: typer.Context, person_id: Annotated[str, typer.Argument(help="The person's id.")]
) -> None:
    """Freeze a person's file (on their request): partners get no decision, report or
    event about them, as without consent, and each attempt is logged and alerted."""
    _freeze(ctx, person_id, True)


@person_app.command("unfreeze")
def person_unfreeze_command(
    ctx: typer.Context, person_id: Annotated[str, typer.Argument(help="The person's id.")]
) -> None:
    """Unfreeze a person's file (on their request); effective for the next request."""
    _freeze(ctx, person_id, False)


@person_app.command("alerts")
def person_alerts_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    unread: Annotated[bool, typer.Option("--unread", help="Unread alerts only.")] = False,
) -> None:
    """A person's alerts, newest first: inquiries, score changes, negative items, court-list
    matches and attempts on a frozen file."""
    from kaimen.sharing import freezing

    ws = session(ctx).workspace
    found = run(lambda: freezing.alerts_of(ws.engine, OPERATOR, person_id, unread_only=unread))
    if not found:
        console.print(f"{person_id}: no {'unread ' if unread else ''}alerts")
    for alert in found:
        state = "read" if alert.read_at else "new"
        details = json.dumps(alert.details, ensure_ascii=False, sort_keys=True)
        console.print(
            f"{alert.alert_id}  {alert.raised_at:%Y-%m-%d %H:%M}  {state:4}  "
            f"{alert.kind.value}  {alert.ref}  {details}",
            highlight=False,
            markup=False,
        )


@person_app.command("alert-read")
def person_alert_read_command(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    alert_id: Annotated[int, typer.Argument(help="The alert's number.", min=1, max=2**31 - 1)],
) -> None:
    """Mark one of a person's alerts read."""
    import datetime as dt

    from kaimen.sharing import freezing

    ws = session(ctx).workspace
    now = dt.datetime.now(dt.UTC)
    alert = run(
        lambda: freezing.mark_alert_read(ws.engine, person_id, alert_id, OPERATOR.actor, now)
    )
    console.print(f"alert {alert.alert_id} read", highlight=False)
