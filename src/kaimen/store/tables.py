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
    Index,
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
from kaimen.store.types import JSONText, UTCDateTime

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
    # Set while the person has frozen their file: no decision, report or partner event about
    # them is served or accepted (the partner is told what it would be told without consent).
    Column("frozen_at", UTCDateTime, nullable=True),
    CheckConstraint("status IN ('active', 'opted_out')", name="status"),
    # An active person has a birth date; one who opted out keeps none.
    CheckConstraint(
        "(status = 'active' AND birth_date IS NOT NULL)"
        " OR (status = 'opted_out' AND birth_date IS NULL)",
        name="birth_date_only_while_active",
    ),
    # The few people no longer active, found without reading everyone (the monthly
    # publication leaves them out of its alerts).
    PartialUniqueIndex("ix_people_not_active", "person_id", "status <> 'active'"),
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
    # A name is optional and not unique: its lookup hash ends with the person's part (see
    # store/name_index.py), so (kind, lookup_hash) stays unique for every kind.
    CheckConstraint("kind IN ('cn_resident_id', 'phone', 'name')", name="kind"),
    UniqueConstraint("kind", "lookup_hash", name="uq_identities_kind_hash"),
    UniqueConstraint("person_id", "kind", name="uq_identities_person_kind"),
)

# Sex and province from the ID number, kept only for the fairness audit: encrypted, read by
# `store/fairness_traits.py` alone (an import contract holds it), never a model input. The
# foreign key makes opting out delete the row (`person_data.erase`).
fairness_traits = Table(
    "fairness_traits",
    metadata,
    Column("person_id", String(64), ForeignKey("people.person_id"), primary_key=True),
    # `audit_groups.traits_of`: "female 44", sealed by the identity vault.
    Column("traits_encrypted", Text, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
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

# Every event kaimen holds (in the lake or waiting in the inbox), by a compact key, with a
# 63-bit hash of its content: what a new batch is checked against, so that checking costs
# the batch's keys and not the lake. Written in the transaction that lists a file batch's lake
# files or stores a request's inbox rows, so it says exactly what the lake and inbox hold.
# Compact on purpose (a row per event): three integers, the key as two 63-bit halves of the
# MD5 of `source \x1f event_id` (`kaimen.store.event_keys`), no rowid on SQLite.
event_keys = Table(
    "event_keys",
    metadata,
    Column("key_hash", BigInteger, primary_key=True, autoincrement=False),
    Column("key_check", BigInteger, nullable=False),
    Column("content_hash", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# The full key of an event whose key_hash another indexed key holds (a few in ten billion).
event_key_collisions = Table(
    "event_key_collisions",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("content_hash", BigInteger, nullable=False),
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
# JSON to SQLAlchemy everywhere; stored as text on PostgreSQL (migration 0027).
SNAPSHOT_JSON = JSON().with_variant(JSONText(), "postgresql")

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
    # [[feature, points_lost, value, detail?]], largest loss first, the feature by its place
    # among the run's characteristics (domain.reasons.Reason; the stored shape is
    # domain.snapshots'). Points per characteristic, so a change between
    # months can be explained exactly: a list in the order of the run's characteristics.
    # Text on PostgreSQL (see types.JSONText): never parsed by the server, a million a month.
    Column("reasons", SNAPSHOT_JSON, nullable=False),
    Column("points", SNAPSHOT_JSON, nullable=False),
    # Led by the run, so a month's rows go in together at the end of the key rather than
    # next to each person's earlier months (migration 0030), and a person's snapshots are
    # found through their runs (`scores.of_person`). PostgreSQL's months each have a table
    # of their own (`store.score_partitions`) keyed by (person_id, month, model_version):
    # built once over the loaded rows, so the order costs nothing to write there, and led
    # by the person it is one probe of each month's key.
    # On SQLite the key is also the primary key of a table WITHOUT ROWID (migration 0033):
    # the rows are kept in the key, not written once in a table and again in its index.
    UniqueConstraint("month", "model_version", "person_id", name="uq_score_snapshots_key"),
    CheckConstraint("score IS NULL OR score BETWEEN 350 AND 950", name="score_range"),
    sqlite_with_rowid=False,
)

# A month's scores become visible only when its run is published, in one transaction.
score_runs = Table(
    "score_runs",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("model_version", String(64), ForeignKey("models.version"), primary_key=True),
    Column("people", Integer, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    # The names the snapshots' points are listed by, as a JSON list of text: once per run,
    # not once per person.
    Column("characteristics", Text, nullable=False, server_default="[]"),
)

# A published snapshot changed between monthly runs (a dispute answered, a court listing
# entered or lifted, an identity link undone): the score before and after, and why.
score_revisions = Table(
    "score_revisions",
    metadata,
    Column("revision_id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), nullable=False),
    Column("month", String(7), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("revised_at", UTCDateTime, nullable=False),
    Column("score_before", Integer, nullable=True),
    Column("band_before", String(16), nullable=True),
    Column("score_after", Integer, nullable=True),
    Column("band_after", String(16), nullable=True),
    Column("cause", String(32), nullable=False),
    Column("cause_ref", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_score_revisions_person", "person_id", "revised_at"),
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

# One-time sign-in codes for the web app: shown once (by the CLI), only their hash kept;
# single use (used_at) and short-lived (expires_at).
sign_in_codes = Table(
    "sign_in_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

# The web app's sessions, held here so that ending one (signing out, a revoked key, leaving)
# takes effect at once; the browser's cookie carries only the secret, of which only the hash is
# kept. A partner's session rides on one of its keys and lasts while that key does.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=True, index=True),
    Column("partner_id", String(64), ForeignKey("partners.partner_id"), nullable=True, index=True),
    Column("key_id", String(32), ForeignKey("api_keys.key_id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    CheckConstraint(
        "(kind = 'person' AND person_id IS NOT NULL AND partner_id IS NULL)"
        " OR (kind = 'partner' AND partner_id IS NOT NULL AND key_id IS NOT NULL"
        " AND person_id IS NULL)"
        " OR (kind = 'admin' AND person_id IS NULL AND partner_id IS NULL)",
        name="kind",
    ),
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
    # Sorted, comma-separated: decisions, events, feedback, reports, restrictions.
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
    # "probing", or "refused: <reason>" for an attempt answered with a refusal (see
    # `kaimen.sharing.attempts`); none for an ordinary read.
    Column("flag", String(40), nullable=True),
)

# The kind of alert keyed by its run (see the keys of `alerts`).
SCORE_CHANGE_KIND = "score_change"

# The person's inbox of alerts: one row per cause (an inquiry, a score change, a negative item,
# a court-list match, an attempt on a frozen file), unique per person, kind and cause, so
# whatever raises one twice (a re-run, a resend) adds nothing.
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=True),
    # Looked up by the unique keys below: no index of its own (0025, 0031).
    # No foreign key (0026): the monthly publication raises an alert for each person whose
    # score moved, hundreds of thousands of rows at once, and on PostgreSQL each key was a
    # trigger run per row locking the person's row. Every writer names an active person in
    # the statement that writes; an erasure deletes them by name (store.person_data).
    Column("person_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    # What raised it: a decision or report id, a month and model, an event's source and id...
    Column("ref", String(200), nullable=False),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime, nullable=True),
    Column("details", JSON, nullable=False),
    CheckConstraint(
        "kind IN ('inquiry', 'score_change', 'negative_item', 'court_list_match',"
        " 'frozen_attempt')",
        name="kind",
    ),
    # One per person, kind and cause, in two keys (0031). A month's score-change alerts are
    # keyed by their run (`ref` names it) before the person, so a publication's hundreds of
    # thousands of them go in at the end of the key, not all over a key that grows with every
    # month's alerts; a person's are found through the runs (`store.alerts`). Every other
    # kind is keyed by the person, as they are raised a few at a time.
    PartialUniqueIndex(
        "uq_alerts_one_per_cause", ("person_id", "kind", "ref"), f"kind <> '{SCORE_CHANGE_KIND}'"
    ),
    PartialUniqueIndex(
        "uq_alerts_score_change_by_run", ("ref", "person_id"), f"kind = '{SCORE_CHANGE_KIND}'"
    ),
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

# -- due process: disputes, item states, the outbox -----------------------------------------

# A person's dispute of one negative item. A repeat dispute of the same item is a new row
# naming the one before it. Deadlines are written when it is filed, from the profile then in
# force, so a later change of profile never moves a running clock.
disputes = Table(
    "disputes",
    metadata,
    Column("dispute_id", String(36), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("item_kind", String(16), nullable=False),
    Column("item_ref", String(200), nullable=False),
    # A partner id, "court" or "kaimen" (the operator's own events).
    Column("furnisher", String(64), nullable=False, index=True),
    Column("previous_dispute_id", String(36), ForeignKey("disputes.dispute_id"), nullable=True),
    Column("state", String(16), nullable=False),
    Column("statement", Text, nullable=False),
    Column("profile", String(32), nullable=False),
    # When the disputed conduct happened: partners told of a correction are those that saw the
    # person's data after it.
    Column("item_occurred_at", UTCDateTime, nullable=True),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("answer_due_at", UTCDateTime, nullable=False),
    Column("furnisher_notice_due_at", UTCDateTime, nullable=False),
    Column("furnisher_notified_at", UTCDateTime, nullable=True),
    # Set once, when the sweep first finds the notice late (so it is audited once).
    Column("furnisher_notice_late_at", UTCDateTime, nullable=True),
    Column("information_added_at", UTCDateTime, nullable=True),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("answered_by", String(80), nullable=True),
    # The furnisher's corrected values ({field: value}) and/or its described correction.
    Column("correction", JSON, nullable=True),
    Column("correction_note", Text, nullable=True),
    CheckConstraint(
        "item_kind IN ('event', 'court_listing', 'identity_link', 'points_entry')",
        name="item_kind",
    ),
    CheckConstraint(
        "state IN ('open', 'verified', 'corrected', 'deleted', 'unverifiable', 'lapsed')",
        name="state",
    ),
    CheckConstraint(
        "(state = 'open') = (answered_at IS NULL)", name="answered_exactly_when_closed"
    ),
)

dispute_evidence = Table(
    "dispute_evidence",
    metadata,
    Column("evidence_id", Integer, primary_key=True, autoincrement=True),
    Column("dispute_id", String(36), ForeignKey("disputes.dispute_id"), nullable=False, index=True),
    # The file itself is under KAIMEN_HOME/evidence/, named by this hash.
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("original_name", String(200), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "media_type IN ('application/pdf', 'image/png', 'image/jpeg', 'text/plain')",
        name="media_type",
    ),
)

# What scoring, reports and decisions read: an item's standing while and after it is
# disputed. One row per item; no row means the item counts as it is.
item_states = Table(
    "item_states",
    metadata,
    Column("item_kind", String(16), primary_key=True),
    Column("item_ref", String(200), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("dispute_id", String(36), ForeignKey("disputes.dispute_id"), nullable=False),
    CheckConstraint("state IN ('disputed', 'suppressed', 'corrected')", name="state"),
)

# Where a recipient (a partner id, or "court") takes webhooks. The signing secret is needed
# to sign, so it is kept encrypted with the vault's key, not hashed.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("recipient", String(64), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret_encrypted", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Messages to partners and the court, written in the transaction of what they announce and
# delivered after it. `message_id` is the idempotency key the receiver dedupes on.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("recipient", String(64), nullable=False),
    Column("topic", String(64), nullable=False),
    # Ids and facts only: never a national ID number or a name.
    Column("payload", JSON, nullable=False),
    Column("dispute_id", String(36), ForeignKey("disputes.dispute_id"), nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("dead_at", UTCDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    # A worker's claim: no other worker takes the message before `lease_until`.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    CheckConstraint("attempts >= 0", name="attempts"),
)

outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        String(36),
        ForeignKey("outbox_messages.message_id"),
        nullable=False,
        index=True,
    ),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    # The first bytes of the answer, for diagnosis; never more.
    Column("response_prefix", String(200), nullable=True),
)

# -- the court list (judgment defaulters) and the links from its listings to people --------

# Each court list file (or API batch) once, by content hash: the same file twice is a no-op.
court_list_files = Table(
    "court_list_files",
    metadata,
    Column("file_id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("name", String(400), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("new_listings", Integer, nullable=False),
    Column("status_changes", Integer, nullable=False),
    CheckConstraint("channel IN ('file', 'api')", name="channel"),
)

# A listing's name and ID number are kept like enrolled identities: keyed hashes to find
# them, the values only encrypted. A full, valid ID is hashed as enrolment hashes it (so the
# exact link is a join on hashes); a masked or unverifiable one by its visible pattern.
court_listings = Table(
    "court_listings",
    metadata,
    Column("listing_id", String(32), primary_key=True),
    Column("court", String(200), nullable=False),
    Column("case_number", String(100), nullable=False),
    # The case number as it is compared (`dueprocess.court_rows.case_key_of`): a court that
    # writes one case with other spaces or brackets names the same listing. Set on every
    # import (and by revision 0035 for listings before it).
    Column("case_key", String(100), nullable=True),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("judgment_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("name_hash", String(64), nullable=False),
    Column("name_encrypted", Text, nullable=False),
    Column("id_form", String(10), nullable=False),
    Column("id_hash", String(64), nullable=True, index=True),
    Column("id_pattern_hash", String(64), nullable=True, index=True),
    Column("id_encrypted", Text, nullable=False),
    # Only what the ID number itself gives (its birth digits, when they are shown).
    Column("birth_date", Date, nullable=True),
    Column("file_id", Integer, ForeignKey("court_list_files.file_id"), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("court", "case_number", name="uq_court_listings_case"),
    Index("ix_court_listings_case_key", "court", "case_key"),
    CheckConstraint(
        "status IN ('entered', 'satisfied', 'overturned', 'settled-pending', 'lifted')",
        name="status",
    ),
    CheckConstraint("id_form IN ('full', 'masked', 'unverified')", name="id_form"),
    CheckConstraint(
        "(id_form = 'full' AND id_hash IS NOT NULL AND id_pattern_hash IS NULL)"
        " OR (id_form <> 'full' AND id_hash IS NULL AND id_pattern_hash IS NOT NULL)",
        name="id_hashes",
    ),
    CheckConstraint("amount >= 0", name="amount"),
)

# Every status a listing has had, with when and on whose word.
court_listing_history = Table(
    "court_listing_history",
    metadata,
    Column("history_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "listing_id",
        String(32),
        ForeignKey("court_listings.listing_id"),
        nullable=False,
        index=True,
    ),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("old_status", String(16), nullable=True),
    Column("new_status", String(16), nullable=False),
    Column("source", String(200), nullable=False),
    Column("file_id", Integer, ForeignKey("court_list_files.file_id"), nullable=True),
    Column("actor", String(128), nullable=False),
)

# Which person a listing is about, how that was decided, and its undoing (un-merge). Rows are
# never deleted (but with the person, on opting out): an undone link stays as the record.
identity_links = Table(
    "identity_links",
    metadata,
    Column("link_id", String(32), primary_key=True),
    Column(
        "listing_id",
        String(32),
        ForeignKey("court_listings.listing_id"),
        nullable=False,
        index=True,
    ),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("method", String(16), nullable=False),
    Column("match_probability", Numeric(7, 6), nullable=False),
    Column("approved_by", String(128), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    Column("undone_at", UTCDateTime, nullable=True),
    Column("undone_by", String(128), nullable=True),
    Column("undo_reason", Text, nullable=True),
    CheckConstraint("method IN ('exact_id', 'probabilistic', 'review')", name="method"),
    CheckConstraint("match_probability BETWEEN 0 AND 1", name="probability"),
    CheckConstraint(
        "(undone_at IS NULL AND undone_by IS NULL AND undo_reason IS NULL)"
        " OR (undone_at IS NOT NULL AND undone_by IS NOT NULL AND undo_reason IS NOT NULL)",
        name="undone_together",
    ),
    # At most one live link per listing.
    PartialUniqueIndex("uq_identity_links_live_listing", "listing_id", "undone_at IS NULL"),
)

# Candidate links in the middle band of the match probability, for a person to decide.
link_reviews = Table(
    "link_reviews",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "listing_id",
        String(32),
        ForeignKey("court_listings.listing_id"),
        nullable=False,
        index=True,
    ),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("match_probability", Numeric(7, 6), nullable=False),
    Column("state", String(10), nullable=False, server_default="pending"),
    Column("queued_at", UTCDateTime, nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("link_id", String(32), ForeignKey("identity_links.link_id"), nullable=True),
    UniqueConstraint("listing_id", "person_id", name="uq_link_reviews_pair"),
    CheckConstraint("state IN ('pending', 'approved', 'rejected')", name="state"),
    CheckConstraint("match_probability BETWEEN 0 AND 1", name="probability"),
    CheckConstraint("(state = 'pending') = (decided_at IS NULL)", name="decided_unless_pending"),
)

# -- settlement reconciliation: payments of judgments, and the lifting they lead to ---------

# The account each court collects judgment payments into, compared with where a payment went.
court_accounts = Table(
    "court_accounts",
    metadata,
    Column("court", String(200), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
)

# Each payments file (or API batch) once, by content hash: the same file twice is a no-op.
payment_imports = Table(
    "payment_imports",
    metadata,
    Column("import_id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("name", String(400), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("already_held", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("review", Integer, nullable=False),
    Column("unmatched", Integer, nullable=False),
    CheckConstraint("channel IN ('file', 'api')", name="channel"),
)

# Every payment received, never deleted: the payer's name and ID number kept like enrolled
# identities (keyed hash + encryption); the destination is the court's account, kept clear.
payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(32), primary_key=True),
    Column("transaction_id", String(128), nullable=False, unique=True),
    Column("import_id", Integer, ForeignKey("payment_imports.import_id"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("payer_name_hash", String(64), nullable=True),
    Column("payer_name_encrypted", Text, nullable=True),
    Column("payer_id_hash", String(64), nullable=True, index=True),
    Column("payer_id_encrypted", Text, nullable=True),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("destination_account", String(64), nullable=False),
    Column("reference", Text, nullable=False),
    Column("state", String(10), nullable=False),
    # The best candidate (matched: the listing it settled; otherwise the one proposed).
    Column("listing_id", String(32), ForeignKey("court_listings.listing_id"), nullable=True),
    Column("match_score", Numeric(5, 4), nullable=False),
    Column("evidence", JSON, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("note", Text, nullable=True),
    CheckConstraint("state IN ('matched', 'review', 'unmatched', 'rejected')", name="state"),
    CheckConstraint("state <> 'matched' OR listing_id IS NOT NULL", name="matched_has_listing"),
    CheckConstraint("match_score BETWEEN 0 AND 1", name="score"),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint(
        "(payer_name_hash IS NULL) = (payer_name_encrypted IS NULL)"
        " AND (payer_id_hash IS NULL) = (payer_id_encrypted IS NULL)",
        name="protected_together",
    ),
)

# A listing a matched payment moved to settled-pending: when it is lifted at the latest, and
# how it ended (lifted by the sweep, or returned to entered by the court's objection).
listing_settlements = Table(
    "listing_settlements",
    metadata,
    Column("settlement_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "listing_id",
        String(32),
        ForeignKey("court_listings.listing_id"),
        nullable=False,
        index=True,
    ),
    Column("payment_id", String(32), ForeignKey("payments.payment_id"), nullable=False),
    Column("settled_at", UTCDateTime, nullable=False),
    # The profile's last day to lift it (local date), and the moment the sweep lifts it:
    # the first instant of that day, so it is lifted within the deadline, never after.
    Column("last_day", Date, nullable=False),
    Column("lift_at", UTCDateTime, nullable=False, index=True),
    Column("state", String(10), nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("ended_by", String(128), nullable=True),
    Column("objection", Text, nullable=True),
    CheckConstraint("state IN ('pending', 'lifted', 'objected')", name="state"),
    CheckConstraint("(state = 'pending') = (ended_at IS NULL)", name="ended_unless_pending"),
    CheckConstraint("(state = 'objected') = (objection IS NOT NULL)", name="objection"),
    # At most one pending settlement per listing.
    PartialUniqueIndex("uq_listing_settlements_pending", "listing_id", "state = 'pending'"),
)

# -- retention: negative items past the profile's retention ---------------------------------

# A negative event past retention: it stops counting (scoring leaves it out, as it leaves out a
# suppressed one) from `expired_at`, and is purged from the lake, its summaries and the sealed
# inbox at `purged_at`. The row then stays, with no event data, as the record that the key
# once held an event (the key index keeps the key too, so a resend is a duplicate).
expired_items = Table(
    "expired_items",
    metadata,
    Column("item_kind", String(16), primary_key=True),
    Column("item_ref", String(200), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("conduct_ended", Date, nullable=False),
    Column("expired_at", UTCDateTime, nullable=False),
    Column("purged_at", UTCDateTime, nullable=True, index=True),
    CheckConstraint("item_kind IN ('event')", name="item_kind"),
)

# Where each profile's expiry search last looked: its cutoff and the newest lake file then.
# The search reads the whole lake, and nothing can newly expire until the cutoff moves (once
# a day) or a file arrives, so the worker's round skips it meanwhile.
retention_marks = Table(
    "retention_marks",
    metadata,
    Column("profile", String(32), primary_key=True),
    Column("cutoff", Date, nullable=False),
    Column("last_file_id", Integer, nullable=False),
    Column("searched_at", UTCDateTime, nullable=False),
)

# -- connections: friends' bounded influence (kaimen.domain.connections) ----------------------

# Each person's two choices, both off until they say otherwise, with who set each and when:
# whether their friends may count in their own score (`counts_friends`), and whether their
# score may count for their friends (`lends_score`). Erased with the person.
connection_choices = Table(
    "connection_choices",
    metadata,
    Column("person_id", String(64), ForeignKey("people.person_id"), primary_key=True),
    Column("counts_friends", Boolean, nullable=False, server_default=false()),
    Column("counts_friends_at", UTCDateTime, nullable=True),
    Column("counts_friends_by", String(128), nullable=True),
    Column("lends_score", Boolean, nullable=False, server_default=false()),
    Column("lends_score_at", UTCDateTime, nullable=True),
    Column("lends_score_by", String(128), nullable=True),
)

# What friends added to a published snapshot (after the band rule) and how many counted: a
# snapshot's score less these points is the person's base score, the one their friends'
# next month reads. One row per opted-in person with a score, written with the snapshots
# (no foreign key, as they: published in bulk; an opt-out erases the rows by name).
connection_points = Table(
    "connection_points",
    metadata,
    Column("person_id", String(64), nullable=False),
    Column("month", String(7), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("points", SmallInteger, nullable=False),
    Column("friends_counted", Integer, nullable=False),
    # What the friends would add before the cut to the band (for the what-if, which moves
    # the score between bands); null on rows published before it was kept (0034).
    Column("points_before_band", SmallInteger, nullable=True),
    UniqueConstraint("person_id", "month", "model_version", name="uq_connection_points_key"),
    CheckConstraint("points BETWEEN -30 AND 30", name="points_range"),
    CheckConstraint("friends_counted >= 0", name="friends_counted"),
)

# -- the points programme: rulebooks, the ledger, balances ----------------------------------

# Each rulebook installed, as its text (the YAML that was validated), named by its hash. The
# newest installed is the one in force; older ones stay, since ledger entries name theirs.
points_rulebooks = Table(
    "points_rulebooks",
    metadata,
    Column("rulebook_id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("profile", String(32), nullable=False),
    Column("installed_at", UTCDateTime, nullable=False, index=True),
    Column("installed_by", String(80), nullable=False),
)

# The ledger: append-only. An entry is never updated, and deleted only with the person's
# erasure; a mistake is undone by a reversal, an entry of the opposite points that names the
# one it reverses and copies its month, expiry and decay, so the two cancel in every replay.
# An award is unique per (rule, event): running a month twice adds nothing.
points_ledger = Table(
    "points_ledger",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.person_id"), nullable=False, index=True),
    Column("rulebook_id", String(64), ForeignKey("points_rulebooks.rulebook_id"), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("entry_kind", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("points", Integer, nullable=False),
    # The first day of the month of the event: where decay and expiry count from.
    Column("period", Date, nullable=False),
    # The first day of the month in which the entry no longer counts (none: it never ends).
    Column("expires_on", Date, nullable=True),
    Column("halves_every_months", Integer, nullable=True),
    Column("awarded_at", UTCDateTime, nullable=False),
    Column("reverses", String(36), ForeignKey("points_ledger.entry_id"), nullable=True),
    Column("reason", Text, nullable=True),
    UniqueConstraint(
        "rule_id", "source", "event_id", "entry_kind", name="uq_points_ledger_award_once"
    ),
    UniqueConstraint("reverses", name="uq_points_ledger_reversed_once"),
    CheckConstraint("entry_kind IN ('award', 'reversal')", name="entry_kind"),
    CheckConstraint(
        "(entry_kind = 'reversal') = (reverses IS NOT NULL)", name="reversal_names_entry"
    ),
    # Deductions end (the validator refuses a rule that never expires; this holds the rows).
    CheckConstraint(
        "entry_kind = 'reversal' OR points >= 0 OR expires_on IS NOT NULL",
        name="deductions_expire",
    ),
)

# Each person's balance as the newest award run computed it, as of the end of `month`: what
# a replay of the ledger at that month gives (a test holds the two equal).
points_balances = Table(
    "points_balances",
    metadata,
    Column("person_id", String(64), ForeignKey("people.person_id"), primary_key=True),
    Column("month", String(7), nullable=False),
    Column("balance", Integer, nullable=False),
    Column("rulebook_id", String(64), nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
)
