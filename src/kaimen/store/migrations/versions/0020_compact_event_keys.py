"""A compact key index: each event's key as two integers instead of its text.

`event_keys` becomes (key_hash, key_check, content_hash): the key (source, event_id) as two
63-bit halves of the MD5 of `source \\x1f event_id`, the primary key being `key_hash`. Filling
it for a 5.5-million-event file took 18 s with the text key, most of an ingest's time over
the lake write. A key whose `key_hash` another key holds keeps its full key in the new table
`event_key_collisions`.

Every indexed key is converted here, in chunks, so nothing needs re-indexing afterwards
(`kaimen lake index-keys` still indexes a lake written before revision 0008). The hashes are
written out here rather than imported, so this revision keeps meaning what it meant.
Downgrading keeps only the inbox's keys: run `kaimen lake index-keys` after it.

Revision ID: 0020
Revises: 0019
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

CHUNK = 50_000
LOOKUP = 1_000

old_keys = sa.table(
    "event_keys_text",
    sa.column("source", sa.String),
    sa.column("event_id", sa.String),
    sa.column("content_hash", sa.BigInteger),
)
new_keys = sa.table(
    "event_keys",
    sa.column("key_hash", sa.BigInteger),
    sa.column("key_check", sa.BigInteger),
    sa.column("content_hash", sa.BigInteger),
)
collisions = sa.table(
    "event_key_collisions",
    sa.column("source", sa.String),
    sa.column("event_id", sa.String),
    sa.column("content_hash", sa.BigInteger),
)


def _halves(source: str, event_id: str) -> tuple[int, int]:
    digest = hashlib.md5(f"{source}\x1f{event_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "little") >> 1, int.from_bytes(digest[8:], "little") >> 1


def _create_compact() -> None:
    op.create_table(
        "event_keys",
        sa.Column("key_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key_check", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name="pk_event_keys"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "event_key_collisions",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("content_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_event_key_collisions"),
    )


def _convert(bind: sa.Connection, rows: list[tuple[str, str, int]]) -> None:
    """Index one chunk of old rows: each key in `event_keys` unless its key_hash is held."""
    hashed = [(s, e, h, *_halves(s, e)) for s, e, h in rows]
    wanted = sorted({key_hash for *_, key_hash, _ in hashed})
    held: set[int] = set()
    for start in range(0, len(wanted), LOOKUP):
        held.update(
            bind.execute(
                sa.select(new_keys.c.key_hash).where(
                    new_keys.c.key_hash.in_(wanted[start : start + LOOKUP])
                )
            ).scalars()
        )
    indexed, collided = [], []
    for source, event_id, content_hash, key_hash, key_check in hashed:
        if key_hash in held:
            collided.append({"source": source, "event_id": event_id, "content_hash": content_hash})
        else:
            held.add(key_hash)
            indexed.append(
                {"key_hash": key_hash, "key_check": key_check, "content_hash": content_hash}
            )
    if indexed:
        bind.execute(new_keys.insert(), indexed)
    if collided:
        bind.execute(collisions.insert(), collided)


def upgrade() -> None:
    bind = op.get_bind()
    op.rename_table("event_keys", "event_keys_text")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER INDEX pk_event_keys RENAME TO pk_event_keys_text")
    _create_compact()
    last: tuple[str, str] = ("", "")
    while True:  # in key order, a chunk at a time: the index may hold billions of rows
        rows = bind.execute(
            sa.select(old_keys.c.source, old_keys.c.event_id, old_keys.c.content_hash)
            .where(sa.tuple_(old_keys.c.source, old_keys.c.event_id) > sa.tuple_(*last))
            .order_by(old_keys.c.source, old_keys.c.event_id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        _convert(bind, [(str(s), str(e), int(h)) for s, e, h in rows])
        last = (rows[-1][0], rows[-1][1])
    op.drop_table("event_keys_text")


def downgrade() -> None:
    op.drop_table("event_key_collisions")
    op.drop_table("event_keys")
    op.create_table(
        "event_keys",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("content_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_event_keys"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO event_keys (source, event_id, content_hash) "
        "SELECT source, event_id, content_hash FROM event_inbox"
    )
