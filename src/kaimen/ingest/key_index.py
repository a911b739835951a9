"""Bringing the key index up to a lake written before it existed (revision 0008).

The migration indexes what the inbox holds, but cannot read the lake (its root is
configuration). `catch_up` indexes the keys of every listed lake file that the index does
not know yet; run it once after upgrading a store that already had a lake (`kaimen lake index-keys`). It holds the
lake's lock, so no ingest runs meanwhile, and it is idempotent.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.engines.embedded import connect
from kaimen.ingest.deduplication import CONTENT_HASH_SQL
from kaimen.lake import reader
from kaimen.lake.writer import exclusive
from kaimen.store import audit, event_keys, lake_manifest


def catch_up(engine: Engine, lake_root: Path, actor: str, memory_limit: str | None = None) -> int:
    """Index the lake's events missing from the key index; how many were added."""
    connection = connect(memory_limit=memory_limit, temp_directory=lake_root / "_spill")
    try:
        with exclusive(lake_root):
            with engine.connect() as store:
                files = lake_manifest.files(store)
            if not files:
                return 0
            # The first recorded version of a key, as readers count it.
            key_hash, key_check = event_keys.key_sql()
            held = connection.sql(
                f"SELECT source, event_id, {CONTENT_HASH_SQL} AS content_hash, "
                f"{key_hash} AS {event_keys.KEY_HASH}, {key_check} AS {event_keys.KEY_CHECK} "
                f"FROM {reader.files_sql(lake_root, files)} QUALIFY row_number() OVER "
                "(PARTITION BY source, event_id ORDER BY recorded_at, occurred_at) = 1 "
                f"ORDER BY {event_keys.KEY_HASH}"
            ).to_arrow_table()
            assert held is not None
            keys = list(
                zip(
                    held.column("source").to_pylist(),
                    held.column("event_id").to_pylist(),
                    strict=True,
                )
            )
            with engine.connect() as store:
                known = event_keys.lookup(store, keys)
            indexed = pc.binary_join_element_wise(known.column(0), known.column(1), "\x1f")
            joined = pc.binary_join_element_wise(
                held.column("source"), held.column("event_id"), "\x1f"
            )
            missing = held.filter(pc.invert(pc.is_in(joined, value_set=indexed)))
            with engine.begin() as store:
                event_keys.add(store, missing, careful=True)
                if missing.num_rows:
                    audit.append(
                        store,
                        actor,
                        "events.keys_indexed",
                        details={"keys": int(missing.num_rows), "lake_files": len(files)},
                    )
            return int(missing.num_rows)
    finally:
        connection.close()
