"""A key index of every event held, and an inbox of typed rows.

`event_keys` holds (source, event_id, 63-bit content hash) of every event in the lake or
the inbox, so that checking a batch for duplicates and conflicts looks up the batch's keys
instead of reading the whole lake. `event_inbox` keeps each event in the lake's own types
(as it was judged on receipt) instead of the submitted text as JSON, so sealing copies it
without judging it again; its content hash becomes the same 63-bit number as the index's.

Existing inbox rows are converted here and their keys indexed. Keys of events already in
lake files written before this revision are not: the migration cannot read the lake (its
root is configuration, not the store): `kaimen.ingest.key_index.catch_up` indexes them, to
be run once after upgrading a store that already had a lake.

Revision ID: 0008
Revises: 0007
"""

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TEXT_COLUMNS = (
    "kind",
    "currency",
    "merchant_category",
    "status",
    "partner",
    "item",
    "deposit",
    "outcome",
    "attribute",
    "value",
    "friend_id",
    "action",
    "case_number",
    "court",
)
REQUIRED = ("kind", "occurred_at", "recorded_at", "schema_version")


def short_hash(md5_hex: str) -> int:
    """The first 63 bits of an MD5 digest, as the ingest computes them in DuckDB."""
    return int(md5_hex[:16], 16) >> 1


def _timestamp(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    return value.astimezone(dt.UTC)


def _typed(fields: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {name: fields.get(name) for name in TEXT_COLUMNS}
    row["occurred_at"] = _timestamp(fields["occurred_at"])
    row["recorded_at"] = _timestamp(fields["recorded_at"])
    row["schema_version"] = int(fields.get("schema_version") or 1)
    row["amount"] = Decimal(fields["amount"]) if fields.get("amount") else None
    for name in ("due_date", "paid_date"):
        row[name] = dt.date.fromisoformat(fields[name]) if fields.get(name) else None
    return row


def upgrade() -> None:
    op.add_column("event_inbox", sa.Column("kind", sa.String(32), nullable=True))
    op.add_column("event_inbox", sa.Column("occurred_at", UTCDateTime(), nullable=True))
    op.add_column("event_inbox", sa.Column("recorded_at", UTCDateTime(), nullable=True))
    op.add_column("event_inbox", sa.Column("schema_version", sa.SmallInteger(), nullable=True))
    op.add_column("event_inbox", sa.Column("amount", sa.Numeric(18, 2), nullable=True))
    op.add_column("event_inbox", sa.Column("due_date", sa.Date(), nullable=True))
    op.add_column("event_inbox", sa.Column("paid_date", sa.Date(), nullable=True))
    for name in TEXT_COLUMNS[1:]:
        kind = sa.String(3) if name == "currency" else sa.Text()
        op.add_column("event_inbox", sa.Column(name, kind, nullable=True))
    op.add_column("event_inbox", sa.Column("content_key", sa.BigInteger(), nullable=True))

    bind = op.get_bind()
    inbox = sa.table(
        "event_inbox",
        sa.column("inbox_id", sa.Integer()),
        sa.column("fields", sa.Text()),
        sa.column("content_hash", sa.String()),
        sa.column("content_key", sa.BigInteger()),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("recorded_at", UTCDateTime()),
        sa.column("schema_version", sa.SmallInteger()),
        sa.column("amount", sa.Numeric(18, 2)),
        sa.column("due_date", sa.Date()),
        sa.column("paid_date", sa.Date()),
        *(sa.column(name, sa.Text()) for name in TEXT_COLUMNS),
    )
    # Once, over an inbox that holds what waits to be sealed (and the sealed record): a
    # row-by-row conversion is fine here and keeps the parsing readable.
    rows = bind.execute(sa.select(inbox.c.inbox_id, inbox.c.fields, inbox.c.content_hash)).all()
    for inbox_id, fields, content_hash in rows:
        values = _typed(json.loads(fields)) | {"content_key": short_hash(content_hash)}
        bind.execute(sa.update(inbox).where(inbox.c.inbox_id == inbox_id).values(**values))

    with op.batch_alter_table("event_inbox") as batch:
        batch.drop_column("fields")
        batch.drop_column("content_hash")
        batch.alter_column(
            "content_key",
            new_column_name="content_hash",
            existing_type=sa.BigInteger(),
            nullable=False,
        )
        for name in REQUIRED:
            batch.alter_column(name, nullable=False, existing_type=None)

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


def downgrade() -> None:
    op.drop_table("event_keys")
    op.add_column("event_inbox", sa.Column("fields", sa.Text(), nullable=True))
    op.add_column("event_inbox", sa.Column("content_text", sa.String(32), nullable=True))
    bind = op.get_bind()
    base = ("source", "event_id", "person_id", *REQUIRED, "amount", "due_date", "paid_date")
    names = base + tuple(n for n in TEXT_COLUMNS if n not in base)
    inbox = sa.table(
        "event_inbox",
        sa.column("inbox_id", sa.Integer()),
        sa.column("fields", sa.Text()),
        sa.column("content_hash", sa.BigInteger()),
        sa.column("content_text", sa.String()),
        *(sa.column(n) for n in names),
    )
    for row in bind.execute(sa.select(inbox)).mappings().all():
        fields = {n: row[n] for n in names if row[n] is not None}
        for name in ("occurred_at", "recorded_at", "due_date", "paid_date"):
            if name in fields:
                fields[name] = fields[name].isoformat()
        fields = {k: str(v) for k, v in fields.items()}
        # The old text hash cannot be recovered from 63 bits: a stand-in of the right width.
        # Until it is sealed, a resend of such an event is then refused as a conflict.
        bind.execute(
            sa.update(inbox)
            .where(inbox.c.inbox_id == row["inbox_id"])
            .values(
                fields=json.dumps(fields, separators=(",", ":")),
                content_text=f"{row['content_hash']:032x}"[-32:],
            )
        )
    with op.batch_alter_table("event_inbox") as batch:
        for name in (*REQUIRED, "amount", "due_date", "paid_date", *TEXT_COLUMNS[1:]):
            batch.drop_column(name)
        batch.drop_column("content_hash")
        batch.alter_column(
            "content_text",
            new_column_name="content_hash",
            existing_type=sa.String(32),
            nullable=False,
        )
        batch.alter_column("fields", nullable=False, existing_type=sa.Text())
