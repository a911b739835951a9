"""The points programme at the operator's hands: check a rulebook, put one in force, run a
month's award, read a person's ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, month_option, run, spinner, titled_table

# Services are imported inside the commands that call them, as elsewhere in the CLI.

points_app = typer.Typer(
    help="The points programme: rulebooks, the monthly award, ledgers.", no_args_is_help=True
)
RULEBOOK_HELP = "A shipped rulebook (city_pilot, lawful) or the path of a .yaml file."


@points_app.command("check")
def check_command(
    ctx: typer.Context,
    rulebook: Annotated[str, typer.Argument(help=RULEBOOK_HELP)],
    profile: Annotated[
        str | None,
        typer.Option(help="Check under this profile (cn, us, eu or a .toml path) instead."),
    ] = None,
) -> None:
    """Validate a rulebook under the profile: every problem, each naming its rule."""
    from kaimen.domain import profiles
    from kaimen.points.rulebooks import problems_of

    chosen = run(lambda: profiles.load(profile)) if profile else session(ctx).workspace.profile()
    found = run(lambda: problems_of(rulebook, chosen))
    if not found:
        console.print(f"{rulebook} may run under {chosen.name} ({chosen.title})", highlight=False)
        return
    table = titled_table(f"{rulebook} refused under {chosen.name}: {len(found)} problem(s)")
    for column in ("rule or privilege", "reason", "why"):
        table.add_column(column, overflow="fold")
    for problem in found:
        reason = problem.reason + (f" ({problem.criterion})" if problem.criterion else "")
        table.add_row(problem.subject, reason, problem.message)
    console.print(table)
    raise typer.Exit(1)


@points_app.command("install")
def install_command(
    ctx: typer.Context, rulebook: Annotated[str, typer.Argument(help=RULEBOOK_HELP)]
) -> None:
    """Validate a rulebook and put it in force (refused whole if any rule is unlawful)."""
    from kaimen.points.rulebooks import install

    ws = session(ctx).workspace
    loaded = run(lambda: install(ws.engine, ws.profile(), OPERATOR, rulebook))
    console.print(
        f"{loaded.rulebook.name} in force ({len(loaded.rulebook.rules)} rules), "
        f"id {loaded.rulebook_id[:12]}",
        highlight=False,
    )


@points_app.command("award")
def award_command(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="The month to award, e.g. 2026-10.")],
) -> None:
    """Award a month's points from the lake's events; running it again adds nothing."""
    from kaimen.points.awarding import award_month

    month = month_option(month, "--month")
    ws = session(ctx).workspace
    with spinner(f"awarding {month}"):
        report = run(
            lambda: award_month(
                ws.engine, ws.backend(), ws.lake_root, ws.profile(), OPERATOR, month
            )
        )
    console.print(
        f"{report.month} under {report.rulebook}: {report.entries:,} entries "
        f"({report.points:+,} points) for {report.people:,} people; "
        f"{report.balances:,} balances stored",
        highlight=False,
    )


@points_app.command("ledger")
def ledger_command(
    ctx: typer.Context, person_id: Annotated[str, typer.Argument(help="The person's id.")]
) -> None:
    """A person's ledger, balance, grade and privileges (the read is in their access log)."""
    from kaimen.points.standing import my_points

    ws = session(ctx).workspace
    seen = run(lambda: my_points(ws.engine, ws.profile(), OPERATOR, person_id))
    if not seen.entries and seen.stored is None:
        console.print(f"{person_id} has no entries under {seen.rulebook}", highlight=False)
    table = titled_table(f"{person_id}: {seen.balance:,} points, grade {seen.grade}")
    for column in ("entry", "month", "rule", "event", "points", "expires", "state"):
        table.add_column(column, overflow="fold")
    for e in seen.entries:
        state = e.state.value if e.state else ("reverses " + e.reverses[:8] if e.reverses else "")
        table.add_row(
            e.entry_id,
            f"{e.period:%Y-%m}",
            e.rule_id,
            f"{e.source}/{e.event_id}",
            f"{e.points:+d}",
            "never" if e.expires_on is None else f"{e.expires_on:%Y-%m}",
            state,
        )
    console.print(table)
    for privilege in seen.privileges:
        console.print(
            f"  {privilege.effect} in {privilege.context}: {privilege.description}",
            highlight=False,
        )
    if seen.stored is not None and seen.stored.month != seen.month:
        console.print(
            f"  stored by the award run for {seen.stored.month}: {seen.stored.balance:,}",
            highlight=False,
        )
