"""The model's life: train, score a month, monitor, judge fairness, promote, list the registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import (
    console,
    errors,
    escape,
    month_option,
    run,
    spinner,
    styled,
    titled_table,
)
from kaimen.domain.scores import BANDS

if TYPE_CHECKING:
    from kaimen.scoring.fairness import FairnessReport
    from kaimen.scoring.monitoring import MonitoringReport
    from kaimen.scoring.training import TrainingReport

# Services are imported inside the commands that call them: each pulls in engines and model
# libraries (Ibis, DuckDB, pandas, LightGBM, scikit-learn) that `kaimen --help` and the other
# commands must not pay for.


def _share(value: float | None, places: int) -> str:
    return "-" if value is None else f"{value:.{places}%}"


def print_training(report: TrainingReport) -> None:
    for model in report.models:
        oot = model.metrics.out_of_time
        if oot is None:  # training always records it; a record without it has nothing to show
            continue
        console.print(
            f"trained {model.version}{' (champion)' if model.champion else ''}: "
            f"out-of-time AUC {oot.auc:.3f}, KS {oot.ks:.3f}, Gini {oot.gini:.3f} "
            f"on {oot.rows:,} people (bad rate {oot.bad_rate:.1%})"
        )
    table = titled_table(
        f"out of time ({report.out_of_time}): default rate by band, observed / expected"
    )
    table.add_column("band")
    for model in report.models:
        table.add_column(f"{model.kind}: people", justify="right")
        table.add_column(f"{model.kind}: observed / expected", justify="right")
    by_model = [
        m.metrics.out_of_time.bad_rate_by_band if m.metrics.out_of_time else ()
        for m in report.models
    ]
    for rows in zip(*by_model, strict=True):
        cells = [rows[0].band]
        for row in rows:
            cells += [
                f"{row.count:,}",
                f"{_share(row.bad_rate, 1)} / {_share(row.expected_bad_rate, 1)}",
            ]
        table.add_row(*cells)
    console.print(table)
    for model in report.models:
        console.print(f"  artifact: {model.path}")
    console.print(
        f"champion: {report.champion} (kaimen score uses it; kaimen promote VERSION changes it)"
    )


def train_command(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option(help="Train on data known by the end of this month.")],
) -> None:
    """Fit the scorecard and the LightGBM challenger; compare them out of time."""
    from kaimen.scoring.training import train

    month = month_option(as_of, "--as-of")
    ws = session(ctx).workspace
    with spinner(f"training as of {month}"):
        report = run(
            lambda: train(
                ws.engine, ws.backend(), ws.lake_root, ws.models_dir, month, OPERATOR.actor
            )
        )
    print_training(report)


def score_command(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Score everyone as of the end of this month.")],
) -> None:
    """Score every enrolled person for a month and publish the snapshots at once."""
    from kaimen.scoring.batch import score_month

    month = month_option(month, "--month")
    ws = session(ctx).workspace
    with spinner(f"scoring {month}"):
        report = run(
            lambda: score_month(
                ws.engine, ws.backend(), ws.lake_root, month, OPERATOR.actor, profile=ws.profile()
            )
        )
    for drift in report.library_drift:
        errors.print(f"[yellow]library version differs from training:[/] {drift}", markup=True)
    if report.already_published and report.served_version not in (None, report.model_version):
        # A champion promoted back: its run of the month stands, but a later run is served.
        console.print(
            f"{month} is already published with {report.model_version}, but the run served for "
            f"{month} is {report.served_version}'s, published after it: a published month is "
            f"never run again, so {report.model_version} is served from the next month scored"
        )
    elif report.already_published:
        console.print(f"{month} is already published with {report.model_version}: unchanged")
        return
    console.print(
        f"scored {report.scored:,} of {report.people:,} people for {month} "
        f"with {report.model_version} ({report.thin_files:,} thin files flagged, not scored)"
    )
    table = titled_table(f"bands, {month}")
    table.add_column("band")
    table.add_column("people", justify="right")
    for band in BANDS:
        table.add_row(styled(f"[{band.colour}]{band.name}"), f"{report.bands.get(band.name, 0):,}")
    console.print(table)


LEVEL_COLOURS = {"stable": "green", "watch": "yellow", "act": "bold red"}


def print_monitoring(report: MonitoringReport) -> None:
    from kaimen.scoring.monitoring import Unavailable

    card = report.card
    month, stability, outcomes = card.month, card.stability, card.outcomes
    population = stability.population
    console.print(
        f"monitored {card.model.version} ({card.model.kind}) for {month}: "
        f"{population.scored:,} of {population.people:,} people scored"
    )
    table = titled_table(f"stability, {month} against training (PSI)")
    table.add_column("item")
    table.add_column("PSI", justify="right")
    table.add_column("level")
    if isinstance(stability.score, Unavailable):
        table.add_row("score", "-", f"not available: {stability.score.unavailable}")
    for item in stability.measured:
        colour = LEVEL_COLOURS[item.level]
        table.add_row(item.item, f"{item.psi:.4f}", styled(f"[{colour}]{item.level}"))
    console.print(table)
    if isinstance(stability.characteristics, Unavailable):
        console.print(f"characteristics not available: {stability.characteristics.unavailable}")

    bands = titled_table(f"bands, {month}: share of people and bad rates")
    bands.add_column("band")
    for column in ("training", month, "observed", "expected"):
        bands.add_column(column, justify="right")
    bands.add_column("verdict")
    # Both are in BANDS order; either is missing when its part could not be computed.
    bins = None if isinstance(stability.score, Unavailable) else stability.score.bins
    rows = outcomes.bands if outcomes.status == "known" else None
    for i, band in enumerate(BANDS):
        shares = bins[i] if bins else None
        row = rows[i] if rows else None
        bands.add_row(
            styled(f"[{band.colour}]{band.name}"),
            _share(shares.training_share if shares else None, 1),
            _share(shares.month_share if shares else None, 1),
            _share(row.observed_bad_rate if row else None, 2),
            _share(row.expected_bad_rate if row else None, 2),
            (row.verdict if row else None) or "-",
        )
    console.print(bands)
    if outcomes.status == "known":
        auc = "-" if outcomes.auc is None else f"{outcomes.auc:.3f}"
        ks = "-" if outcomes.ks is None else f"{outcomes.ks:.3f}"
        console.print(f"outcomes known: AUC {auc}, KS {ks} on {month}")
    else:
        console.print(f"outcomes not known yet: {outcomes.message}")
    # soft_wrap: a path is printed whole, never broken across lines.
    console.print(f"model card:\n  {report.json_path}\n  {report.markdown_path}", soft_wrap=True)


def monitor_command(
    ctx: typer.Context,
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
    from kaimen.scoring.monitoring import monitor

    month = month_option(month, "--month")
    ws = session(ctx).workspace
    folder = out if out is not None else ws.model_cards_dir
    with spinner(f"monitoring {month}"):
        report = run(
            lambda: monitor(
                ws.engine, ws.backend(), ws.lake_root, month, folder, OPERATOR.actor, model
            )
        )
    print_monitoring(report)


def print_fairness(report: FairnessReport, paths: tuple[Path, Path]) -> None:
    figures = report.figures
    console.print(
        f"fairness of {report.model} ({report.kind}) on {report.month}: {figures.people:,} people, "
        f"outcomes in {report.outcomes}; groups under {figures.min_group} people suppressed "
        f"({figures.suppressed})"
    )
    table = titled_table("by group (impact: lowest ratio over the cut-offs)")
    for column in ("attribute", "group", "people", "AUC", "bad", "predicted", "impact"):
        table.add_column(column, justify="left" if column in ("attribute", "group") else "right")
    for g in figures.groups:
        if g.suppressed:
            table.add_row(g.attribute, g.group, "suppressed", "", "", "", "")
            continue
        ratios = [a.impact_ratio for a in g.approvals if a.impact_ratio is not None]
        table.add_row(
            g.attribute,
            g.group,
            f"{g.people:,}",
            "-" if g.auc is None else f"{g.auc:.3f}",
            _share(g.observed_bad_rate, 2),
            _share(g.predicted_bad_rate, 2),
            f"{min(ratios):.2f}" if ratios else "-",
        )
    console.print(table)
    cutoffs = ", ".join(f"{c.name} at {c.score}" for c in figures.cutoffs) or "none (no live offer)"
    console.print(f"cut-offs: {cutoffs}", highlight=False)
    for finding in figures.findings:
        console.print(f"[yellow]flagged:[/] {escape(finding)}", highlight=False, markup=True)
    if not figures.findings:
        console.print("no group flagged")
    console.print(f"report:\n  {paths[0]}\n  {paths[1]}", soft_wrap=True)


def fairness_command(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Model version (default: the champion).")
    ] = None,
    month: Annotated[
        str | None,
        typer.Option(help="Month to judge, YYYY-MM (default: the latest with known outcomes)."),
    ] = None,
    min_group: Annotated[
        int | None,
        typer.Option(help="Smallest group reported, smaller ones suppressed (default 50)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the report (default KAIMEN_HOME/model_cards)."),
    ] = None,
) -> None:
    """AUC, approval at each live offer and calibration by sex, age band and region, with the
    four-fifths rule; kaimen monitor adds the latest report to the model card."""
    from kaimen.scoring.fairness import fairness_path, fairness_report

    if month is not None:
        month = month_option(month, "--month")
    ws = session(ctx).workspace
    folder = out if out is not None else ws.model_cards_dir
    with spinner("judging fairness"):
        report = run(
            lambda: fairness_report(
                ws.engine,
                ws.backend(),
                ws.lake_root,
                ws.vault,
                OPERATOR.actor,
                model,
                month,
                min_group,
                folder,
            )
        )
    json_path = fairness_path(folder, report.model)
    print_fairness(report, (json_path, json_path.with_suffix(".md")))


def promote_command(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="The model version to score with from now on.")],
) -> None:
    """Make a registered model the champion that kaimen score uses (audit-logged)."""
    from kaimen.scoring.models import promote

    ws = session(ctx).workspace
    result = run(lambda: promote(ws.engine, version, OPERATOR.actor, lake_root=ws.lake_root))
    if not result.changed:
        console.print(f"{version} is already the champion: unchanged")
        return
    console.print(
        f"promoted {version} ({result.kind}) to champion, replacing {result.previous}; "
        "kaimen score uses it from now on"
    )


def models_command(ctx: typer.Context) -> None:
    """The model registry: every trained model, its out-of-time results, the champion."""
    from kaimen.scoring.models import list_models

    records = list_models(session(ctx).workspace.engine)
    if not records:
        console.print("no model yet: run kaimen train")
        return
    table = titled_table("models (* champion: kaimen score uses it)")
    for column in ("", "version", "kind", "as of", "trained", "AUC", "KS", "Gini"):
        table.add_column(column, justify="right" if column in ("AUC", "KS", "Gini") else "left")
    for record in records:
        oot = record.metrics.out_of_time
        table.add_row(
            "*" if record.champion else "",
            record.version,
            record.kind,
            record.as_of,
            record.trained_at.strftime("%Y-%m-%d %H:%M"),
            *(
                ("-", "-", "-")
                if oot is None
                else (f"{v:.3f}" for v in (oot.auc, oot.ks, oot.gini))
            ),
        )
    console.print(table)
