"""The `kaimen` command: simulate, enrol, ingest, audit, serve and the demo."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection

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
from kaimen.scoring.models import list_models, promote
from kaimen.scoring.monitoring import MonitoringReport, monitor
from kaimen.scoring.reading import score_view
from kaimen.scoring.training import TrainingReport, train
from kaimen.sharing import own_data
from kaimen.simulate.run import FORMATS, last_full_month, simulate
from kaimen.store import access_log, audit, lake_manifest, partners, people, person_tokens
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
partner_app = typer.Typer(help="Partners and their API keys.", no_args_is_help=True)
app.add_typer(partner_app, name="partner")
person_app = typer.Typer(help="A person's own data: export it, or opt out.", no_args_is_help=True)
app.add_typer(person_app, name="person")

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


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_training(report: TrainingReport) -> None:
    for model in report.models:
        oot = model.metrics["out_of_time"]
        console.print(
            f"trained {model.version}{' (champion)' if model.champion else ''}: "
            f"out-of-time AUC {oot['auc']:.3f}, KS {oot['ks']:.3f}, Gini {oot['gini']:.3f} "
            f"on {oot['rows']:,} people (bad rate {oot['bad_rate']:.1%})"
        )
    table = Table(
        title=f"out of time ({report.out_of_time}): default rate by band, observed / expected"
    )
    table.add_column("band")
    for model in report.models:
        table.add_column(f"{model.kind}: people", justify="right")
        table.add_column(f"{model.kind}: observed / expected", justify="right")
    by_model = [m.metrics["out_of_time"]["bad_rate_by_band"] for m in report.models]
    for rows in zip(*by_model, strict=True):
        cells = [rows[0]["band"]]
        for row in rows:
            cells += [
                f"{row['count']:,}",
                f"{_rate(row['bad_rate'])} / {_rate(row.get('expected_bad_rate'))}",
            ]
        table.add_row(*cells)
    console.print(table)
    for model in report.models:
        console.print(f"  artifact: {model.path}")
    console.print(
        f"champion: {report.champion} (kaimen score uses it; kaimen promote VERSION changes it)"
    )


@app.command("train")
def train_command(
    as_of: Annotated[str, typer.Option(help="Train on data known by the end of this month.")],
) -> None:
    """Fit the scorecard and the LightGBM challenger; compare them out of time."""
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


LEVEL_COLOURS = {"stable": "green", "watch": "yellow", "act": "bold red"}


def _share(value: float | None, places: int) -> str:
    return "-" if value is None else f"{value:.{places}%}"


def _print_monitoring(report: MonitoringReport) -> None:
    card = report.card
    month, stability, outcomes = card["month"], card["stability"], card["outcomes"]
    population = stability["population"]
    console.print(
        f"monitored {card['model']['version']} ({card['model']['kind']}) for {month}: "
        f"{population['scored']:,} of {population['people']:,} people scored"
    )
    table = Table(title=f"stability, {month} against training (PSI)")
    table.add_column("item")
    table.add_column("PSI", justify="right")
    table.add_column("level")
    characteristics = stability["characteristics"]
    for item in [
        stability["score"],
        *(characteristics if isinstance(characteristics, list) else []),
    ]:
        if "unavailable" in item:
            table.add_row("score", "-", f"not available: {item['unavailable']}")
        else:
            colour = LEVEL_COLOURS[item["level"]]
            table.add_row(item["item"], f"{item['psi']:.4f}", f"[{colour}]{item['level']}[/]")
    console.print(table)
    if isinstance(characteristics, dict):
        console.print(f"characteristics not available: {characteristics['unavailable']}")

    bands = Table(title=f"bands, {month}: share of people and bad rates")
    bands.add_column("band")
    for column in ("training", month, "observed", "expected"):
        bands.add_column(column, justify="right")
    bands.add_column("verdict")
    # Both lists are in BANDS order; either is empty when its part could not be computed.
    bins = stability["score"].get("bins") or [{}] * len(BANDS)
    rows = outcomes.get("bands") or [{}] * len(BANDS)
    for band, shares, row in zip(BANDS, bins, rows, strict=True):
        bands.add_row(
            f"[{band.colour}]{band.name}[/]",
            _share(shares.get("training_share"), 1),
            _share(shares.get("month_share"), 1),
            _share(row.get("observed_bad_rate"), 2),
            _share(row.get("expected_bad_rate"), 2),
            row.get("verdict") or "-",
        )
    console.print(bands)
    if outcomes["status"] == "known":
        auc = "-" if outcomes["auc"] is None else f"{outcomes['auc']:.3f}"
        ks = "-" if outcomes["ks"] is None else f"{outcomes['ks']:.3f}"
        console.print(f"outcomes known: AUC {auc}, KS {ks} on {month}")
    else:
        console.print(f"outcomes not known yet: {outcomes['message']}")
    # soft_wrap: a path is printed whole, never broken across lines.
    console.print(f"model card:\n  {report.json_path}\n  {report.markdown_path}", soft_wrap=True)


@app.command("monitor")
def monitor_command(
    month: Annotated[str, typer.Option(help="The published month to monitor, YYYY-MM.")],
    model: Annotated[
        str | None, typer.Option(help="Model version (default: the champion).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the model card (default KAIMEN_HOME/model_cards)."),
    ] = None,
) -> None:
    """Stability against training, observed vs expected bad rates, and the model card."""
    month = _month_option(month, "--month")
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    folder = out if out is not None else settings.home / "model_cards"
    with _spinner(f"monitoring {month}"):
        report = _run(
            lambda: monitor(
                engine, ibis_connection(), settings.lake_root, month, folder, ACTOR, model
            )
        )
    _print_monitoring(report)


@app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="The model version to score with from now on.")],
) -> None:
    """Make a registered model the champion that kaimen score uses (audit-logged)."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    result = _run(lambda: promote(engine, version, ACTOR))
    if not result.changed:
        console.print(f"{version} is already the champion: unchanged")
        return
    console.print(
        f"promoted {version} ({result.kind}) to champion, replacing {result.previous}; "
        "kaimen score uses it from now on"
    )


@app.command("models")
def models_command() -> None:
    """The model registry: every trained model, its out-of-time results, the champion."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    records = list_models(engine)
    if not records:
        console.print("no model yet: run kaimen train")
        return
    table = Table(title="models (* champion: kaimen score uses it)")
    for column in ("", "version", "kind", "as of", "trained", "AUC", "KS", "Gini"):
        table.add_column(column, justify="right" if column in ("AUC", "KS", "Gini") else "left")
    for record in records:
        oot = record.metrics.get("out_of_time", {})
        table.add_row(
            "*" if record.champion else "",
            record.version,
            record.kind,
            record.as_of,
            record.trained_at.strftime("%Y-%m-%d %H:%M"),
            *(f"{oot[k]:.3f}" if k in oot else "-" for k in ("auc", "ks", "gini")),
        )
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


@partner_app.command("add")
def partner_add_command(
    partner_id: Annotated[str, typer.Argument(help="Id: lower-case letters, digits, hyphens.")],
    name: Annotated[str, typer.Option(help="The partner's name.")],
) -> None:
    """Register a partner."""
    engine = open_store(_settings().resolved_database_url)

    def work(store: Connection) -> partners.Partner:
        partner = partners.add(store, partner_id, name, dt.datetime.now(dt.UTC))
        audit.append(store, ACTOR, "partner.added", subject=partner_id)
        return partner

    partner = _run(lambda: audit.audited_transaction(engine, work))
    console.print(f"partner {partner.partner_id} ({partner.name}) registered")


@partner_app.command("key")
def partner_key_command(
    partner_id: Annotated[str, typer.Argument(help="The partner's id.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"Repeat for each scope: {', '.join(partners.SCOPES)}."),
    ],
) -> None:
    """Issue an API key; it is printed once and only its hash is kept."""
    engine = open_store(_settings().resolved_database_url)

    def work(store: Connection) -> tuple[partners.ApiKey, str]:
        key, secret = partners.issue_key(store, partner_id, scope, dt.datetime.now(dt.UTC))
        audit.append(
            store,
            ACTOR,
            "partner.key_issued",
            subject=partner_id,
            details={"key_id": key.key_id, "scopes": list(key.scopes)},
        )
        return key, secret

    key, secret = _run(lambda: audit.audited_transaction(engine, work))
    errors.print(f"key {key.key_id} for {partner_id}, scopes {', '.join(key.scopes)}:")
    console.print(secret, highlight=False)


@partner_app.command("revoke")
def partner_revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key's id (not the key).")],
) -> None:
    """Revoke an API key; the next request with it is refused."""
    engine = open_store(_settings().resolved_database_url)

    def work(store: Connection) -> partners.ApiKey:
        key = partners.revoke_key(store, key_id, dt.datetime.now(dt.UTC))
        audit.append(
            store, ACTOR, "partner.key_revoked", subject=key.partner_id, details={"key_id": key_id}
        )
        return key

    key = _run(lambda: audit.audited_transaction(engine, work))
    console.print(f"key {key.key_id} of {key.partner_id} revoked")


@partner_app.command("list")
def partner_list_command() -> None:
    """Partners and their keys (never the keys themselves)."""
    engine = open_store(_settings().resolved_database_url)
    table = Table(title="partners")
    for column in ("partner", "name", "key", "scopes", "state"):
        table.add_column(column)
    with engine.connect() as store:
        for partner in partners.all_partners(store):
            keys = partners.keys_of(store, partner.partner_id)
            if not keys:
                table.add_row(partner.partner_id, partner.name, "-", "-", "-")
            for key in keys:
                state = "revoked" if key.revoked_at else "live"
                table.add_row(
                    partner.partner_id, partner.name, key.key_id, ", ".join(key.scopes), state
                )
    console.print(table)


@person_app.command("export")
def person_export_command(
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    out: Annotated[
        Path | None, typer.Option(help="Write to this new file (mode 600), not to stdout.")
    ] = None,
) -> None:
    """Everything held about a person, as one JSON document (on their request)."""
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    now = dt.datetime.now(dt.UTC)
    document = _run(
        lambda: own_data.export(engine, settings.vault(), settings.lake_root, person_id, now)
    )
    text = json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    if out is not None:
        try:
            # Their identity numbers are in it: readable by the owner only, never overwriting.
            descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise _fail(f"{out} already exists; choose a new file") from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    with engine.begin() as store:
        # Read by someone other than the person: it goes in their access log.
        access_log.record(
            store, person_id, ACTOR, "own-data export", "export", {"format": own_data.FORMAT}, now
        )
        audit.append(store, ACTOR, "person.exported", subject=person_id, now=now)
    if out is None:
        typer.echo(text, nl=False)
    else:
        errors.print(f"{len(document.events):,} events and the rest written to {out}")


@person_app.command("opt-out")
def person_opt_out_command(
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: this removes their data for good.")
    ] = False,
) -> None:
    """Remove everything held about a person and stop scoring them (on their request)."""
    if not yes:
        raise _fail("opting out removes the person's data for good; add --yes to confirm")
    settings = _settings()
    engine = open_store(settings.resolved_database_url)
    with _spinner(f"removing {person_id}'s data"):
        report = _run(lambda: own_data.opt_out(engine, settings.lake_root, person_id, ACTOR))
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
