"""Own data: a person can take everything kaimen holds about them, and can leave.

`export` gathers it into one JSON document. `opt_out` removes it for good and stops all
scoring, all or nothing:

1. Holding the lake's lock (so no ingest, seal or summary refresh runs meanwhile), every lake
   file with the person's events (or with links to them from friends) and every summary file
   with their rows is copied without them, beside the old one.
2. One database transaction marks the person opted out (dropping their birth date), deletes
   every row referring to them, points the manifests at the copies and appends the audit
   entry.
3. Only then are the old files deleted.

A crash before the commit leaves the manifests pointing at the old files, which still exist:
nothing happened, and the unlisted copies are garbage. A crash after it leaves the old files
unlisted: no reader sees them, but they still hold the person's rows, so every opt-out first
deletes the files the lake holds but its manifests do not list (safe under the lock: every
writer lists its files before letting go of it). A reader that listed the old files just
before the commit may fail once on a missing file; run it again.

The `people` row stays, status `opted_out`, with no birth date: the audit log names the
pseudonymous id, and it marks the id as gone, so later events about them are refused by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine

from kaimen.connections.choosing import opted_in_friends, rescore_after_departure
from kaimen.domain.callers import Caller
from kaimen.domain.errors import Conflict, NotFound, Unauthenticated
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.dueprocess import evidence as evidence_files
from kaimen.engines.embedded import connect, session
from kaimen.features.summary_build import SUMMARIES_DIR, rewrite_summary_without
from kaimen.ingest.deduplication import DIGESTED_HASH_SQL, digested
from kaimen.lake import reader
from kaimen.lake.schema import LAKE_SCHEMA, PARTITION
from kaimen.lake.writer import (
    EVENTS_DIR,
    INCOMING_DIR,
    exclusive,
    rewrite_without,
    unlisted_files,
)
from kaimen.sharing.export_document import FORMAT as FORMAT
from kaimen.sharing.export_document import (
    ExportAccess,
    ExportAlert,
    ExportConnections,
    ExportConsent,
    ExportCorrection,
    ExportDecision,
    ExportDispute,
    ExportFriendsPoints,
    ExportListing,
    ExportPerson,
    ExportPointsEntry,
    ExportScore,
    utc_text,
)
from kaimen.sharing.export_document import ExportDocument as ExportDocument
from kaimen.store import (
    access_log,
    alerts,
    audit,
    consents,
    court_list,
    decisions,
    event_keys,
    lake_manifest,
    person_data,
    points_ledger,
    score_revisions,
    summary_manifest,
)
from kaimen.store import connections as connection_rows
from kaimen.store import disputes as dispute_rows
from kaimen.store.identity_vault import IdentityVault

IDENTITY_FIELDS = {"phone": "phone", "cn_resident_id": "national_id", "name": "name"}
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


class NotEnrolled(NotFound):
    """No one is enrolled under this id."""


class AlreadyOptedOut(Conflict):
    """The person opted out before: nothing of theirs is left to export or remove."""


@dataclass(frozen=True)
class OptOutReport:
    person_id: str
    # Rows deleted per table (identities, person_tokens, consents, access_log, ...).
    rows_removed: dict[str, int]
    lake_events_removed: int
    lake_files_rewritten: int
    # Other people's events that linked to the person as a friend: the link is emptied.
    friend_links_cut: int
    # The same in the inbox: sealed records redacted, unsealed links (which sealing would
    # now refuse) dropped.
    inbox_links_redacted: int
    inbox_links_dropped: int
    summary_rows_removed: int
    summary_files_rewritten: int
    # Files a crash had left unlisted, deleted before starting.
    orphan_files_removed: int
    # Old files that could not be deleted after the commit (unlisted; the next opt-out
    # deletes them).
    files_left: list[str] = field(default_factory=list)
    # Friends who counted the person in their score (connections), re-scored at once.
    friends_rescored: int = 0


def _require_active(store: Connection, person_id: str) -> person_data.PersonRecord:
    record = person_data.person(store, person_id)
    if record is None:
        raise NotEnrolled(f"no enrolled person {person_id}")
    if record.status == "opted_out":
        raise AlreadyOptedOut(
            f"person {person_id} has already opted out: their data was removed then"
        )
    return record


def _event_columns() -> str:
    """Lake columns as JSON-ready values, converted in the engine."""
    columns = []
    for spec in LAKE_SCHEMA:
        name = spec.name
        if pa.types.is_timestamp(spec.type):
            columns.append(f"strftime({name}, '{TIMESTAMP}') AS {name}")
        elif pa.types.is_decimal(spec.type) or pa.types.is_date(spec.type):
            columns.append(f"CAST({name} AS VARCHAR) AS {name}")
        else:
            columns.append(name)
    return ", ".join([*columns, PARTITION])


def lake_events(
    connection: duckdb.DuckDBPyConnection, lake_root: Path, files: Sequence[str], person_id: str
) -> list[JsonObject]:
    """The person's events in the lake, oldest first, each with the fields it has."""
    relation = reader.events_of(connection, lake_root, files, person_id)
    ordered = relation.query(
        "mine", f"SELECT {_event_columns()} FROM mine ORDER BY occurred_at, source, event_id"
    )
    assert ordered is not None
    table = ordered.fetch_arrow_table()
    # Fields an event's kind does not have are empty in the lake: left out, not shown as null.
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


def export(
    engine: Engine,
    vault: IdentityVault,
    lake_root: Path,
    person_id: str,
    now: dt.datetime | None = None,
) -> ExportDocument:
    """Everything held about the person, as one document."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        record = _require_active(store, person_id)
        sealed = person_data.sealed_identities(store, person_id)
        files = lake_manifest.files(store)
        received = person_data.unsealed_events(store, person_id)
        snapshots = person_data.all_snapshots(store, person_id)
        granted = consents.of_person(store, person_id)
        log = access_log.of_person(store, person_id)
        decided = decisions.of_person(store, person_id)
        listed = court_list.linked_listings(store, person_id)
        disputed = dispute_rows.of_person(store, person_id)
        revised = score_revisions.of_person(store, person_id)
        choices = connection_rows.choices_of(store, person_id)
        friends_added = connection_rows.points_history(store, person_id)
        ledger = points_ledger.entries_of(store, person_id)
        raised = alerts.of_person(store, person_id)
        frozen_at = alerts.frozen_since(store, person_id)
    connection = session()
    try:
        events = lake_events(connection, lake_root, files, person_id)
    finally:
        connection.close()
    identity = {
        name: vault.decrypt(kind, sealed[kind])
        for kind, name in IDENTITY_FIELDS.items()
        if kind in sealed
    }
    # An active person has a birth date: a constraint of the store.
    assert record.birth_date is not None
    return ExportDocument(
        format=FORMAT,
        exported_at=utc_text(now),
        person=ExportPerson(
            person_id=record.person_id,
            enrolled_at=utc_text(record.enrolled_at),
            birth_date=record.birth_date.isoformat(),
            status=record.status,
            frozen_at=_utc_or_none(frozen_at),
            **identity,
        ),
        events=events,
        events_received_not_yet_in_lake=[
            {"received_at": utc_text(e.received_at), **e.fields} for e in received
        ],
        scores=[ExportScore.model_validate(s) for s in snapshots],
        consents=[ExportConsent.of(c, now) for c in granted],
        access_log=[ExportAccess.model_validate(a) for a in log],
        decisions=[ExportDecision.model_validate(d) for d in decided],
        court_listings=[
            ExportListing(
                listing_id=listing.listing_id,
                case_number=listing.case_number,
                court=listing.court,
                amount=f"{listing.amount:.2f}",
                currency=listing.currency,
                judgment_date=listing.judgment_date.isoformat(),
                status=listing.status,
                link_id=link.link_id,
                link_method=link.method,
                match_probability=float(link.match_probability),
                linked_at=utc_text(link.linked_at),
            )
            for link, listing in listed
        ],
        disputes=[
            ExportDispute(
                dispute_id=d.dispute_id,
                item_kind=d.item.kind.value,
                item_ref=d.item.ref,
                furnisher=d.furnisher,
                state=d.state.value,
                statement=d.statement,
                filed_at=utc_text(d.filed_at),
                answer_due_at=utc_text(d.answer_due_at),
                answered_at=None if d.answered_at is None else utc_text(d.answered_at),
            )
            for d in disputed
        ],
        score_corrections=[
            ExportCorrection(
                revised_at=utc_text(r.revised_at),
                month=r.month,
                score_before=r.score_before,
                score_after=r.score_after,
                cause=r.cause,
                why=r.note,
            )
            for r in revised
        ],
        connections=ExportConnections(
            counts_friends=choices.counts_friends,
            counts_friends_set_at=_utc_or_none(choices.counts_friends_at),
            lends_score=choices.lends_score,
            lends_score_set_at=_utc_or_none(choices.lends_score_at),
            points_added=[
                ExportFriendsPoints(
                    month=m.month,
                    model_version=m.model_version,
                    points=m.points,
                    friends_counted=m.friends_counted,
                    points_before_band=m.points_before_band,
                )
                for m in friends_added
            ],
        ),
        points_ledger=[
            ExportPointsEntry(
                entry_id=e.entry_id,
                rule_id=e.rule_id,
                kind=e.entry_kind,
                source=e.source,
                event_id=e.event_id,
                points=e.points,
                month=e.period.strftime("%Y-%m"),
                expires_on=None if e.expires_on is None else e.expires_on.isoformat(),
                halves_every_months=e.halves_every_months,
                awarded_at=utc_text(e.awarded_at),
                reverses=e.reverses,
                reason=e.reason,
            )
            for e in ledger
        ],
        alerts=[ExportAlert.model_validate(a) for a in raised],
    )


def _utc_or_none(moment: dt.datetime | None) -> str | None:
    return None if moment is None else utc_text(moment)


def _holders(
    connection: duckdb.DuckDBPyConnection,
    lake_root: Path,
    paths: Sequence[str],
    person_id: str,
    with_links: bool,
) -> dict[str, tuple[int, int]]:
    """path -> (the person's rows, rows linking to them) of the files that hold either,
    found in one scan of all files."""
    if not paths:
        return {}
    names = {str(lake_root / p): p for p in paths}
    files = "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"
    links = "count(*) FILTER (WHERE friend_id = $person)" if with_links else "0"
    where = "person_id = $person" + (" OR friend_id = $person" if with_links else "")
    rows = connection.execute(
        f"SELECT filename, count(*) FILTER (WHERE person_id = $person), {links} "
        f"FROM read_parquet({files}, filename = true, hive_partitioning = false, "
        f"union_by_name = true) WHERE {where} GROUP BY filename",
        {"person": person_id},
    ).fetchall()
    return {names[name]: (int(own), int(linked)) for name, own, linked in rows}


def _key_changes(
    connection: duckdb.DuckDBPyConnection, lake_root: Path, paths: Sequence[str], person_id: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    """Keys of the person's events in `paths`, and (key, new content hash) of other people's
    events there that link to them, as they will read once the link is cut."""
    if not paths:
        return [], []
    files = reader.files_sql(lake_root, paths)
    departing = connection.execute(
        f"SELECT DISTINCT source, event_id FROM {files} WHERE person_id = $person",
        {"person": person_id},
    ).fetchall()
    linking = (
        f"(SELECT * REPLACE (CAST(NULL AS VARCHAR) AS friend_id) FROM {files} "
        "WHERE friend_id = $person AND person_id <> $person)"
    )
    relinked = connection.execute(
        f"SELECT DISTINCT source, event_id, {DIGESTED_HASH_SQL} FROM {digested(linking)}",
        {"person": person_id},
    ).fetchall()
    return (
        [(str(s), str(e)) for s, e in departing],
        [(str(s), str(e), int(h)) for s, e, h in relinked],
    )


def opt_out(
    engine: Engine,
    lake_root: Path,
    person_id: str,
    actor: str,
    now: dt.datetime | None = None,
    profile: Profile | None = None,
    evidence_dir: Path | None = None,
) -> OptOutReport:
    """Remove the person's data from the store and the lake and stop scoring them, all or
    nothing (see the module docstring for how, and for what a crash leaves). With the
    `profile`, friends whose score counted theirs (connections) are re-scored at once after.
    With `evidence_dir`, the files their disputes' evidence was kept in are deleted once the
    store no longer lists them (a file no other dispute holds)."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        _require_active(store, person_id)
    # Found before the links to them are cut.
    friends = [] if profile is None else opted_in_friends(engine, lake_root, profile, person_id)
    connection = connect()
    written: list[Path] = []  # copies not yet listed: deleted if the transaction fails
    try:
        with exclusive(lake_root):
            with engine.connect() as store:
                # Again: another opt-out of the same person may have finished while we waited.
                _require_active(store, person_id)
                lake = lake_manifest.listed(store)
                summaries = summary_manifest.listed(store)
            listed = [path for _, _, path in lake] + [path for _, path in summaries]
            orphans = unlisted_files(lake_root, listed, (EVENTS_DIR, SUMMARIES_DIR, INCOMING_DIR))
            for orphan in orphans:
                orphan.unlink(missing_ok=True)
            lake_hits = _holders(
                connection, lake_root, [p for _, _, p in lake], person_id, with_links=True
            )
            summary_hits = _holders(
                connection, lake_root, [p for _, p in summaries], person_id, with_links=False
            )
            departing, relinked = _key_changes(connection, lake_root, list(lake_hits), person_id)
            lake_copies: list[tuple[int, lake_manifest.FileRecord]] = []
            for file_id, month, path in lake:
                if path in lake_hits:
                    copy = rewrite_without(connection, lake_root, month, path, person_id)
                    written.append(lake_root / copy.path)
                    record = lake_manifest.FileRecord(copy.month, copy.path, copy.rows, copy.sha256)
                    lake_copies.append((file_id, record))
            summary_copies: list[tuple[int, str, int]] = []
            for summary_id, path in summaries:
                if path in summary_hits:
                    new_path, rows = rewrite_summary_without(connection, lake_root, path, person_id)
                    written.append(lake_root / new_path)
                    summary_copies.append((summary_id, new_path, rows))
            events_removed = sum(own for own, _ in lake_hits.values())
            links_cut = sum(linked for _, linked in lake_hits.values())
            summary_rows = sum(own for own, _ in summary_hits.values())

            evidence_hashes: set[str] = set()  # of the files their disputes kept

            def work(store: Connection) -> tuple[dict[str, int], int, int]:
                if not person_data.begin_opt_out(store, person_id):
                    raise AlreadyOptedOut(f"person {person_id} has already opted out")
                # The key index follows the lake: the person's events leave it, and the
                # events whose link to them is cut get the hash of what the lake now holds.
                event_keys.forget_inbox_of(store, person_id)
                event_keys.forget(store, departing)
                event_keys.rehash(store, relinked)
                evidence_hashes.update(dispute_rows.evidence_hashes_of(store, person_id))
                removed = person_data.erase(store, person_id)
                redacted, dropped = person_data.cut_inbox_links(store, person_id)
                for file_id, record in lake_copies:
                    lake_manifest.replace_file(store, file_id, record)
                for summary_id, path, rows in summary_copies:
                    summary_manifest.replace(store, summary_id, path, rows)
                # Counts only: the audit log keeps no personal data.
                rows_removed: JsonObject = dict(removed)
                audit.append(
                    store,
                    actor,
                    "person.opted_out",
                    subject=person_id,
                    details={
                        "rows_removed": rows_removed,
                        "lake_events_removed": events_removed,
                        "lake_files_rewritten": len(lake_copies),
                        "friend_links_cut": links_cut,
                        "inbox_links_redacted": redacted,
                        "inbox_links_dropped": dropped,
                        "summary_rows_removed": summary_rows,
                        "summary_files_rewritten": len(summary_copies),
                    },
                    now=now,
                )
                return removed, redacted, dropped

            removed, redacted, dropped = audit.audited_transaction(engine, work)
            written.clear()  # listed now: they are the lake
            left: list[str] = []
            if evidence_dir is not None and evidence_hashes:
                with engine.connect() as store:
                    still_held = dispute_rows.evidence_held(store, evidence_hashes)
                for digest in sorted(evidence_hashes - still_held):
                    try:
                        evidence_files.path_of(evidence_dir, digest).unlink(missing_ok=True)
                    except OSError:
                        left.append(f"evidence/{digest}")
            for old in [*lake_hits, *summary_hits]:
                try:
                    (lake_root / old).unlink(missing_ok=True)
                except OSError:
                    left.append(old)
    finally:
        for copy_path in written:
            copy_path.unlink(missing_ok=True)
        connection.close()
    return OptOutReport(
        person_id=person_id,
        rows_removed=removed,
        lake_events_removed=events_removed,
        lake_files_rewritten=len(lake_copies),
        friend_links_cut=links_cut,
        inbox_links_redacted=redacted,
        inbox_links_dropped=dropped,
        summary_rows_removed=summary_rows,
        summary_files_rewritten=len(summary_copies),
        orphan_files_removed=len(orphans),
        files_left=left,
        friends_rescored=len(
            []
            if profile is None
            else rescore_after_departure(engine, lake_root, profile, friends, actor, now)
        ),
    )


class ExportRaced(Unauthenticated):
    """The person opted out while their own export was under way: their token is gone."""


def export_for(
    engine: Engine,
    vault: IdentityVault,
    lake_root: Path,
    person_id: str,
    reader: Caller,
    now: dt.datetime | None = None,
) -> ExportDocument:
    """The export, for the person or, on their request, the admin: an audit row either way,
    and an access-log entry when it was not the person who read it."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        document = export(engine, vault, lake_root, person_id, now)
    except AlreadyOptedOut as error:
        if reader.is_person(person_id):
            raise ExportRaced(str(error)) from error
        raise
    with engine.begin() as store:
        if not reader.is_person(person_id):
            access_log.record(
                store, person_id, reader.actor, "own-data export", "export", {"format": FORMAT}, now
            )
        audit.append(store, reader.actor, "person.exported", subject=person_id, now=now)
    return document
