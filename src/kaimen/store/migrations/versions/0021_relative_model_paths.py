"""Model artifacts named relative to KAIMEN_HOME, so that a moved or copied home scores with
its own artifacts rather than the old home's.

Every artifact kaimen trains is written to `models/` in its home (`config.Settings`), so a
registered absolute path whose folder is named `models` becomes `models/<file>`; any other
path (an artifact registered from elsewhere) stays absolute. Downgrading cannot know where
the home was and leaves the paths relative: give it back with `kaimen train` if needed.

Revision ID: 0021
Revises: 0020
"""

from pathlib import PurePosixPath, PureWindowsPath

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

models = sa.table("models", sa.column("version", sa.String), sa.column("path", sa.String))
HOME_FOLDER = "models"


def _relative(path: str) -> str | None:
    """The path relative to the home, for an artifact in a home's `models/`; else None."""
    for flavour in (PurePosixPath, PureWindowsPath):
        pure = flavour(path)
        if pure.is_absolute() and pure.parent.name == HOME_FOLDER:
            return f"{HOME_FOLDER}/{pure.name}"
    return None


def upgrade() -> None:
    connection = op.get_bind()
    for version, path in connection.execute(sa.select(models.c.version, models.c.path)).all():
        relative = _relative(path)
        if relative is not None:
            connection.execute(
                sa.update(models).where(models.c.version == version).values(path=relative)
            )


def downgrade() -> None:
    pass
