"""What the store and the lake hold, for the operator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kaimen.domain.errors import NotFound, Rejected
from kaimen.engines.embedded import session
from kaimen.lake import reader
from kaimen.store import audit, audit_head, lake_manifest, people


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
    connection = session()
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


@dataclass(frozen=True)
class HeadsVerified:
    rows: int
    heads: int
    reach: int  # the furthest row a signed head names (0 with no heads)


def verify_audit_heads(
    engine: Engine, head_file: Path, own: audit_head.HeadFile | None, public_key: str | None = None
) -> HeadsVerified:
    """Check the chain and that it still holds every signed head in `head_file`, each
    checked against `public_key` (as published), else against this home's own key."""
    if public_key is not None:
        try:
            key = audit_head.load_public_key(public_key)
        except ValueError as error:
            raise Rejected(f"--public-key: {error}") from None
    elif own is not None:
        key = own.public_key
    else:
        raise Rejected("no public key to check the heads with: give --public-key")
    try:
        lines = list(audit_head.read_heads(head_file, key))
    except FileNotFoundError:
        raise Rejected(f"no head file at {head_file}") from None
    except IsADirectoryError:
        raise Rejected(f"{head_file} is a folder, not a head file") from None
    rows = audit.verify(engine, heads=lines)
    return HeadsVerified(rows, len(lines), max((line.head.seq for line in lines), default=0))


@dataclass(frozen=True)
class PublishedHead:
    """The newest signed head, and what a witness needs to check it."""

    seq: int
    row_hash: str
    signed_at: dt.datetime
    signature: str
    public_key: str
    signed_message: str


def newest_audit_head(heads: audit_head.HeadFile | None) -> PublishedHead:
    """The furthest-reaching signed head written so far; NotFound before the first."""
    newest = audit_head.newest(heads.path, heads.public_key) if heads else None
    if heads is None or newest is None:
        raise NotFound("no audit head has been signed yet")
    return PublishedHead(
        seq=newest.seq,
        row_hash=newest.row_hash,
        signed_at=newest.signed_at,
        signature=newest.signature,
        public_key=heads.public_key_text,
        signed_message=newest.message().decode(),
    )
