"""What one run of the command resolves once: the settings, and the workspace they open."""

from __future__ import annotations

import functools

import typer

from kaimen.config import Settings, Workspace
from kaimen.domain.callers import Caller

# The operator at the command line acts as the admin, under this name in the logs.
OPERATOR = Caller.admin("cli")


class Session:
    """Settings read from the environment once; the store opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @functools.cached_property
    def workspace(self) -> Workspace:
        return self.settings.workspace()


def session(ctx: typer.Context) -> Session:
    """The run's session: made once, by the root command, and shared by its subcommands."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session(Settings())
    found: Session = root.obj
    return found
