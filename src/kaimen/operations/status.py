"""What the store and the lake hold, for the operator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kaimen.engines.embedded import connect
from kaimen.lake import reader
from kaimen.store import audit, lake_manifest, people


@dataclass(frozen=True)
class KindCount:
    kind: str
    events: int
    first_month: str
    last_month: str


@dataclass(frozen=True)
class HouseStatus:
    kinds: tuple[KindCount, ...]
    people_enrolled: int
    lake_files: int
    audit_rows: int

    @property
    def events(self) -> int:
        return sum(k.events for k in self.kinds)


def status(engine: Engine, lake_root: Path) -> HouseStatus:
    """Events in the lake by kind (deduplicated), people enrolled, lake files, audit rows."""
    with engine.connect() as store:
        files = lake_manifest.files(store)
    connection = connect()
    try:
        counts = reader.count_by_kind(connection, lake_root, files)
    finally:
        connection.close()
    return HouseStatus(
        kinds=tuple(KindCount(*row) for row in counts),
        people_enrolled=people.count_active(engine),
        lake_files=len(files),
        audit_rows=audit.count(engine),
    )


def verify_audit(engine: Engine) -> int:
    """Check the audit log's hash chain; the number of rows, or AuditChainBroken naming the
    first bad row."""
    return audit.verify(engine)
