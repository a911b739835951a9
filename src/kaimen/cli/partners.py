"""Partners and their API keys, at the operator's hands."""

from __future__ import annotations

from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, errors, run, titled_table
from kaimen.domain.callers import SCOPES

# The partner service is imported inside each command: it brings SQLAlchemy, which
# `kaimen --help` and the other commands must not pay for.

partner_app = typer.Typer(help="Partners and their API keys.", no_args_is_help=True)


@partner_app.command("add")
def partner_add_command(
    ctx: typer.Context,
    partner_id: Annotated[str, typer.Argument(help="Id: lower-case letters, digits, hyphens.")],
    name: Annotated[str, typer.Option(help="The partner's name.")],
) -> None:
    """Register a partner."""
    from kaimen.sharing import partnering

    ws = session(ctx).workspace
    partner = run(lambda: partnering.add_partner(ws.engine, partner_id, name, OPERATOR.actor))
    console.print(f"partner {partner.partner_id} ({partner.name}) registered")


@partner_app.command("key")
def partner_key_command(
    ctx: typer.Context,
    partner_id: Annotated[str, typer.Argument(help="The partner's id.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"Repeat for each scope: {', '.join(SCOPES)}."),
    ],
) -> None:
    """Issue an API key; it is printed once and only its hash is kept."""
    from kaimen.sharing import partnering

    ws = session(ctx).workspace
    issued = run(lambda: partnering.issue_key(ws.engine, partner_id, scope, OPERATOR.actor))
    errors.print(
        f"key {issued.key.key_id} for {partner_id}, scopes {', '.join(issued.key.scopes)}:"
    )
    console.print(issued.secret, highlight=False)


@partner_app.command("revoke")
def partner_revoke_command(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (not the key).")],
) -> None:
    """Revoke an API key; the next request with it is refused."""
    from kaimen.sharing import partnering

    ws = session(ctx).workspace
    key = run(lambda: partnering.revoke_key(ws.engine, key_id, OPERATOR.actor))
    console.print(f"key {key.key_id} of {key.partner_id} revoked")


@partner_app.command("list")
def partner_list_command(ctx: typer.Context) -> None:
    """Partners and their keys (never the keys themselves)."""
    from kaimen.sharing import partnering

    table = titled_table("partners")
    for column in ("partner", "name", "key", "scopes", "state"):
        table.add_column(column)
    for entry in partnering.list_partners(session(ctx).workspace.engine):
        partner = entry.partner
        if not entry.keys:
            table.add_row(partner.partner_id, partner.name, "-", "-", "-")
        for key in entry.keys:
            state = "revoked" if key.revoked_at else "live"
            table.add_row(
                partner.partner_id, partner.name, key.key_id, ", ".join(key.scopes), state
            )
    console.print(table)


@partner_app.command("webhook")
def partner_webhook_command(
    ctx: typer.Context,
    partner_id: Annotated[str, typer.Argument(help="The partner's id, or 'court'.")],
    url: Annotated[str, typer.Argument(help="Where messages are POSTed (http or https).")],
) -> None:
    """Set a partner's webhook URL with a new signing secret, printed once."""
    from kaimen.dueprocess import webhooks

    ws = session(ctx).workspace
    made = run(lambda: webhooks.set_webhook(ws.engine, ws.vault, partner_id, url, OPERATOR.actor))
    errors.print(f"webhook of {made.recipient}: {made.url}; signing secret (shown once):")
    console.print(made.secret, highlight=False)
