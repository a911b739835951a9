"""The `kaimen` command: simulate, enrol, ingest, audit, serve and the demo."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kaimen import __version__
from kaimen.config import Settings
from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected, KaimenError
from kaimen.domain.scores import BANDS
from kaimen.engines.embedded import connect as connect_engine
from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file, enrol_one
from kaimen.features.summary_build import refresh_summaries
from kaimen.ingest.file_ingest import ingest_file
from kaimen.ingest.inbox_ingest import seal_inbox
from kaimen.lake import reader
from kaimen.scoring import way_up
from kaimen.scoring.batch import score_month
from kaimen.scoring.reading import score_view
from kaimen.scoring.training import TrainingReport, train
from kaimen.simulate.run import FORMATS, last_full_month, simulate
from kaimen.store import audit, lake_manifest, people, person_tokens
from kaimen.store.database import open_store

app = typer.Typer(
    help="kaimen (开门): credit and trust scoring that people can see, understand and contest.\n\n"
    "Data lives in KAIMEN_HOME (default ./.kaimen); KAIMEN_DATABASE_URL selects PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
audit_app = typer.Typer(help="Inspect the tamper-evident audit log.", no_args_is_help=True)
lake_app = typer.Typer(help="Manage the event lake.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(lake_app, name="lake")

console = Console()
errors = Console(stderr=True)
ACTOR = "cli"
MAX_PRINTED_ERRORS = 200
T = TypeVar("T")


def _settings() -> Settings:
    return Settings()


@contextmanager
def _spinner(text: str) -> Iterator[Callable[[str], None]]:
    """A live status line; the yielded function updates what it says."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task(text, total=None)
        yield lambda message: progress.update(task, description=f"{text}: {message}")


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _write_report(path: Path, rejected: BatchRejected) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "reason"])
        writer.writerows((e.line, e.field, e.reason) for e in rejected.errors)


def _run(action: Callable[[], T], report: Path | None = None) -> T:
    """Run `action`, turning kaimen's errors into a message and a non-zero exit status."""
    try:
        return action()
    except BatchRejected as rejected:
        errors.print(f"[bold red]rejected:[/] {rejected.bad_lines} bad row(s); nothing was stored.")
        for error in rejected.errors[:MAX_PRINTED_ERRORS]:
            errors.print(f"  {error}", highlight=False, markup=False)
        if report is not None:
            _write_report(report, rejected)
            errors.print(f"every problem is listed in {report}")
        elif len(rejected.errors) > MAX_PRINTED_ERRORS:
            errors.print(
                f"  ... and {len(rejected.errors) - MAX_PRINTED_ERRORS} more "
                "(use --report FILE for the full list)"
            )
        raise typer.Exit(1) from rejected
    except (IdentityRejected, EnrolmentConflict) as refused:
        raise _fail(f"{refused.reason}: {refused.message}") from refused
    except KaimenError as error:
        raise _fail(str(error)) from error


@app.command("simulate")
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
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}", 2)
    month = last_month or last_full_month(dt.date.today())
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise _fail(f"--last-month must look like 2026-10, not {month!r}", 2)
    if month > last_full_month(dt.date.today()):
        raise _fail(f"--last-month {month} has not ended yet", 2)
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


@app.command("enrol")
def enrol_command(
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
        Path | None, typer.Option(help="Enrol everyone in a CSV/JSONL/Parquet file instead.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write every problem of a rejected file here.")
    ] = None,
) -> None:
    """Enrol one person (--phone and --national-id) or everyone in --file."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    vault = settings.vault()
    if file is not None:
        if phone or national_id:
            raise _fail("use either --file or --phone/--national-id, not both", 2)
        with _spinner(f"enrolling from {file.name}"):
            result = _run(lambda: enrol_file(engine, vault, file, ACTOR), report)
        console.print(
            f"enrolled {result.enrolled:,} new, {result.already_enrolled:,} already enrolled"
        )
        return
    if not phone or not national_id:
        raise _fail("give --phone and --national-id (or --file)", 2)
    new_id = _run(lambda: enrol_one(engine, vault, phone, national_id, ACTOR, person_id))
    console.print(f"enrolled as {new_id}")


@app.command("ingest")
def ingest_command(
    path: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file of events.")],
    report: Annotated[
        Path | None, typer.Option(help="Write every problem of a rejected file here.")
    ] = None,
) -> None:
    """Validate and store a file of events: all or nothing, and replays change nothing."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner(f"ingesting {path.name}") as tell:
        result = _run(
            lambda: ingest_file(engine, settings.lake_root, path, ACTOR, progress=tell), report
        )
    note = " (this exact file was ingested before)" if result.replayed_file else ""
    console.print(f"new {result.new:,}, duplicate {result.duplicate:,}, rejected 0{note}")


@lake_app.command("seal")
def seal_command() -> None:
    """Move events received over HTTP from the inbox into the lake."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner("sealing the inbox"):
        result = _run(lambda: seal_inbox(engine, settings.lake_root, ACTOR))
    console.print(
        f"sealed {result.total:,} events: new {result.new:,}, duplicate {result.duplicate:,}"
    )


@lake_app.command("summarise")
def summarise_command() -> None:
    """Summarise lake files not yet summarised (the score does this too, first)."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner("summarising new lake files"):
        report = _run(lambda: refresh_summaries(engine, ibis_connection(), settings.lake_root))
    console.print(f"summarised {report.lake_files:,} new lake files into {report.rows:,} rows")


@app.command("status")
def status_command() -> None:
    """What the store and the lake hold."""
    settings = _settings()
    _print_status(settings)


def _print_status(settings: Settings) -> None:
    engine = open_store(settings.resolved_database_url)
    with engine.connect() as store:
        files = lake_manifest.files(store)
    connection = connect_engine()
    try:
        counts = reader.count_by_kind(connection, settings.lake_root, files)
    finally:
        connection.close()
    table = Table(title="events in the lake")
    for column in ("kind", "events", "from", "to"):
        table.add_column(column, justify="right" if column == "events" else "left")
    for kind, count, first, last in counts:
        table.add_row(kind, f"{count:,}", first, last)
    table.add_row("[bold]total", f"[bold]{sum(c[1] for c in counts):,}", "", "")
    console.print(table)
    console.print(
        f"people enrolled: {people.count_active(engine):,}; lake files: {len(files):,}; "
        f"audit log rows: {audit.count(engine):,}"
    )


def _month_option(value: str, flag: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise _fail(f"{flag} must look like 2026-10, not {value!r}", 2)
    return value


def _print_training(report: TrainingReport) -> None:
    oot = report.metrics["out_of_time"]
    console.print(
        f"trained {report.version}{' (champion)' if report.champion else ''}: "
        f"out-of-time AUC {oot['auc']:.3f}, KS {oot['ks']:.3f}, Gini {oot['gini']:.3f} "
        f"on {oot['rows']:,} people (bad rate {oot['bad_rate']:.1%})"
    )
    table = Table(title="out-of-time default rate by band")
    for column in ("band", "people", "default rate"):
        table.add_column(column)
    for row in oot["bad_rate_by_band"]:
        rate = "-" if row["bad_rate"] is None else f"{row['bad_rate']:.1%}"
        table.add_row(row["band"], f"{row['count']:,}", rate)
    console.print(table)
    console.print(f"  artifact: {report.path}")


@app.command("train")
def train_command(
    as_of: Annotated[str, typer.Option(help="Train on data known by the end of this month.")],
) -> None:
    """Fit the scorecard on outcomes and report out-of-time AUC, KS and Gini."""
    month = _month_option(as_of, "--as-of")
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner(f"training as of {month}"):
        report = _run(
            lambda: train(
                engine,
                ibis_connection(),
                settings.lake_root,
                settings.home / "models",
                month,
                ACTOR,
            )
        )
    _print_training(report)


@app.command("score")
def score_command(
    month: Annotated[str, typer.Option(help="Score everyone as of the end of this month.")],
) -> None:
    """Score every enrolled person for a month and publish the snapshots at once."""
    month = _month_option(month, "--month")
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner(f"scoring {month}"):
        report = _run(
            lambda: score_month(engine, ibis_connection(), settings.lake_root, month, ACTOR)
        )
    if report.already_published:
        console.print(f"{month} is already published with {report.model_version}: unchanged")
        return
    console.print(
        f"scored {report.scored:,} of {report.people:,} people for {month} "
        f"with {report.model_version} ({report.thin_files:,} thin files flagged, not scored)"
    )
    table = Table(title=f"bands, {month}")
    table.add_column("band")
    table.add_column("people", justify="right")
    for band in BANDS:
        table.add_row(f"[{band.colour}]{band.name}[/]", f"{report.bands.get(band.name, 0):,}")
    console.print(table)


@app.command("show")
def show_command(person_id: Annotated[str, typer.Argument(help="The person's id.")]) -> None:
    """A person's latest score, band, dimensions, reasons and history."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    view = score_view(engine, person_id)
    if view is None:
        raise _fail(f"no published score for {person_id}")
    if view.thin_file:
        console.print(f"{person_id}, {view.month}: [bold]thin file[/]: too little history to score")
    else:
        console.print(
            f"{person_id}, {view.month}: [bold {view.colour}]{view.score} ({view.band})[/]"
            f"  [dim]{view.model_version}[/]"
        )
        console.print(
            "  "
            + ", ".join(
                f"{name.replace('_', ' ')} {value}" for name, value in view.dimensions.items()
            )
        )
        for reason in view.reasons:
            console.print(f"  - {reason.text} ([red]-{reason.points_lost}[/] points)")
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
        raise _fail(f"--set takes NAME=VALUE (or NAME=missing), not {text!r}", 2)
    if value.strip().lower() in ("missing", "none", ""):
        return name.strip(), None
    try:
        return name.strip(), float(value)
    except ValueError:
        raise _fail(f"--set {name}: {value!r} is not a number", 2) from None


@app.command("whatif")
def whatif_command(
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
    if (target is None) == (not setting):
        raise _fail("give either --target SCORE or one or more --set NAME=VALUE", 2)
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    backend = ibis_connection()
    if target is not None:
        begin, plan = _run(
            lambda: way_up.way_up(engine, backend, settings.lake_root, person_id, target)
        )
        console.print(
            f"{person_id}, {begin.month}: {plan.score} now, target {plan.target}"
            f"  [dim]{begin.model_version}[/]"
        )
        if not plan.changes:
            console.print("  the target is already reached")
            return
        if not plan.reachable:
            console.print(
                f"  [yellow]out of reach by what you can change: at best {plan.new_score}[/]"
            )
        for change in plan.changes:
            console.print(
                f"  - {way_up.describe(change.feature)}: {change.current_label} -> "
                f"{change.new_label} ([green]+{change.points_added}[/] points)"
            )
        console.print(f"  score after these changes: [bold]{plan.new_score}[/]")
        return
    changes = dict(_parse_setting(text) for text in setting or [])
    begin, result = _run(
        lambda: way_up.free_what_if(engine, backend, settings.lake_root, person_id, changes)
    )
    console.print(
        f"{person_id}, {begin.month}: {result.score} now, [bold]{result.new_score}[/] "
        f"with {', '.join(f'{k}={v}' for k, v in changes.items())}"
    )
    for name, delta in result.points_change.items():
        console.print(f"  - {way_up.describe(name)}: {delta:+d} points")


@app.command("token")
def token_command(person_id: Annotated[str, typer.Argument(help="The person's id.")]) -> None:
    """Issue a person's own API token (shown once; only its hash is kept)."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    try:
        with engine.begin() as store:
            token = person_tokens.issue(store, person_id, dt.datetime.now(dt.UTC))
    except KeyError:
        raise _fail(f"{person_id} is not an enrolled person") from None
    console.print(token, highlight=False)


@audit_app.command("verify")
def audit_verify_command() -> None:
    """Check the audit log's hash chain; names the first bad row if any."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner("verifying the audit log"):
        rows = _run(lambda: audit.verify(engine))
    console.print(f"audit log verified: {rows:,} rows, chain intact")


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from kaimen.api.app import create_app

    settings = _settings()
    api = create_app(settings)
    token_note = (
        "from KAIMEN_ADMIN_TOKEN" if settings.admin_token else f"in {settings.home / 'admin.token'}"
    )
    console.print(f"kaimen {__version__} on http://{host}:{port}/docs (admin token {token_note})")
    uvicorn.run(api, host=host, port=port, log_level="info")


@app.command("demo")
def demo_command(
    people_count: Annotated[
        int, typer.Option("--people", min=100, help="Population size.")
    ] = 20_000,
    months: Annotated[int, typer.Option(min=18, max=120, help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
    serve: Annotated[bool, typer.Option(help="Serve the API afterwards.")] = True,
) -> None:
    """Simulate, enrol, ingest, train, score, print the results, then serve the API."""
    settings = _settings()
    last = last_full_month(dt.date.today())
    out = settings.home / f"demo-{seed}-{people_count}-{months}-{last}"
    simulate_command(people_count, months, seed, out, last, "parquet")
    enrol_command(None, None, None, out / "people.csv", None)
    ingest_command(out / "events.parquet", None)
    train_command(last)
    previous = (dt.date.fromisoformat(last + "-01") - dt.timedelta(days=1)).strftime("%Y-%m")
    score_command(previous)
    score_command(last)
    engine = open_store(settings.resolved_database_url)
    console.print(f"audit log verified: {audit.verify(engine):,} rows")
    console.print("try: kaimen show S" + f"{seed % 10_000:04d}-00000001")
    if serve:
        serve_command("127.0.0.1", 8000)


def main() -> None:
    app()
