"""`kaimen connections`: a person's connections at the operator's hands (the admin acting for
them): show them, opt in or out, lend or withdraw. Under a profile that switches the
dimension off (`eu`) each command refuses with the profile's reason and exit status 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from kaimen.cli.session import OPERATOR, session
from kaimen.cli.terminal import console, run

# Services are imported inside each command: they bring SQLAlchemy and the engines, which
# `kaimen --help` must not pay for.

connections_app = typer.Typer(
    help="Friends' bounded influence: a person's choices, and what their friends add.",
    no_args_is_help=True,
)
PersonId = Annotated[str, typer.Argument(help="The person the admin acts for.")]


def _command(name: str) -> Callable[[typer.Context, str], None]:
    """The command for one change (the four differ only in the change)."""

    def command(ctx: typer.Context, person_id: PersonId) -> None:
        from kaimen.connections import choosing

        ws = session(ctx).workspace
        wanted = choosing.CHANGES[name]
        made = run(
            lambda: choosing.change(
                ws.engine, ws.profile(), OPERATOR, person_id, wanted, ws.lake_root
            )
        )
        c = made.choices
        console.print(
            f"{person_id}: friends count for them: {'yes' if c.counts_friends else 'no'}; "
            f"their score counts for friends: {'yes' if c.lends_score else 'no'}"
        )
        for r in made.revisions:
            console.print(
                f"  re-scored {r.person_id} ({r.month}): {r.score_before} -> {r.score_after}"
            )

    return command


# The changes' names and help, here so that `kaimen --help` need not import the service.
for _name, _does in (
    ("opt-in", "Let the person's consenting friends count in their score, within the cap."),
    ("opt-out", "Stop the person's friends counting in their score."),
    ("lend", "Let the person's score count for their friends who opted in."),
    ("withdraw", "Stop the person's score counting for their friends."),
):
    connections_app.command(_name, help=_does)(_command(_name))


@connections_app.command("show")
def show_command(ctx: typer.Context, person_id: PersonId) -> None:
    """The person's choices, the cap, which friends count and what they add."""
    from kaimen.connections import reading

    ws = session(ctx).workspace
    read = run(
        lambda: reading.my_connections(ws.engine, ws.lake_root, ws.profile(), OPERATOR, person_id)
    )
    c = read.choices
    console.print(
        f"{person_id} ({read.profile}): friends count for them: "
        f"{'yes' if c.counts_friends else 'no'}; their score counts for friends: "
        f"{'yes' if c.lends_score else 'no'}"
    )
    direction = "never lower" if read.positive_only else "raise or lower"
    console.print(
        f"  friends add at most {read.cap} points ({read.per_friend} per friend at 950, "
        f"nothing at or below {read.pivot}); they {direction} a score, and never across a band"
    )
    if read.month is not None:
        added = "nothing recorded" if read.published_points is None else read.published_points
        console.print(f"  {read.month}: friends added {added}")
    for friend in read.counting:
        console.print(f"  - {friend.friend_id} adds {friend.adds}")
    console.print(f"  {read.not_counting} friend(s) lend no score")
    if read.points_now is not None:
        console.print(f"  re-scored now, friends would add {read.points_now}")
