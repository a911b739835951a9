"""Which schema revision this kaimen expects, read without Alembic or SQLAlchemy."""

from __future__ import annotations

from importlib import resources


def newest_revision() -> str:
    """The newest migration's revision, read from the file names: each migration file is
    named after its revision (`0007_...py` holds revision "0007")."""
    versions = resources.files("kaimen.store") / "migrations" / "versions"
    return max(
        entry.name.split("_", 1)[0] for entry in versions.iterdir() if entry.name[0].isdigit()
    )
