"""The `kaimen` command: one Typer app, its commands grouped by what they work on. Each
command parses its options, calls one service and prints the result."""

from __future__ import annotations

import sys

import typer

from kaimen.cli import intake, models, operations, partners, people
from kaimen.cli.session import session

app = typer.Typer(
    help="kaimen (开门): credit and trust scoring that people can see, understand and contest.\n\n"
    "Data lives in KAIMEN_HOME (default ./.kaimen); KAIMEN_DATABASE_URL selects PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


class _FromMain:
    """The root's object when `main` runs the app: its session also sets up logging."""


@app.callback()
def root(ctx: typer.Context) -> None:
    """Resolve the settings once for the whole run."""
    from_main = isinstance(ctx.obj, _FromMain)
    settings = session(ctx).settings
    if from_main:
        from kaimen.telemetry.logs import configure_logging
        from kaimen.telemetry.steps import keep_last_runs_in

        configure_logging(settings.log_level or "WARNING", sys.stderr, settings.secret_values())
        keep_last_runs_in(settings.step_runs)


for name, command in (
    ("simulate", intake.simulate_command),
    ("enrol", intake.enrol_command),
    ("ingest", intake.ingest_command),
    ("status", intake.status_command),
    ("train", models.train_command),
    ("score", models.score_command),
    ("monitor", models.monitor_command),
    ("promote", models.promote_command),
    ("models", models.models_command),
    ("show", people.show_command),
    ("whatif", people.whatif_command),
    ("token", people.token_command),
    ("serve", operations.serve_command),
    ("demo", operations.demo_command),
):
    app.command(name)(command)
app.add_typer(operations.audit_app, name="audit")
app.add_typer(intake.lake_app, name="lake")
app.add_typer(partners.partner_app, name="partner")
app.add_typer(people.person_app, name="person")


def main() -> None:
    # The settings are read (and logging set up) by the root command, once a command is
    # chosen: `kaimen --help` ends before that and so stays quick.
    app(obj=_FromMain())
