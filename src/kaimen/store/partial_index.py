"""A unique index over only the rows that satisfy a predicate, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Index, text
from sqlalchemy.util import PopulateDict, memoized_property

# The dialects that read a `where` option and build a partial index from it.
PARTIAL_DIALECTS = ("sqlite", "postgresql")


class PartialUniqueIndex(Index):
    """`Index(name, *columns, unique=True, sqlite_where=..., postgresql_where=...)`, except
    that each dialect is given its `where` when it first reads the index's options.

    Naming `postgresql_where` in the constructor makes SQLAlchemy import its PostgreSQL
    dialect, with every driver of it, only to check the keyword: on SQLite that was the
    largest part of `kaimen show`'s start-up. A dialect reads its options once it is in
    use, when importing it costs nothing more.
    """

    def __init__(self, name: str, columns: str | Sequence[str], predicate: str) -> None:
        self.predicate = predicate
        super().__init__(name, *([columns] if isinstance(columns, str) else columns), unique=True)

    @memoized_property
    def dialect_options(self) -> PopulateDict[str, Any]:
        def options(dialect_name: str) -> Any:
            found = Index._kw_reg_for_dialect_cls(dialect_name)
            if dialect_name in PARTIAL_DIALECTS:
                found["where"] = text(self.predicate)
            return found

        return PopulateDict(options)
