"""What the store says must not count in a score, as the feature pipeline takes it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from sqlalchemy import Connection

from kaimen.domain.disputes import ItemKind
from kaimen.domain.profiles import Profile
from kaimen.features.exclusions import EXCLUDED_SCHEMA, ExcludedEvents
from kaimen.store import disputes, lake_manifest


def excluded_events(
    store: Connection, lake_root: Path, profile: Profile, person_id: str | None = None
) -> ExcludedEvents:
    """Events suppressed or corrected after a dispute, and those disputed and pending where
    the profile does not count a contested item (of one person, or everyone's)."""
    items = [
        item
        for item in disputes.excluded_items(store, profile.disputed_counts_while_pending, person_id)
        if item.item.kind is ItemKind.EVENT
    ]
    if not items:
        return ExcludedEvents()
    keys = [item.item.event_key() for item in items]
    table = pa.table(
        {
            "person_id": [item.person_id for item in items],
            "source": [source for source, _ in keys],
            "event_id": [event_id for _, event_id in keys],
        },
        schema=EXCLUDED_SCHEMA,
    )
    paths = [lake_root / path for path in lake_manifest.files(store)]
    return ExcludedEvents(table, paths)
