"""The spiral sandbox's report: the two runs side by side as a table (Markdown, JSON, CSV)
and a plot (PNG and SVG), written to one folder.

The files depend only on the report: no dates, no versions, no timings in them, so the same
seed gives byte-identical tables and a re-run leaves a committed copy unchanged.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from statistics import median

from kaimen.simulate.spiral import BEFORE, SpiralMonth, SpiralReport, SpiralRun

CITATION = (
    'Wei, Yildirim, Van den Bulte and Dellarocas (2016), "Credit scoring with social network '
    'data", *Marketing Science* 35(2), 234-258, doi:10.1287/mksc.2015.0949'
)
COLOURS = {"unbounded": "#c0392b", "bounded": "#1e8449"}  # the poor and excellent bands
STEM = "spiral"


@dataclass(frozen=True)
class SummaryLine:
    """One measure, as each run ends it."""

    measure: str
    unbounded: str
    bounded: str


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    csv: Path
    png: Path
    svg: Path


def _count(value: int) -> str:
    return f"{value:,}"


def _fall(run: SpiralRun, penalty: int) -> str:
    beyond = run.listed_fall - penalty
    return f"{run.listed_fall} (the penalty {penalty} {'+' if beyond >= 0 else '-'} {abs(beyond)})"


def _circle_change(run: SpiralRun) -> str:
    return f"{run.before.circle_mean_score:.1f} → {run.after.circle_mean_score:.1f}"


def summary(report: SpiralReport) -> list[SummaryLine]:
    """The table's lines: each measure before the listing and at the last month."""

    def line(measure: str, show: Callable[[SpiralRun], object]) -> SummaryLine:
        return SummaryLine(measure, str(show(report.unbounded)), str(show(report.bounded)))

    ties = report.ties
    last = report.settings.months - 1
    return [
        line(
            f"listed person's score, before → month {last}",
            lambda r: f"{r.before.listed_score} → {r.after.listed_score}",
        ),
        line("listed person's fall, points", lambda r: _fall(r, report.penalty)),
        line(
            "listed person's friends kept",
            lambda r: f"{r.after.listed_friends} of {r.before.listed_friends}",
        ),
        line("ties of listed people cut", lambda r: _count(r.after.listed_ties_cut)),
        line("their friends' mean score, before → after", _circle_change),
        line("largest fall among their friends, points", lambda r: r.after.circle_largest_fall),
        line(
            "ties cut, all",
            lambda r: (
                f"{_count(r.after.ties_cut)} of {_count(ties)} "
                f"({100 * r.after.ties_cut / ties:.1f}%)"
            ),
        ),
        line(
            "connected components",
            lambda r: f"{_count(r.before.components)} → {_count(r.after.components)}",
        ),
        line(
            "isolated people",
            lambda r: f"{_count(r.before.isolated)} → {_count(r.after.isolated)}",
        ),
        line(
            "largest component, people",
            lambda r: f"{_count(r.before.largest_component)} → {_count(r.after.largest_component)}",
        ),
        line("mean score", lambda r: f"{r.before.mean_score:.1f} → {r.after.mean_score:.1f}"),
        line("Gini of scores", lambda r: f"{r.before.gini:.4f} → {r.after.gini:.4f}"),
    ]


def _heading(report: SpiralReport) -> list[str]:
    s = report.settings
    bound = (
        f"kaimen's bound (profile `{report.profile}`: at most {report.cap} points, "
        "never negative, never across a band edge)"
        if report.connections_allowed
        else f"kaimen's bound (profile `{report.profile}`: connections off)"
    )
    return [
        "# Spiral sandbox",
        "",
        f"Seed {s.seed}; {report.people:,} people and {report.ties:,} friend ties (a small world "
        f"in which friends' model scores correlate {report.friend_score_correlation:.2f}); "
        f"{s.months} months. In month 0, {report.listed_people} "
        f"{'person is' if report.listed_people == 1 else 'people are'} court-listed "
        f"(profile `{report.profile}`: {report.penalty} points off); the sandbox follows "
        f"{report.listed_person} (model score {report.listed_model_score}, {report.circle} "
        "friends).",
        "",
        f"- **unbounded**: score = (1 - {s.share:g}) × own + {s.share:g} × friends' average "
        "of last month's published scores, both directions; no friends counts as 350.",
        f"- **bounded**: {bound}, from friends' last-month base scores.",
        f"- People drop a friend with chance 1 - exp(-gain / {s.tie_value:g}) a month, the gain "
        f"being the points dropping them would bring next month, after {CITATION}.",
        "",
    ]


def markdown(report: SpiralReport) -> str:
    """The side-by-side table with its heading, as Markdown."""
    lines = _heading(report)
    lines += [
        "| measure | unbounded coupling | kaimen's bound |",
        "|---|---:|---:|",
        *(f"| {x.measure} | {x.unbounded} | {x.bounded} |" for x in summary(report)),
        "",
        *_seeds_table(report),
        f"Month by month: `{STEM}.csv`; everything: `{STEM}.json`; plot: `{STEM}.png`, "
        f"`{STEM}.svg`.",
        "",
    ]
    return "\n".join(lines)


def _seeds_table(report: SpiralReport) -> list[str]:
    outcomes = report.seeds
    if len(outcomes) < 2:
        return []
    falls = sorted(o.unbounded_fall for o in outcomes)
    beyond = sum(1 for f in falls if f > report.penalty)
    lines = [
        f"## Across {len(outcomes)} seeds ({outcomes[0].seed} to {outcomes[-1].seed})",
        "",
        f"Each seed is a new world (people, friends, the listed person). The listed person "
        f"fell further than the penalty in {beyond} of {len(outcomes)} worlds under the "
        f"unbounded coupling (median fall {median(falls):g} points) and in "
        f"{sum(1 for o in outcomes if o.bounded_fall > report.penalty)} under the bound.",
        "",
        "| seed | friends | unbounded: fall | friends kept | ties cut | isolated "
        "| bound: fall | friends kept | ties cut | isolated |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.seed} | {o.circle} | {o.unbounded_fall} | {o.unbounded_friends_kept} "
            f"| {100 * o.unbounded_ties_cut / o.ties:.1f}% | {o.unbounded_isolated:,} "
            f"| {o.bounded_fall} | {o.bounded_friends_kept} "
            f"| {100 * o.bounded_ties_cut / o.ties:.1f}% | {o.bounded_isolated:,} |"
        )
    return [*lines, ""]


def _write_csv(report: SpiralReport, path: Path) -> None:
    names = [f.name for f in fields(SpiralMonth)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["coupling", *names])
        for run in report.runs:
            for month in run.months:
                row = asdict(month)
                writer.writerow([run.coupling, *(row[name] for name in names)])


def _plot(report: SpiralReport, png: Path, svg: Path) -> None:
    # Imported here: matplotlib costs a second that no other command should pay. The figure
    # is drawn on an Agg canvas of its own, never through pyplot's global state.
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels: list[tuple[str, str]] = [
        ("listed_score", "Listed person's score"),
        ("circle_mean_score", "Their friends' mean score"),
        ("listed_friends", "Listed person's friends left"),
        ("ties_cut", "Ties cut, all people"),
        ("isolated", "People with no friend left"),
        ("gini", "Gini of scores"),
    ]
    with mpl.rc_context({"svg.hashsalt": "kaimen-spiral", "font.size": 9}):
        figure = Figure(figsize=(12, 6.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(2, 3)
        for axis, (name, title) in zip(axes.flat, panels, strict=True):
            for run in report.runs:
                months = [m.month for m in run.months]
                values = [getattr(m, name) for m in run.months]
                label = "unbounded coupling" if run.coupling == "unbounded" else "kaimen's bound"
                axis.plot(
                    months,
                    values,
                    marker="o",
                    markersize=3,
                    color=COLOURS[run.coupling],
                    label=label,
                )
            if name == "listed_score":
                for run in report.runs:
                    axis.axhline(
                        run.before.listed_score - report.penalty,
                        linestyle=":",
                        linewidth=1,
                        color=COLOURS[run.coupling],
                    )
            axis.set_title(title)
            axis.set_xlabel("month (-1: before the listing)")
            axis.grid(alpha=0.3)
        axes.flat[0].legend(loc="upper right")
        s = report.settings
        figure.suptitle(
            f"Spiral sandbox: seed {s.seed}, {report.people:,} people, profile {report.profile} "
            f"(listing -{report.penalty}); unbounded share {s.share:g}, dotted: before − penalty"
        )
        figure.savefig(png, dpi=110, metadata={"Software": None})
        figure.savefig(svg, metadata={"Date": None, "Creator": None})


def write_report(report: SpiralReport, folder: Path) -> ReportFiles:
    """Write the table and the plot into `folder` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(*(folder / f"{STEM}.{ext}" for ext in ("md", "json", "csv", "png", "svg")))
    files.markdown.write_text(markdown(report), encoding="utf-8")
    document = {
        **asdict(report),
        "summary": [asdict(x) for x in summary(report)],
        "before_month": BEFORE,
        "citation": CITATION,
    }
    files.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    _write_csv(report, files.csv)
    _plot(report, files.png, files.svg)
    return files
