"""What the store says must not count in a score, as the feature pipeline takes it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from sqlalchemy import Connection

from kaimen.domain.disputes import ItemKind
from kaimen.domain.profiles import Profile
from kaimen.features.exclusions import EXCLUDED_SCHEMA, ExcludedEvents
from kaimen.store import disputes, lake_manifest, retention


def excluded_events(
    store: Connection, lake_root: Path, profile: Profile, person_id: str | None = None
) -> ExcludedEvents:
    """Events suppressed or corrected after a dispute, those disputed and pending where the
    profile does not count a contested item, and those past retention not yet purged (of one
    person, or everyone's): one list, so an expired event stops counting by the same path
    as a suppressed one."""
    items = [
        item
        for item in disputes.excluded_items(store, profile.disputed_counts_while_pending, person_id)
        if item.item.kind is ItemKind.EVENT
    ]
    keys = [item.item.event_key() for item in items]
    disputed = pa.table(
        {
            "person_id": [item.person_id for item in items],
            "source": [source for source, _ in keys],
            "event_id": [event_id for _, event_id in keys],
        },
        schema=EXCLUDED_SCHEMA,
    )
    expired = retention.keys_table(retention.unpurged(store, person_id))
    table = pa.concat_tables([disputed, expired.cast(EXCLUDED_SCHEMA)])
    if table.num_rows == 0:
        return ExcludedEvents()
    paths = [lake_root / path for path in lake_manifest.files(store)]
    return ExcludedEvents(table, paths)
