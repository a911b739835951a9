"""How the command line talks: output, status lines, and refusals as a red line and an exit
status (the command line's rendering of kaimen's error tree)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as escape  # data put into kaimen's own markup

from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected, KaimenError
from kaimen.domain.months import is_month
from kaimen.domain.text import excerpt

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

# No emoji codes: kaimen writes none, a `:name:` in someone's data is printed as it is, and
# Rich's emoji table is its largest module (loaded on the first print otherwise). No markup
# either, unless a print asks for it (`markup=True`, or a `styled` cell): text from data (a
# partner's name, an offer's, a refused value) is printed as it is, where `[/]` in it stopped
# the command and `[link=...]` was obeyed.
console = Console(emoji=False, markup=False)
errors = Console(stderr=True, emoji=False, markup=False)
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


def styled(markup: str) -> Text:
    """A table cell or line in kaimen's own markup (`[bold]total`), data escaped into it."""
    from rich.text import Text

    return Text.from_markup(markup)


# A run of characters without a space this long is no id, name or path kaimen prints: a
# refused value repeated by a message, which the terminal shows only the start of.
_LONGEST_WORD = 200
_WORD = re.compile(rf"\S{{{_LONGEST_WORD + 1},}}")


def terminal_safe(text: str) -> str:
    """`text` as the terminal may show it: control and invisible formatting characters as
    escapes (`\x1b`, `\u202e`: an escape sequence in a refused value cleared the screen
    and printed a fake result), and a run of over 200 characters without a space (a
    refused value repeated whole) cut to its first 40 and an ellipsis."""
    shown = "".join(_escaped(ch) for ch in text) if not text.isprintable() else text
    return _WORD.sub(lambda word: excerpt(word.group()), shown)


def _escaped(ch: str) -> str:
    if ch.isprintable() or ch in " \t\n":
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def fail(message: str, code: int = 1) -> typer.Exit:
    from rich.text import Text

    errors.print(Text.assemble(("error:", "bold red"), " ", terminal_safe(message)))
    return typer.Exit(code)


def month_option(value: str, flag: str) -> str:
    if not is_month(value):
        raise fail(f"{flag} must look like 2026-10, not {value!r}", 2)
    return value


def report_file(report: Path | None, reading: Path | None) -> Path | None:
    """`--report` checked before the file is read: a folder, a missing folder or the file
    being read itself (which the report overwrote) is refused with the command's usage
    status, before anything is done."""
    if report is None:
        return None
    if report.is_dir():
        raise fail(f"--report {terminal_safe(str(report))} is a folder, not a file", 2)
    if not report.parent.is_dir():
        raise fail(f"--report {terminal_safe(str(report))}: its folder does not exist", 2)
    if reading is not None and report.exists() and reading.exists() and report.samefile(reading):
        raise fail(
            f"--report {terminal_safe(str(report))} is the file being read: "
            "the report would overwrite it",
            2,
        )
    return report


def _write_report(path: Path, rejected: BatchRejected) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "reason"])
        writer.writerows(
            (e.line, _cell(terminal_safe(e.field)), _cell(terminal_safe(e.reason)))
            for e in rejected.errors
        )


def _cell(text: str) -> str:
    """A report cell a spreadsheet shows as text: one starting = + - @ would be run as a
    formula (a header `=HYPERLINK(...)` in a refused file became a link in its report)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def run(action: Callable[[], T], report: Path | None = None) -> T:
    """Run `action`, turning kaimen's errors into a message and a non-zero exit status."""
    try:
        return action()
    except BatchRejected as rejected:
        errors.print(
            f"[bold red]rejected:[/] {rejected.bad_lines} bad row(s); nothing was stored.",
            markup=True,
        )
        for error in rejected.errors[:MAX_PRINTED_ERRORS]:
            errors.print(f"  {terminal_safe(str(error))}", highlight=False)
        if report is not None:
            try:
                _write_report(report, rejected)
            except OSError as error:
                raise fail(
                    f"the report could not be written to {terminal_safe(str(report))}: "
                    f"{error.strerror or type(error).__name__}"
                ) from rejected
            errors.print(f"every problem is listed in {terminal_safe(str(report))}")
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
