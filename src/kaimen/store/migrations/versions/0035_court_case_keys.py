"""A court listing's case number as it is compared, stored and indexed.

A court list that wrote a case again with other spaces or brackets (`（2025）京0105执 1234号`
for `(2025)京0105执1234号`) made a second listing instead of updating the first: a
`satisfied` status never reached the listing that restricts the person. Listings are now
looked up by `case_key` (`store.case_numbers.normalise_case_numbers`, the form payment
references are matched in), set here for every listing held before.

Revision ID: 0035
Revises: 0034
"""

import pyarrow as pa
import sqlalchemy as sa
from alembic import op

from kaimen.store.case_numbers import normalise_case_numbers

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

_CHUNK = 10_000


def upgrade() -> None:
    op.add_column("court_listings", sa.Column("case_key", sa.String(100), nullable=True))
    listings = sa.table(
        "court_listings",
        sa.column("listing_id", sa.String),
        sa.column("case_number", sa.String),
        sa.column("case_key", sa.String),
    )
    bind = op.get_bind()
    held = bind.execute(sa.select(listings.c.listing_id, listings.c.case_number)).all()
    update = (
        sa.update(listings)
        .where(listings.c.listing_id == sa.bindparam("listing"))
        .values(case_key=sa.bindparam("key"))
    )
    for start in range(0, len(held), _CHUNK):
        chunk = held[start : start + _CHUNK]
        cases = pa.array([case for _, case in chunk], pa.string())
        keys = normalise_case_numbers(cases).to_pylist()
        bind.execute(
            update,
            [
                {"listing": listing, "key": key}
                for (listing, _), key in zip(chunk, keys, strict=True)
            ],
        )
    op.create_index("ix_court_listings_case_key", "court_listings", ["court", "case_key"])


def downgrade() -> None:
    op.drop_index("ix_court_listings_case_key", table_name="court_listings")
    with op.batch_alter_table("court_listings") as table:
        table.drop_column("case_key")
