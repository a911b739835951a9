"""Sandboxes: simulations that show what a rule does before anyone is scored by it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaimen.cli.session import session
from kaimen.cli.terminal import console, fail, run, spinner, titled_table

# The sandbox's service is imported inside the command: it brings NumPy, SciPy, Arrow and
# matplotlib, which `kaimen --help` and the other commands must not pay for.

sandbox_app = typer.Typer(
    help="Simulations that show what a rule does, on a seeded population.", no_args_is_help=True
)


@sandbox_app.command("spiral")
def spiral_command(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same report.")] = 7,
    people: Annotated[int, typer.Option(min=10, help="How many people.")] = 10_000,
    months: Annotated[int, typer.Option(min=1, max=240, help="Months after the listing.")] = 12,
    listed: Annotated[
        int, typer.Option(min=1, help="People court-listed in month 0 (the first is followed).")
    ] = 1,
    share: Annotated[
        float,
        typer.Option(help="The unbounded coupling's weight on friends' average (0-0.5)."),
    ] = 0.08,
    tie_value: Annotated[
        float,
        typer.Option(help="A tie's mean worth, in score points (above 0)."),
    ] = 4.0,
    repeats: Annotated[
        int, typer.Option(min=1, max=100, help="Worlds to run, seeds SEED onwards.")
    ] = 1,
    report: Annotated[
        Path, typer.Option(help="Folder to write the table and the plot into.")
    ] = Path("spiral-report"),
    profile: Annotated[
        str | None,
        typer.Option(
            help="Jurisdiction profile: cn, us, eu or a .toml file (default: KAIMEN_PROFILE)."
        ),
    ] = None,
) -> None:
    """Run one seeded world twice, under an unbounded friends' coupling and under kaimen's
    bound, with a court listing in month 0, and write both side by side to REPORT."""
    from kaimen.domain.errors import ConfigurationError
    from kaimen.domain.profiles import load
    from kaimen.simulate.spiral import SpiralSettings
    from kaimen.simulate.spiral_sandbox import spiral_sandbox

    if report.exists() and not report.is_dir():
        raise fail(f"--report {report} is a file, not a folder", 2)
    if profile is None:
        chosen = run(lambda: load(session(ctx).settings.profile))
    else:
        try:
            chosen = load(profile)
        except ConfigurationError as error:
            raise fail(f"--profile: {error}", 2) from None
    settings = SpiralSettings(
        seed=seed,
        people=people,
        months=months,
        listed=listed,
        share=share,
        tie_value=tie_value,
        repeats=repeats,
    )
    try:
        with spinner(f"running {people:,} people for {months} months, twice"):
            outcome = run(lambda: spiral_sandbox(settings, chosen, report))
    except OSError as error:
        raise fail(f"cannot write the report to {report}: {error.strerror or error}") from None
    from kaimen.simulate.spiral_report import summary

    done = outcome.report
    table = titled_table(
        f"seed {seed}, {done.people:,} people, profile {done.profile}: "
        f"{done.listed_person} court-listed in month 0 (-{done.penalty})"
    )
    for heading in ("measure", "unbounded coupling", "kaimen's bound"):
        table.add_column(heading, justify="left" if heading == "measure" else "right")
    for line in summary(done):
        table.add_row(line.measure, line.unbounded, line.bounded)
    console.print(table)
    files = outcome.files
    console.print(f"report: {files.markdown}, {files.json.name}, {files.csv.name}")
    console.print(f"plot: {files.png}, {files.svg.name}")
