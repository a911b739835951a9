"""Running kaimen: verify the audit log, serve the API, and the demo end to end."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import itertools
import sys
from pathlib import Path
from typing import Annotated

import typer

from kaimen import __version__
from kaimen.cli.intake import enrol_command, ingest_command, simulate_command
from kaimen.cli.models import monitor_command, score_command, train_command
from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, run, spinner

# Services are imported inside the commands that call them: each pulls in engines and model
# libraries (Ibis, DuckDB, pandas, LightGBM, scikit-learn) that `kaimen --help` and the other
# commands must not pay for.

audit_app = typer.Typer(help="Inspect the tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify_command(
    ctx: typer.Context,
    head: Annotated[
        Path | None,
        typer.Option(
            "--head",
            help="A file of signed heads (by default KAIMEN_AUDIT_HEAD_FILE's, when it "
            "exists): the chain must still hold every one, which catches deleted newest rows.",
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            help="The published public key to check the heads with (base64), rather than "
            "this home's own.",
        ),
    ] = None,
) -> None:
    """Check the audit log's hash chain and its signed heads (this home's head file, or
    --head); names the first bad row if any."""
    from kaimen.operations.status import verify_audit, verify_audit_heads

    ws = session(ctx).workspace
    # The home's own heads by default: without them a store restored from an older copy, or
    # with its newest rows deleted, verified as intact.
    if head is None and ws.audit_heads is not None and ws.audit_heads.path.is_file():
        head = ws.audit_heads.path
    if head is None:
        with spinner("verifying the audit log"):
            rows = run(lambda: verify_audit(ws.engine))
        console.print(f"audit log verified: {rows:,} rows, chain intact")
        return
    with spinner("verifying the audit log and its signed heads"):
        verified = run(lambda: verify_audit_heads(ws.engine, head, ws.audit_heads, public_key))
    console.print(
        f"audit log verified: {verified.rows:,} rows, chain intact; it holds all "
        f"{verified.heads:,} signed heads in {head} (the furthest at row {verified.reach:,})",
        highlight=False,
    )


@audit_app.command("head")
def audit_head_command(ctx: typer.Context) -> None:
    """Show the newest signed head of the audit chain and the public key that checks it."""
    from kaimen.operations.status import newest_audit_head

    published = run(lambda: newest_audit_head(session(ctx).workspace.audit_heads))
    console.print(
        f"row {published.seq:,}, hash {published.row_hash}, signed "
        f"{published.signed_at:%Y-%m-%d %H:%M:%S} UTC\nsignature (Ed25519): "
        f"{published.signature}\npublic key: {published.public_key}",
        highlight=False,
    )


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
    # The store is closed here rather than by the app's lifespan, which uvicorn skips when a
    # second Ctrl-C cuts the shutdown short: the lifespan's task was then cancelled as the
    # loop closed, and its traceback logged as an error.
    config = uvicorn.Config(
        api, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn raises the interrupt again once it has stopped
        pass
    finally:
        api.state.workspace.engine.dispose()


DEMO_PARTNER, DEMO_PARTNER_NAME = "demo-shop", "Demo Shop"


def _demo_partner(ctx: typer.Context) -> str:
    """The demo's partner, with an offer, and a new API key for signing in (returned)."""
    from kaimen.domain.callers import SCOPES
    from kaimen.sharing import offering, partnering

    engine = session(ctx).workspace.engine
    if DEMO_PARTNER not in {p.partner.partner_id for p in partnering.list_partners(engine)}:
        run(lambda: partnering.add_partner(engine, DEMO_PARTNER, DEMO_PARTNER_NAME, OPERATOR.actor))
    if not any(o.withdrawn_at is None for o in offering.offers_of(engine, DEMO_PARTNER)):
        terms = offering.OfferTerms("Everyday credit card", "credit card", 650, "good")
        run(lambda: offering.publish_offer(engine, DEMO_PARTNER, terms, OPERATOR.actor))
    issued = run(lambda: partnering.issue_key(engine, DEMO_PARTNER, list(SCOPES), OPERATOR.actor))
    return issued.secret


DEMO_COURT, DEMO_ACCOUNT = "北京市东城区人民法院", "6222021001123456789"


def _demo_enrol(ctx: typer.Context, people_file: Path) -> list[dict[str, str]]:
    """Enrol everyone in the simulated `people_file`, then delete it; returns the few people
    the demo's court list names. The file holds every phone and ID number in clear, and
    once the store holds them (encrypted) it must not stay in KAIMEN_HOME, even when
    enrolment fails."""
    try:
        with people_file.open(encoding="utf-8", newline="") as handle:
            listed = list(itertools.islice(csv.DictReader(handle), 2, 7))
        enrol_command(ctx, None, None, None, people_file, None)
    finally:
        people_file.unlink(missing_ok=True)
    return listed


def _demo_court_list(ctx: typer.Context, out: Path, people: list[dict[str, str]]) -> None:
    """A few court listings of the demo's people and two payments, so that the admin's
    queues and clocks have something in them; imported as `kaimen courtlist import` and
    `kaimen payments import` would (the same files again change nothing). Both files name
    people by ID number, so each is deleted once imported."""
    listings, paid = out / "court-list.csv", out / "payments.csv"
    try:
        _import_demo_files(ctx, listings, paid, people)
    finally:
        listings.unlink(missing_ok=True)
        paid.unlink(missing_ok=True)


def _import_demo_files(
    ctx: typer.Context, listings: Path, paid: Path, people: list[dict[str, str]]
) -> None:
    from kaimen.cli import court, payments

    with listings.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "id_number", "case_number", "court", "amount", "judgment_date"])
        for i, person in enumerate(people):
            number = person["national_id"]
            # The first with the full ID number (linked at once); the others masked, as courts
            # publish them, and matched by name and the visible digits: the last two with a
            # mistyped digit, so that matching is unsure and queues them for review.
            tail = (
                number[14:] if i < 3 else number[14] + str((int(number[15]) + 3) % 10) + number[16:]
            )
            shown = number if i == 0 else number[:6] + "********" + tail
            case = f"(2025)京0101执{901 + i}号"
            writer.writerow(
                [person["name"], shown, case, DEMO_COURT, f"{3000 + 1000 * i}.00", "2025-06-01"]
            )
    court.import_command(ctx, listings, None)
    payments.account_command(ctx, DEMO_COURT, DEMO_ACCOUNT)
    with paid.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["transaction_id", "payer_name", "payer_id_number", "amount", "currency", "paid_on",
             "destination_account", "reference"]
        )  # fmt: skip
        first = people[0]
        # Paid without the case number: it waits for a person's review.
        writer.writerow(["DEMO-1", first["name"], first["national_id"], "3000.00", "CNY",
                         "2025-07-01", DEMO_ACCOUNT, "court fine"])  # fmt: skip
        # Into no court's account: unmatched, kept for review.
        writer.writerow(["DEMO-2", "", "", "12.00", "CNY", "2025-07-02", "999", "a gift"])
    payments.import_command(ctx, paid, None)


def demo_command(
    ctx: typer.Context,
    people_count: Annotated[
        int, typer.Option("--people", min=100, help="Population size.")
    ] = 20_000,
    months: Annotated[int, typer.Option(min=18, max=120, help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
    serve: Annotated[bool, typer.Option(help="Serve the web app and the API afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
) -> None:
    """Simulate, enrol, ingest, train, score and monitor; add a partner with an offer; print
    how a person, the partner and the admin sign in to the web app; then serve it."""
    from kaimen.operations.status import verify_audit
    from kaimen.simulate.run import last_full_month

    settings = session(ctx).settings
    home = settings.home
    last = last_full_month(dt.date.today())
    out = home / f"demo-{seed}-{people_count}-{months}-{last}"
    simulate_command(people_count, months, seed, out, last, "parquet")
    named_in_court = _demo_enrol(ctx, out / "people.csv")
    ingest_command(ctx, out / "events.parquet", None)
    train_command(ctx, last)
    previous = (dt.date.fromisoformat(last + "-01") - dt.timedelta(days=1)).strftime("%Y-%m")
    score_command(ctx, previous)
    score_command(ctx, last)
    monitor_command(ctx, last)
    console.print(f"audit log verified: {verify_audit(session(ctx).workspace.engine):,} rows")
    key = _demo_partner(ctx)
    _demo_court_list(ctx, out, named_in_court)
    person_id = f"S{seed % 10_000:04d}-00000001"
    from kaimen.sharing.signing_in import issue_sign_in_code

    issued = run(lambda: issue_sign_in_code(session(ctx).workspace.engine, person_id, "cli"))
    site = f"http://{host}:{port}"
    token_at = (
        "the KAIMEN_ADMIN_TOKEN you set"
        if settings.admin_token
        else f"the contents of {home / 'admin.token'}"
    )
    lines = [
        f"the web app: {site}/",
        f"  a person ({person_id}; single use, ten minutes): {site}/sign-in?code={issued.code}",
        f"    (a new link: kaimen person sign-in-code {person_id})",
        f"  a partner ({DEMO_PARTNER}, one offer): at {site}/sign-in, paste the API key {key}",
        f"  the admin (model card, spiral sandbox, review queues, clocks): at {site}/sign-in, "
        f"paste {token_at}",
        f"try also: kaimen show {person_id}; the API's docs at {site}/docs",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    if serve:
        serve_command(ctx, host, port)
