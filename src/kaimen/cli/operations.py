"""Running kaimen: verify the audit log, serve the API, and the demo end to end."""

from __future__ import annotations

import datetime as dt
import gc
import sys
from typing import Annotated

import typer

from kaimen import __version__
from kaimen.cli.intake import enrol_command, ingest_command, simulate_command
from kaimen.cli.models import score_command, train_command
from kaimen.cli.session import session
from kaimen.cli.terminal import console, run, spinner

# Services are imported inside the commands that call them: each pulls in engines and model
# libraries (Ibis, DuckDB, pandas, LightGBM, scikit-learn) that `kaimen --help` and the other
# commands must not pay for.

audit_app = typer.Typer(help="Inspect the tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify_command(ctx: typer.Context) -> None:
    """Check the audit log's hash chain; names the first bad row if any."""
    from kaimen.operations.status import verify_audit

    ws = session(ctx).workspace
    with spinner("verifying the audit log"):
        rows = run(lambda: verify_audit(ws.engine))
    console.print(f"audit log verified: {rows:,} rows, chain intact")


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from kaimen.api.app import create_app
    from kaimen.telemetry.logs import configure_logging

    settings = session(ctx).settings
    configure_logging(settings.log_level or "INFO", sys.stderr, settings.secret_values())
    api = create_app(settings)
    token_note = (
        "from KAIMEN_ADMIN_TOKEN" if settings.admin_token else f"in {settings.home / 'admin.token'}"
    )
    console.print(
        f"kaimen {__version__} on http://{host}:{port}/ (the web app; the API's docs at /docs; "
        f"admin token {token_note})"
    )
    # What is loaded by now lives as long as the process: out of the collector's sight, a
    # full collection no longer walks the half a million objects of the libraries and the app
    # (a third of a second each, every few thousand requests, measured under load).
    gc.collect()
    gc.freeze()
    # Uvicorn's own lines go through kaimen's JSON handler; its access log would repeat ours.
    uvicorn.run(api, host=host, port=port, log_config=None, access_log=False)


def demo_command(
    ctx: typer.Context,
    people_count: Annotated[
        int, typer.Option("--people", min=100, help="Population size.")
    ] = 20_000,
    months: Annotated[int, typer.Option(min=18, max=120, help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
    serve: Annotated[bool, typer.Option(help="Serve the API afterwards.")] = True,
) -> None:
    """Simulate, enrol, ingest, train, score, print the results, then serve the API."""
    from kaimen.operations.status import verify_audit
    from kaimen.simulate.run import last_full_month

    home = session(ctx).settings.home
    last = last_full_month(dt.date.today())
    out = home / f"demo-{seed}-{people_count}-{months}-{last}"
    simulate_command(people_count, months, seed, out, last, "parquet")
    enrol_command(ctx, None, None, None, out / "people.csv", None)
    ingest_command(ctx, out / "events.parquet", None)
    train_command(ctx, last)
    previous = (dt.date.fromisoformat(last + "-01") - dt.timedelta(days=1)).strftime("%Y-%m")
    score_command(ctx, previous)
    score_command(ctx, last)
    console.print(f"audit log verified: {verify_audit(session(ctx).workspace.engine):,} rows")
    person_id = f"S{seed % 10_000:04d}-00000001"
    console.print(f"try: kaimen show {person_id}")
    from kaimen.sharing.signing_in import issue_sign_in_code

    issued = run(lambda: issue_sign_in_code(session(ctx).workspace.engine, person_id, "cli"))
    console.print(
        f"the web app, as {person_id} (single use, ten minutes): "
        f"http://127.0.0.1:8000/sign-in?code={issued.code}",
        highlight=False,
        soft_wrap=True,
    )
    if serve:
        serve_command(ctx, "127.0.0.1", 8000)
