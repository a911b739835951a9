"""The store's tables. Invariants live here as constraints, not only in Python."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from kaimen.store.partial_index import PartialUniqueIndex
from kaimen.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

people = Table(
    "people",
    metadata,
    Column("person_id", String(64), primary_key=True),
    # The only fact kept from the ID number's content: events before birth are impossible.
    # Removed when the person opts out (the row stays: the audit log names the pseudonym).
    Column("birth_date", Date, nullable=True),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    CheckConstraint("status IN ('active', 'opted_out')", name="status"),
    # An active person has a birth date; one who opted out keeps none.
    CheckConstraint(
        "(status = 'active' AND birth_date IS NOT NULL)"
        " OR (status = 'opted_out' AND birth_date IS NULL)",
        name="birth_date_only_while_active",
    ),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False),
    Column("kind", String(32), nullable=False),
    # Keyed hash for lookup; the value itself only encrypted.
    Column("lookup_hash", String(64), nullable=False),
    Column("encrypted_value", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('cn_resident_id', 'phone')", name="kind"),
    UniqueConstraint("kind", "lookup_hash", name="uq_identities_kind_hash"),
    UniqueConstraint("person_id", "kind", name="uq_identities_person_kind"),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(8), nullable=False),
    Column("file_sha256", String(64), nullable=True, unique=True),
    Column("file_name", String(400), nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("events_total", Integer, nullable=False),
    Column("events_new", Integer, nullable=False),
    Column("events_duplicate", Integer, nullable=False),
    CheckConstraint("channel IN ('file', 'seal')", name="channel"),
    CheckConstraint("events_new + events_duplicate = events_total", name="counts"),
)

lake_files = Table(
    "lake_files",
    metadata,
    Column("file_id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, ForeignKey("ingest_batches.batch_id"), nullable=False),
    Column("month", String(7), nullable=False, index=True),
    Column("path", String(400), nullable=False, unique=True),
    Column("rows", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
)

event_inbox = Table(
    "event_inbox",
    metadata,
    Column("inbox_id", Integer, primary_key=True, autoincrement=True),
    # The event as judged on receipt, in the lake's own types (recorded_at filled in then),
    # so sealing copies it into the lake as it is: no second judgement, no second clock.
    Column("source", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("schema_version", SmallInteger, nullable=False),
    Column("amount", Numeric(18, 2), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("merchant_category", Text, nullable=True),
    Column("due_date", Date, nullable=True),
    Column("paid_date", Date, nullable=True),
    Column("status", Text, nullable=True),
    Column("partner", Text, nullable=True),
    Column("item", Text, nullable=True),
    Column("deposit", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("attribute", Text, nullable=True),
    Column("value", Text, nullable=True),
    Column("friend_id", Text, nullable=True),
    Column("action", Text, nullable=True),
    Column("case_number", Text, nullable=True),
    Column("court", Text, nullable=True),
    Column("month", String(7), nullable=False),
    Column("content_hash", BigInteger, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column(
        "sealed_batch_id",
        Integer,
        ForeignKey("ingest_batches.batch_id"),
        nullable=True,
        index=True,
    ),
    UniqueConstraint("source", "event_id", name="uq_event_inbox_source_event"),
)

# Every event kaimen holds (in the lake or waiting in the inbox), by key, with a 63-bit hash
# of its content: what a new batch is checked against, so that checking costs the batch's
# keys and not the lake. Written in the transaction that lists a file batch's lake files or
# stores a request's inbox rows, so it says exactly what the lake and inbox hold. Compact on
# purpose (it has a row per event): no surrogate id, and on SQLite no rowid either.
event_keys = Table(
    "event_keys",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("content_hash", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

summary_files = Table(
    "summary_files",
    metadata,
    Column("summary_file_id", Integer, primary_key=True, autoincrement=True),
    Column("path", String(400), nullable=False, unique=True),
    Column("rows", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Which lake files a summary file covers: each lake file is summarised exactly once.
summarised_lake_files = Table(
    "summarised_lake_files",
    metadata,
    Column("file_id", Integer, ForeignKey("lake_files.file_id"), primary_key=True),
    Column(
        "summary_file_id",
        Integer,
        ForeignKey("summary_files.summary_file_id"),
        nullable=False,
        index=True,
    ),
)

models = Table(
    "models",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("path", String(400), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("as_of", String(7), nullable=False),
    Column("metrics", Text, nullable=False),
    Column("champion", Integer, nullable=False, server_default="0"),
    CheckConstraint("kind IN ('scorecard', 'lightgbm')", name="kind"),
    CheckConstraint("champion IN (0, 1)", name="champion"),
    # One champion across kinds: a partial unique index, which SQLite and PostgreSQL both
    # enforce, admits any number of rows with champion 0 and at most one with champion 1.
    PartialUniqueIndex("uq_models_one_champion", "champion", "champion = 1"),
)

# No foreign keys (migration 0009): a month is published in bulk, and on PostgreSQL each key
# was a trigger run per row. The batch takes its people and model from those tables itself;
# an opt-out erases a person's snapshots by name (store.person_data).
score_snapshots = Table(
    "score_snapshots",
    metadata,
    Column("person_id", String(64), nullable=False),
    Column("month", String(7), nullable=False),
    Column("model_version", String(64), nullable=False),
    # Empty for a thin file: flagged, never scored as if known.
    Column("score", Integer, nullable=True),
    Column("band", String(16), nullable=True),
    Column("thin_file", Boolean, nullable=False),
    Column("credit_history", Integer, nullable=True),
    Column("behaviour", Integer, nullable=True),
    Column("capacity", Integer, nullable=True),
    Column("identity", Integer, nullable=True),
    Column("connections", Integer, nullable=True),
    # [{feature, points_lost, value}], largest loss first (domain.reasons.Reason).
    Column("reasons", JSON, nullable=False),
    # Points per characteristic, so a change between months can be explained exactly.
    Column("points", JSON, nullable=False),
    UniqueConstraint("person_id", "month", "model_version", name="uq_score_snapshots_key"),
    CheckConstraint("score IS NULL OR score BETWEEN 350 AND 950", name="score_range"),
)

# A month's scores become visible only when its run is published, in one transaction.
score_runs = Table(
    "score_runs",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("model_version", String(64), ForeignKey("models.version"), primary_key=True),
    Column("people", Integer, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
)

# A person's own bearer tokens, kept only as SHA-256 hashes.
person_tokens = Table(
    "person_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=True),
    # Text, not JSON: the chain hashes exactly this text, so it is read back as it was written.
    Column("details", Text, nullable=False),
    # A chain cannot fork: each row's predecessor hash is used once.
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("row_hash", String(64), nullable=False, unique=True),
)

# Partners (lenders, rental firms, hotels) and their API keys. A key is shown once; only the
# SHA-256 of its secret part is kept, and a revoked key stops working at once.
partners = Table(
    "partners",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("partner_id", String(64), ForeignKey("partners.partner_id"), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    # Sorted, comma-separated: decisions, events, feedback, reports.
    Column("scopes", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# A person's consent for one partner and one purpose. Live while not revoked and not expired;
# checked at the moment of use. Rows are never updated except to set revoked_at.
consents = Table(
    "consents",
    metadata,
    Column("consent_id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("partner_id", String(64), ForeignKey("partners.partner_id"), nullable=False),
    Column("purpose", String(16), nullable=False),
    # For a decision consent: the partner may also see the score itself.
    Column("share_score", Boolean, nullable=False, server_default=false()),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    CheckConstraint("purpose IN ('decision', 'report', 'feedback')", name="purpose"),
)

# Every read of a person's data by anyone but the person: who, when, why, what was disclosed.
access_log = Table(
    "access_log",
    metadata,
    Column("access_id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("accessed_at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("purpose", String(240), nullable=False),
    Column("what", String(16), nullable=False),
    Column("disclosed", JSON, nullable=False),
)

offers = Table(
    "offers",
    metadata,
    Column("offer_id", Integer, primary_key=True, autoincrement=True),
    Column("partner_id", String(64), ForeignKey("partners.partner_id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("min_score", Integer, nullable=False),
    Column("min_band", String(16), nullable=True),
    # Dimension -> minimum 0-100 sub-score.
    Column("min_dimensions", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    CheckConstraint("min_score BETWEEN 350 AND 950", name="min_score"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("partner_id", String(64), ForeignKey("partners.partner_id"), nullable=False, index=True),
    Column("offer_id", Integer, ForeignKey("offers.offer_id"), nullable=False),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("month", String(7), nullable=True),
    Column("model_version", String(64), nullable=True),
    Column("approved", Boolean, nullable=False),
    # Empty when the person has no score (a thin file): declined, nothing to compare.
    Column("score", Integer, nullable=True),
    Column("points_short", Integer, nullable=True),
    # [{feature, text, points}] (domain.decisions.DecisionReason).
    Column("reasons", JSON, nullable=False),
    Column("score_shared", Boolean, nullable=False),
)
