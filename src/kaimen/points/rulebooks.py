"""Loading a rulebook (a shipped name or a YAML file), validating it under the profile, and
putting it in force. A rulebook that fails is refused whole, with every problem named."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import Connection, Engine

from kaimen.domain import rulebook as rules
from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden, InputFileError, NotFound
from kaimen.domain.profiles import Profile
from kaimen.domain.rulebook import Problem, Rulebook, RulebookRefused
from kaimen.store import audit
from kaimen.store import points_ledger as ledger

SHIPPED = ("city_pilot", "lawful")
INSTALLED = "points.rulebook_installed"


class ProgrammeOff(Forbidden):
    """The profile forbids a points programme: nothing of it runs, and it says why."""

    problem = "points-programme-off"
    title = "Points programme off"


class NoRulebook(NotFound):
    """No rulebook is in force yet."""


@dataclass(frozen=True)
class LoadedRulebook:
    """A rulebook as read: its text, its id (the text's SHA-256) and what it says."""

    label: str
    text: str
    rulebook_id: str
    rulebook: Rulebook


def read(choice: str) -> tuple[str, str]:
    """(label, text) of a shipped rulebook's name or a YAML file's path."""
    if choice in SHIPPED:
        text = resources.files("kaimen.points").joinpath(f"rulebooks/{choice}.yaml")
        return f"rulebook {choice!r}", text.read_text(encoding="utf-8")
    path = Path(choice)
    if path.suffix not in (".yaml", ".yml"):
        raise InputFileError(
            f"a rulebook is one of {', '.join(SHIPPED)} or a .yaml file; got {choice!r}"
        )
    try:
        return f"rulebook file {path}", path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputFileError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{path} is not UTF-8 text") from None


def parsed(label: str, text: str) -> LoadedRulebook:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedRulebook(label, text, digest, rules.parse(text, label))


def check(choice: str, profile: Profile) -> LoadedRulebook:
    """The rulebook `choice` names, if it may run under `profile` (RulebookRefused if not)."""
    loaded = parsed(*read(choice))
    rules.check(loaded.rulebook, profile, loaded.label)
    return loaded


def problems_of(choice: str, profile: Profile) -> list[Problem]:
    """Every problem of the rulebook `choice` names under `profile` (none: it may run)."""
    try:
        loaded = parsed(*read(choice))
    except RulebookRefused as refused:
        return refused.problems
    return rules.problems(loaded.rulebook, profile)


def require_programme(profile: Profile) -> None:
    if not profile.points_programme.allowed:
        raise ProgrammeOff(
            f"{profile.title} allows no points programme: {profile.points_programme.off_because}"
        )


def install(
    engine: Engine, profile: Profile, caller: Caller, choice: str, now: dt.datetime | None = None
) -> LoadedRulebook:
    """Validate the rulebook and put it in force (the admin only), with an audit row."""
    if caller.kind != "admin":
        raise Forbidden("only the admin installs a rulebook")
    now = now or dt.datetime.now(dt.UTC)
    loaded = check(choice, profile)

    def work(store: Connection) -> LoadedRulebook:
        ledger.install(
            store,
            loaded.rulebook_id,
            loaded.rulebook.name,
            loaded.text,
            profile.name,
            caller.actor,
            now,
        )
        audit.append(
            store,
            caller.actor,
            INSTALLED,
            subject=loaded.rulebook.name,
            details={"rulebook_id": loaded.rulebook_id, "profile": profile.name},
            now=now,
        )
        return loaded

    return audit.audited_transaction(engine, work)


def in_force(store: Connection, profile: Profile) -> LoadedRulebook:
    """The rulebook in force, checked again under `profile` (a profile changed since it was
    installed may forbid it now); ProgrammeOff or NoRulebook when there is none to run."""
    require_programme(profile)
    row = ledger.in_force(store)
    if row is None:
        raise NoRulebook("no points rulebook is installed: `kaimen points install RULEBOOK`")
    loaded = parsed(f"installed rulebook {row.name!r}", row.text)
    rules.check(loaded.rulebook, profile, loaded.label)
    return loaded
