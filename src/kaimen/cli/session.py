"""What one run of the command resolves once: the settings, and the workspace they open."""

from __future__ import annotations

import functools
import weakref
from typing import TYPE_CHECKING

import typer

from kaimen.cli.terminal import fail
from kaimen.domain.callers import Caller

if TYPE_CHECKING:
    from kaimen.config import Settings, Workspace

# The operator at the command line acts as the admin, under this name in the logs.
OPERATOR = Caller.admin("cli")


class Session:
    """Settings read from the environment once; the store opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        _SESSIONS.add(self)

    @functools.cached_property
    def workspace(self) -> Workspace:
        return self.settings.workspace()

    def close(self) -> None:
        """Close the store's connections, if the store was opened."""
        opened: Workspace | None = self.__dict__.get("workspace")
        if opened is not None:
            opened.engine.dispose()


# Every session of this process (weakly: a test's runs come and go).
_SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()


def close_sessions() -> None:
    """Close every session's store: what a command does as it ends.

    SQLite deletes its write-ahead log when its last connection closes, once the log is
    copied into the database file (the commits' own checkpoints have done that). A process
    that ends without closing leaves the log behind, and the next one to open the store
    reads all of it again to rebuild its index, then, no longer knowing what was copied,
    copies it all again at its first commit: after an ingest of a month's events, a log of
    700 MB, 0.7 s of the next command's time (measured at a million people)."""
    for opened in list(_SESSIONS):
        opened.close()


def session(ctx: typer.Context) -> Session:
    """The run's session: made once, by the root command, and shared by its subcommands."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        # Imported here, when a command runs: Pydantic settings cost more than all of
        # `kaimen --help`, which never gets this far.
        from pydantic import ValidationError

        from kaimen.config import Settings

        try:
            root.obj = Session(Settings())
        except ValidationError as invalid:
            # Which setting and why, never the value (it may be a secret).
            problems = "; ".join(
                f"KAIMEN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                for e in invalid.errors()
            )
            raise fail(f"settings refused: {problems}", 2) from None
    found: Session = root.obj
    return found
