"""Getting data in: simulate a population, enrol people, ingest events, seal and summarise
the lake, and see what it holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.start_up import loading_services
from kaimen.cli.terminal import (
    console,
    errors,
    fail,
    month_option,
    report_file,
    run,
    spinner,
    styled,
    titled_table,
)

# Services are imported inside the commands that call them: each pulls in engines and model
# libraries (Ibis, DuckDB, pandas, LightGBM, scikit-learn) that `kaimen --help` and the other
# commands must not pay for.

lake_app = typer.Typer(help="Manage the event lake.", no_args_is_help=True)


def simulate_command(
    people_count: Annotated[int, typer.Option("--people", min=1, help="How many people.")] = 1000,
    months: Annotated[int, typer.Option(min=1, max=240, help="How many months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder to write people and events into.")] = Path(
        "simulation"
    ),
    last_month: Annotated[
        str | None, typer.Option(help="Last simulated month, YYYY-MM (default: last full month).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Events file format: parquet, csv or jsonl.")
    ] = "parquet",
) -> None:
    """Write a synthetic population (people.csv) and its events (events.parquet) to OUT."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from kaimen.simulate.run import FORMATS, last_full_month, simulate

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}", 2)
    month = month_option(last_month or last_full_month(dt.date.today()), "--last-month")
    if month > last_full_month(dt.date.today()):
        raise fail(f"--last-month {month} has not ended yet", 2)
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} months"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("months", total=months)
        summary = simulate(
            people_count,
            months,
            seed,
            out,
            month,
            fmt,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    console.print(
        f"simulated {summary.people:,} people over {summary.months} months "
        f"({summary.first_month} to {summary.last_month}): {summary.events:,} events"
    )
    console.print(f"  people: {summary.people_file}\n  events: {summary.events_file}")


def enrol_command(
    ctx: typer.Context,
    phone: Annotated[
        str | None, typer.Option(help="Phone number (E.164 or mainland mobile).")
    ] = None,
    national_id: Annotated[
        str | None, typer.Option(help="18-character resident ID number.")
    ] = None,
    person_id: Annotated[
        str | None, typer.Option(help="Use this person id (default: new).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            help="Enrol everyone in a CSV/JSONL/Parquet file instead (columns phone, "
            "national_id, optional person_id and name)."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write every problem of a rejected file here.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The person's name in Hanzi or Pinyin (optional).")
    ] = None,
) -> None:
    """Enrol one person (--phone and --national-id, optionally --name) or everyone in --file."""
    with loading_services():
        from kaimen.enrolment import enrol_file, enrol_one

    if file is not None and (phone or national_id or name):
        raise fail("use either --file or --phone/--national-id/--name, not both", 2)
    if file is None and (not phone or not national_id):
        raise fail("give --phone and --national-id (or --file)", 2)
    report = report_file(report, file)
    ws = session(ctx).workspace
    if file is not None:
        with spinner(f"enrolling from {file.name}"):
            result = run(lambda: enrol_file(ws.engine, ws.vault, file, OPERATOR.actor), report)
        console.print(
            f"enrolled {result.enrolled:,} new, {result.already_enrolled:,} already enrolled"
        )
        return
    assert phone is not None and national_id is not None
    new_id = run(
        lambda: enrol_one(
            ws.engine, ws.vault, phone, national_id, OPERATOR.actor, person_id, name=name
        )
    )
    console.print(f"enrolled as {new_id}")


def ingest_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file of events.")],
    report: Annotated[
        Path | None, typer.Option(help="Write every problem of a rejected file here.")
    ] = None,
) -> None:
    """Validate and store a file of events: all or nothing, and replays change nothing."""
    from kaimen.ingest.file_ingest import ingest_file

    report = report_file(report, path)
    ws = session(ctx).workspace
    with spinner(f"ingesting {path.name}") as tell:
        result = run(
            lambda: ingest_file(ws.engine, ws.lake_root, path, OPERATOR.actor, progress=tell),
            report,
        )
    note = " (this exact file was ingested before)" if result.replayed_file else ""
    console.print(f"new {result.new:,}, duplicate {result.duplicate:,}, rejected 0{note}")


@lake_app.command("seal")
def seal_command(ctx: typer.Context) -> None:
    """Move events received over HTTP from the inbox into the lake."""
    from kaimen.ingest.inbox_ingest import seal_inbox

    ws = session(ctx).workspace
    with spinner("sealing the inbox"):
        result = run(lambda: seal_inbox(ws.engine, ws.lake_root, OPERATOR.actor))
    console.print(
        f"sealed {result.total:,} events: new {result.new:,}, duplicate {result.duplicate:,}"
    )


@lake_app.command("summarise")
def summarise_command(ctx: typer.Context) -> None:
    """Summarise lake files not yet summarised (the score does this too, first)."""
    from kaimen.scoring.lake_summaries import summarise_lake

    ws = session(ctx).workspace
    with spinner("summarising new lake files"):
        report = run(lambda: summarise_lake(ws.engine, ws.backend(), ws.lake_root))
    console.print(f"summarised {report.lake_files:,} new lake files into {report.rows:,} rows")


@lake_app.command("index-keys")
def index_keys_command(ctx: typer.Context) -> None:
    """Index the keys of a lake written before the key index existed (once, after upgrading)."""
    from kaimen.ingest.key_index import catch_up

    ws = session(ctx).workspace
    with spinner("indexing the lake's event keys"):
        added = run(lambda: catch_up(ws.engine, ws.lake_root, OPERATOR.actor))
    console.print(f"indexed {added:,} event keys the index did not hold")


def status_command(ctx: typer.Context) -> None:
    """What the store and the lake hold."""
    from kaimen.operations.status import status

    ws = session(ctx).workspace
    held = status(ws.engine, ws.lake_root)
    table = titled_table("events in the lake")
    for column in ("kind", "events", "from", "to"):
        table.add_column(column, justify="right" if column == "events" else "left")
    for kind in held.kinds:
        table.add_row(kind.kind, f"{kind.events:,}", kind.first_month, kind.last_month)
    table.add_row(styled("[bold]total"), styled(f"[bold]{held.events:,}"), "", "")
    console.print(table)
    console.print(
        f"people enrolled: {held.people_enrolled:,}; lake files: {held.lake_files:,}; "
        f"audit log rows: {held.audit_rows:,}"
    )
