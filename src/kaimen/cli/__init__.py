"""The `kaimen` command: one Typer app, its commands grouped by what they work on. Each
command parses its options, calls one service and prints the result."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable

import typer

from kaimen.cli import (
    connections,
    court,
    due_process,
    intake,
    models,
    operations,
    partners,
    payments,
    people,
    points,
    sandbox,
)
from kaimen.cli.session import close_sessions, session
from kaimen.cli.terminal import fail
from kaimen.domain.errors import KaimenError

HELP = (
    "kaimen (开门): credit and trust scoring that people can see, understand and contest.\n\n"
    "Data lives in KAIMEN_HOME (default ./.kaimen); KAIMEN_DATABASE_URL selects PostgreSQL."
)


def _typer() -> typer.Typer:
    return typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )


# sysexits.h's EX_SOFTWARE: not a refusal of the input (1, 2) but something kaimen did not
# expect.
UNEXPECTED_EXIT = 70


def _unexpected(error: Exception) -> str:
    """What a person at the terminal is told of an error no command expected: what it was, in
    a line, and how to see where (never the traceback itself, which can hold data)."""
    said = " ".join(str(error).split())
    if len(said) > 300:
        said = said[:300] + "..."
    return (
        f"kaimen stopped on an unexpected error: {type(error).__name__}"
        f"{': ' + said if said else ''}\n"
        "What the command had not committed was not stored. "
        "Run it again with KAIMEN_DEBUG=1 to see where it happened.\n"
    )


class _FromMain:
    """The root's object when `main` runs the app: its session also sets up logging."""


def root(ctx: typer.Context) -> None:
    """Resolve the settings once for the whole run."""
    from_main = isinstance(ctx.obj, _FromMain)
    settings = session(ctx).settings
    if from_main:
        from kaimen.telemetry.logs import configure_logging
        from kaimen.telemetry.steps import keep_last_runs_in

        configure_logging(settings.log_level or "WARNING", sys.stderr, settings.secret_values())
        keep_last_runs_in(settings.step_runs)


COMMANDS: dict[str, Callable[..., None]] = {
    "simulate": intake.simulate_command,
    "enrol": intake.enrol_command,
    "ingest": intake.ingest_command,
    "status": intake.status_command,
    "train": models.train_command,
    "score": models.score_command,
    "monitor": models.monitor_command,
    "fairness": models.fairness_command,
    "promote": models.promote_command,
    "models": models.models_command,
    "show": people.show_command,
    "whatif": people.whatif_command,
    "token": people.token_command,
    "serve": operations.serve_command,
    "demo": operations.demo_command,
    "sla": due_process.sla_command,
    "worker": due_process.worker_command,
}
GROUPS: dict[str, typer.Typer] = {
    "audit": operations.audit_app,
    "connections": connections.connections_app,
    "dispute": due_process.dispute_app,
    "courtlist": court.courtlist_app,
    "lake": intake.lake_app,
    "partner": partners.partner_app,
    "payments": payments.payments_app,
    "person": people.person_app,
    "points": points.points_app,
    "review": court.review_app,
    "sandbox": sandbox.sandbox_app,
}


def app_with(names: Iterable[str]) -> typer.Typer:
    """The root command with the named commands and groups under it."""
    made = _typer()
    made.callback()(root)
    for name in names:
        if name in COMMANDS:
            made.command(name)(COMMANDS[name])
        else:
            made.add_typer(GROUPS[name], name=name)
    return made


app = app_with([*COMMANDS, *GROUPS])


def app_for(args: list[str]) -> typer.Typer:
    """`app`, or, when the first argument names a command, a root holding only that one.

    Typer reads the signature and type hints of every command under the root on each start
    (a quarter of `import typer` again); a command line that names its command needs only
    that one's. It parses, helps and fails the same: anything else gets the whole `app`.
    """
    if args and (args[0] in COMMANDS or args[0] in GROUPS):
        return app_with([args[0]])
    return app


def main() -> None:
    # The settings are read (and logging set up) by the root command, once a command is
    # chosen: `kaimen --help` ends before that and so stays quick.
    try:
        app_for(sys.argv[1:])(obj=_FromMain())
    except KaimenError as error:
        # Refused outside a command's own `run`: its settings (a database URL, a secret key,
        # a profile), read when the command starts. A message, as any refusal.
        if os.environ.get("KAIMEN_DEBUG"):
            raise
        fail(str(error))
        sys.exit(1)
    except Exception as error:  # kaimen's own errors are messages already; this is the rest
        if os.environ.get("KAIMEN_DEBUG"):
            raise
        from kaimen.operations.readiness import store_unavailable

        if store_unavailable(error):
            # Expected while the database is down or its file cannot be opened: a refusal
            # naming it, as the API's 503, not a fault of kaimen's.
            fail(
                "the store cannot be reached (KAIMEN_DATABASE_URL, or the SQLite file in "
                f"KAIMEN_HOME): {type(error).__name__}; nothing was changed, try again "
                "when it is up"
            )
            sys.exit(1)
        sys.stderr.write(_unexpected(error))
        sys.exit(UNEXPECTED_EXIT)
    finally:
        close_sessions()
        # The interpreter's last collection walks every object the imports made (SQLAlchemy,
        # Pydantic, Arrow) only to free memory the process is about to give back: 0.3-0.5 s
        # measured after `kaimen enrol --file`, a tenth of the command. Frozen objects are
        # skipped; atexit handlers still run and streams are flushed, and what only a reference
        # cycle holds is left to the operating system, which closes its files and sockets
        # (every transaction has committed or rolled back by then).
        gc.freeze()
