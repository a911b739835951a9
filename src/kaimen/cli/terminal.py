"""How the command line talks: output, status lines, and refusals as a red line and an exit
status (the command line's rendering of kaimen's error tree)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected, KaimenError
from kaimen.domain.months import is_month

if TYPE_CHECKING:
    from rich.table import Table

# No emoji codes: kaimen writes none, a `:name:` in someone's data is printed as it is, and
# Rich's emoji table is its largest module (loaded on the first print otherwise).
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)
MAX_PRINTED_ERRORS = 200
T = TypeVar("T")


@contextmanager
def spinner(text: str) -> Iterator[Callable[[str], None]]:
    """A live status line; the yielded function updates what it says."""
    # Imported when a command shows progress, not before: `kaimen --help` never does.
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task(text, total=None)
        yield lambda message: progress.update(task, description=f"{text}: {message}")


def titled_table(title: str) -> Table:
    """An empty table under `title`, for the commands that print one."""
    # Imported here: Rich's tables cost a command that prints none (`kaimen show`) about as
    # much as reading the score.
    from rich.table import Table

    return Table(title=title)


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def month_option(value: str, flag: str) -> str:
    if not is_month(value):
        raise fail(f"{flag} must look like 2026-10, not {value!r}", 2)
    return value


def _write_report(path: Path, rejected: BatchRejected) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "reason"])
        writer.writerows((e.line, e.field, e.reason) for e in rejected.errors)


def run(action: Callable[[], T], report: Path | None = None) -> T:
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
        raise fail(f"{refused.reason}: {refused.message}") from refused
    except KaimenError as error:
        raise fail(str(error)) from error
