"""Alembic environment: migrations run on the connection kaimen hands over."""

from __future__ import annotations

from alembic import context

from kaimen.store import score_partitions
from kaimen.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("kaimen migrations run through kaimen.store.database.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=score_partitions.not_a_month_table,
)
with context.begin_transaction():
    context.run_migrations()
