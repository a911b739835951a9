"""Retention: negative items past the profile's retention stop counting, and are then purged.

The sweep (`sweep_retention`, run by every worker round) takes three steps, each in its own
transaction with its own audit row (counts only, no personal data), written when the step
found something to do:

1. **Expire.** One DuckDB query over the lake files the manifest lists (run when the cutoff
   has moved, once a day, or a lake file has arrived since the last search; otherwise
   nothing can have newly expired and the round skips it) finds the negative events whose
   conduct ended (`domain.retention`, per kind) on or before the profile's
   cutoff (`Profile.retention_cutoff` of today's local date) and records them in
   `expired_items`. Scoring leaves them out from that moment through the same exclusion
   list as a suppressed event (`scoring.exclusions`), and reports too (they read the same
   list); the people concerned are re-scored at once (cause `retention`).
2. **Purge.** Holding the lake's writer lock (no ingest, seal, summary refresh or opt-out
   runs meanwhile), every lake file holding an expired event is copied without it, and every
   summary file with rows of the people concerned is copied with their rows made again from
   the lake files it covers, now without the event. One transaction points the manifests at
   the copies, deletes the sealed inbox rows of the events (copies of lake rows) and their
   dispute standing, and marks them purged (they leave the exclusion list: there is nothing
   left to exclude); only then are the old files deleted. A crash before that commit leaves
   everything as it was (the unlisted copies are removed by the next purge or opt-out); after
   it, the old files are unlisted and the next purge deletes them before anything else. The
   key index keeps the purged keys (source, event_id, content hash; no event data), so the
   same event sent again is a duplicate and is not counted anew; a resend with other content
   is refused as a conflict, as always.
3. **Court listings.** Closed listings past retention (an open one never expires, see
   `domain.retention`): their live identity links are undone (logged for the person, who is
   re-scored), then each listing is deleted with its history, settlements, the payments that
   settled it, candidate reviews and link records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Connection, Engine

from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.domain.retention import CLOSED_LISTING_STATUSES
from kaimen.dueprocess.rescoring import rescore_now
from kaimen.engines.embedded import connect, ibis_connection, temp_table
from kaimen.features.summary_build import SUMMARIES_DIR, rewrite_summary_redone
from kaimen.lake import expired_events as lake_expiry
from kaimen.lake.writer import (
    EVENTS_DIR,
    INCOMING_DIR,
    exclusive,
    rewrite_without_events,
    unlisted_files,
)
from kaimen.store import access_log, audit, lake_manifest, summary_manifest
from kaimen.store import retention as expiry_rows
from kaimen.store.score_revisions import Revision

CAUSE = "retention"
LISTING_WHAT = "court_listing"
PURGE_KEYS = "purged_keys"
CONCERNED = "purge_concerned"


@dataclass(frozen=True)
class Expiry:
    """Step 1: events that stopped counting, and whose."""

    events: int = 0
    people: tuple[str, ...] = ()


@dataclass(frozen=True)
class Purge:
    """Step 2: events removed from the lake, and what was rewritten."""

    events: int = 0
    lake_rows: int = 0
    lake_files: int = 0
    summary_files: int = 0
    inbox_rows: int = 0


@dataclass(frozen=True)
class ListingRemoval:
    """Step 3: court listings deleted, and the people whose links to them were undone."""

    listings: int = 0
    links_undone: int = 0
    people: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionRound:
    cutoff: dt.date
    expiry: Expiry
    purge: Purge
    listings: ListingRemoval
    people: tuple[str, ...]  # everyone re-scored (those with no published score get none)
    revisions: tuple[Revision, ...]


def _closed_before(profile: Profile, cutoff: dt.date) -> dt.datetime:
    """The first instant (UTC) after the local day `cutoff`."""
    after = cutoff + dt.timedelta(days=1)
    return dt.datetime.combine(after, dt.time(), profile.zone).astimezone(dt.UTC)


def expire_events(
    engine: Engine, lake_root: Path, profile: Profile, now: dt.datetime, actor: str
) -> Expiry:
    """Step 1: record every negative event past retention as expired (no longer counting)."""
    cutoff = profile.retention_cutoff(profile.local_date(now))
    with engine.connect() as store:
        listed = lake_manifest.listed(store)
        last_file = max((file_id for file_id, _, _ in listed), default=0)
        if expiry_rows.searched(store, profile.name) == (cutoff, last_file):
            return Expiry()  # nothing can have expired since the last search
        already = expiry_rows.keys_table(expiry_rows.unpurged(store))
    duck = connect()
    try:
        found = lake_expiry.expired_events(
            duck, lake_root, [path for _, _, path in listed], profile.time_zone, cutoff, already
        )
    finally:
        duck.close()
    people = tuple(sorted(set(found.column("person_id").to_pylist())))

    def work(store: Connection) -> None:
        expiry_rows.mark_searched(store, profile.name, cutoff, last_file, now)
        if found.num_rows == 0:
            return
        expiry_rows.record_expired(store, found, now)
        audit.append(
            store,
            actor,
            "retention.expired",
            details={
                "events": found.num_rows,
                "people": len(people),
                "cutoff": cutoff.isoformat(),
                "retention_years": profile.negative_retention_years,
            },
            now=now,
        )

    audit.audited_transaction(engine, work)
    return Expiry(found.num_rows, people)


def purge_expired(engine: Engine, lake_root: Path, now: dt.datetime, actor: str) -> Purge:
    """Step 2: remove every expired, unpurged event from the lake and its summaries."""
    duck = connect()
    backend = ibis_connection()
    written: list[Path] = []  # copies not yet listed: deleted if the transaction fails
    try:
        with exclusive(lake_root):
            with engine.connect() as store:
                pending = expiry_rows.unpurged(store)
                if not pending:
                    return Purge()
                lake = lake_manifest.listed(store)
                summaries = summary_manifest.listed(store)
                covered = summary_manifest.covered(store)
            listed = [path for _, _, path in lake] + [path for _, path in summaries]
            for orphan in unlisted_files(
                lake_root, listed, (EVENTS_DIR, SUMMARIES_DIR, INCOMING_DIR)
            ):
                orphan.unlink(missing_ok=True)
            keys = expiry_rows.keys_table(pending)
            lake_hits = lake_expiry.files_holding(duck, lake_root, [p for _, _, p in lake], keys)
            duck.register(PURGE_KEYS, keys)
            lake_copies: list[tuple[int, lake_manifest.FileRecord]] = []
            now_at: dict[int, str] = {}  # file id -> its path once the copies are listed
            for file_id, month, path in lake:
                now_at[file_id] = path
                if path in lake_hits:
                    copy = rewrite_without_events(duck, lake_root, month, path, PURGE_KEYS)
                    written.append(lake_root / copy.path)
                    lake_copies.append(
                        (
                            file_id,
                            lake_manifest.FileRecord(month, copy.path, copy.rows, copy.sha256),
                        )
                    )
                    now_at[file_id] = copy.path
            people = pa.table({"person_id": sorted({e.person_id for e in pending})})
            summary_hits = lake_expiry.files_holding(
                duck, lake_root, [p for _, p in summaries], people, column="person"
            )
            concerned = temp_table(backend, CONCERNED, people)
            summary_copies: list[tuple[int, str, int]] = []
            for summary_id, path in summaries:
                if path in summary_hits:
                    sources = [lake_root / now_at[f] for f, _ in covered.get(summary_id, [])]
                    new_path, rows = rewrite_summary_redone(
                        backend, lake_root, path, sources, concerned
                    )
                    written.append(lake_root / new_path)
                    summary_copies.append((summary_id, new_path, rows))
            lake_rows = sum(lake_hits.values())

            def work(store: Connection) -> int:
                for file_id, record in lake_copies:
                    lake_manifest.replace_file(store, file_id, record)
                for summary_id, new_path, rows in summary_copies:
                    summary_manifest.replace(store, summary_id, new_path, rows)
                inbox_rows, states = expiry_rows.forget_event_rows(store, pending)
                expiry_rows.mark_purged(store, pending, now)
                audit.append(
                    store,
                    actor,
                    "retention.purged",
                    details={
                        "events": len(pending),
                        "lake_rows_removed": lake_rows,
                        "lake_files_rewritten": len(lake_copies),
                        "summary_files_rewritten": len(summary_copies),
                        "inbox_rows_removed": inbox_rows,
                        "item_states_removed": states,
                    },
                    now=now,
                )
                return inbox_rows

            inbox_rows = audit.audited_transaction(engine, work)
            written.clear()  # listed now: they are the lake
            for old in [*lake_hits, *summary_hits]:
                # A file left behind is unlisted: the next purge or opt-out deletes it.
                (lake_root / old).unlink(missing_ok=True)
    finally:
        for copy_path in written:
            copy_path.unlink(missing_ok=True)
        duck.close()
        backend.disconnect()
    return Purge(len(pending), lake_rows, len(lake_copies), len(summary_copies), inbox_rows)


def remove_expired_listings(
    engine: Engine, profile: Profile, now: dt.datetime, actor: str
) -> ListingRemoval:
    """Step 3: undo the links of closed listings past retention, then delete them."""
    cutoff = profile.retention_cutoff(profile.local_date(now))
    reason = f"the listing's retention ended (conduct ended by {cutoff.isoformat()})"

    def work(store: Connection) -> ListingRemoval:
        ids = expiry_rows.expired_listings(
            store, CLOSED_LISTING_STATUSES, cutoff, _closed_before(profile, cutoff)
        )
        if not ids:
            return ListingRemoval()
        undone = expiry_rows.undo_live_links(store, ids, actor, reason, now)
        access_log.record_many(
            store,
            [
                (
                    person_id,
                    actor,
                    "court list: listing removed at the end of its retention",
                    LISTING_WHAT,
                    {"listing_id": listing_id, "link_id": link_id, "undone": True},
                )
                for link_id, listing_id, person_id in undone
            ],
            now,
        )
        if undone:
            audit.append(
                store,
                actor,
                "retention.links_undone",
                details={"links": len(undone), "cutoff": cutoff.isoformat()},
                now=now,
            )
        removed: JsonObject = dict(expiry_rows.delete_listings(store, ids))
        audit.append(
            store,
            actor,
            "retention.listings_removed",
            details={"listings": len(ids), "rows_removed": removed, "cutoff": cutoff.isoformat()},
            now=now,
        )
        people = tuple(sorted({person_id for _, _, person_id in undone}))
        return ListingRemoval(len(ids), len(undone), people)

    return audit.audited_transaction(engine, work)


def sweep_retention(
    engine: Engine, lake_root: Path, profile: Profile, now: dt.datetime, actor: str
) -> RetentionRound:
    """The three steps, with the people each touched re-scored at once (cause retention)."""
    cutoff = profile.retention_cutoff(profile.local_date(now))
    years = profile.negative_retention_years
    expiry = expire_events(engine, lake_root, profile, now, actor)
    # Everyone with an expired event still in the lake: those just expired, and any whose
    # re-score a crash interrupted before their events were purged.
    with engine.connect() as store:
        waiting = sorted({event.person_id for event in expiry_rows.unpurged(store)})
    revisions = rescore_now(
        engine,
        lake_root,
        profile,
        waiting,
        CAUSE,
        f"expired by {cutoff.isoformat()}",
        f"negative items whose conduct ended on or before {cutoff.isoformat()} are past the "
        f"{years}-year retention of profile {profile.name} and no longer count",
        actor,
        now,
    )
    purge = purge_expired(engine, lake_root, now, actor)
    listings = remove_expired_listings(engine, profile, now, actor)
    revisions += rescore_now(
        engine,
        lake_root,
        profile,
        listings.people,
        CAUSE,
        f"listings removed by {cutoff.isoformat()}",
        f"court listings closed on or before {cutoff.isoformat()} are past the {years}-year "
        f"retention of profile {profile.name}: removed, and their links undone",
        actor,
        now,
    )
    people = tuple(sorted({*waiting, *listings.people}))
    return RetentionRound(cutoff, expiry, purge, listings, people, revisions)
