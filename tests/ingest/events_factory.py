"""Small helpers for event tests: enrolled people, valid events per kind, input files, state."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select

from kaimen.domain.errors import BatchRejected
from kaimen.engines.embedded import connect
from kaimen.enrolment import enrol_many
from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.lake import reader
from kaimen.store import lake_manifest
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import audit_log, event_inbox, ingest_batches, lake_files
from tests.conftest import NOW, make_national_id

# person_id -> birth date (YYYYMMDD) in their national ID.
PEOPLE = {"P001": "19900307", "P002": "19851201", "P003": "20010615", "P004": "19700120"}
BIRTH_DATES = {p: f"{b[:4]}-{b[4:6]}-{b[6:]}" for p, b in PEOPLE.items()}

PAYLOADS: dict[str, dict[str, str]] = {
    "payment": {"amount": "12.50", "currency": "CNY", "merchant_category": "groceries"},
    "loan_repayment": {
        "amount": "500.00",
        "currency": "CNY",
        "due_date": "2026-08-10",
        "paid_date": "2026-08-09",
        "status": "on_time",
        "partner": "bank-a",
    },
    "bill_repayment": {
        "amount": "88.00",
        "currency": "CNY",
        "due_date": "2026-08-10",
        "paid_date": "2026-08-15",
        "status": "late",
    },
    "rent_payment": {
        "amount": "3000",
        "currency": "CNY",
        "due_date": "2026-09-01",
        "status": "defaulted",
    },
    "utility_payment": {
        "amount": "61.3",
        "currency": "CNY",
        "due_date": "2026-09-20",
        "paid_date": "2026-09-20",
        "status": "on_time",
    },
    "rental": {"partner": "bikes.co", "item": "bike", "deposit": "waived", "outcome": "returned"},
    "fine": {"amount": "200.00", "currency": "CNY", "status": "issued", "case_number": "F-17"},
    "attribute": {"attribute": "education", "value": "bachelor"},
    "friend_link": {"friend_id": "P002", "action": "added"},
    "donation": {"amount": "50.00", "currency": "USD"},
    "court_judgment": {
        "case_number": "(2026) Jing 01",
        "court": "Beijing No.1",
        "status": "entered",
    },
}


def enrol(engine: Engine, vault: IdentityVault) -> list[str]:
    """Enrol the four PEOPLE with fixed person ids; returns the ids."""
    rows = [
        {
            "phone": f"1380000{i:04d}",
            "national_id": make_national_id(birth=birth, sequence=f"{i:03d}"),
            "person_id": person,
        }
        for i, (person, birth) in enumerate(PEOPLE.items(), start=1)
    ]
    enrol_many(engine, vault, rows, list(range(1, len(rows) + 1)), "test", now=NOW)
    return list(PEOPLE)


def event(
    kind: str,
    event_id: str,
    person_id: str = "P001",
    *,
    source: str = "bank-a",
    occurred_at: str = "2026-09-15T10:00:00+08:00",
    **fields: str | None,
) -> dict[str, str]:
    """A valid event of `kind`; keyword fields override it (None removes a field)."""
    merged: dict[str, str | None] = {
        "source": source,
        "event_id": event_id,
        "person_id": person_id,
        "kind": kind,
        "occurred_at": occurred_at,
        **PAYLOADS.get(kind, {}),
        **fields,
    }
    return {k: v for k, v in merged.items() if v is not None}


def sample_events(
    count: int = 44, source: str = "bank-a", prefix: str = "e"
) -> list[dict[str, str]]:
    """`count` valid events cycling over every kind, the four people and three months."""
    kinds, people = list(PAYLOADS), list(PEOPLE)
    events = []
    for i in range(count):
        kind, person = kinds[i % len(kinds)], people[(i // len(kinds)) % len(people)]
        month, day, hour = 8 + i % 3, 1 + (i * 7) % 28, (i * 5) % 24
        occurred = f"2026-{month:02d}-{day:02d}T{hour:02d}:30:00+08:00"
        extra: dict[str, str] = {}
        if i % 2:
            extra["recorded_at"] = f"2026-{month:02d}-{day:02d}T{hour:02d}:45:00+08:00"
        if kind == "friend_link":
            extra["friend_id"] = people[(people.index(person) + 1) % len(people)]
        events.append(
            event(kind, f"{prefix}{i:03d}", person, source=source, occurred_at=occurred, **extra)
        )
    return events


def columns_of(events: Iterable[dict[str, Any]]) -> list[str]:
    """Catalogue columns used by `events` in catalogue order, then any unknown ones."""
    used: dict[str, None] = {}
    for e in events:
        used.update(dict.fromkeys(e))
    return [c for c in INPUT_COLUMNS if c in used] + [c for c in used if c not in INPUT_COLUMNS]


def write_csv(path: Path, events: Sequence[dict[str, Any]]) -> Path:
    columns = columns_of(events)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([e.get(c, "") for c in columns] for e in events)
    return path


def write_jsonl(path: Path, events: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def write_parquet(path: Path, events: Sequence[dict[str, Any]]) -> Path:
    columns = columns_of(events)
    data = {c: pa.array([e.get(c) for e in events], pa.string()) for c in columns}
    pq.write_table(pa.table(data), path)
    return path


def write(path: Path, events: Sequence[dict[str, Any]]) -> Path:
    """Write `events` in the format named by the file's extension."""
    writers = {".csv": write_csv, ".jsonl": write_jsonl, ".parquet": write_parquet}
    return writers[path.suffix](path, events)


def problems(rejected: BatchRejected) -> list[tuple[int, str, str]]:
    return [(e.line, e.field, e.reason) for e in rejected.errors]


def lake_events(engine: Engine, lake_root: Path) -> list[dict[str, Any]]:
    """Every event the store lists in the lake, deduplicated, ordered by (source, event_id)."""
    with engine.connect() as store:
        files = lake_manifest.files(store)
    connection = connect()
    try:
        relation = reader.events(connection, lake_root, files).order("source, event_id")
        return list(relation.to_arrow_table().to_pylist())
    finally:
        connection.close()


def raw_rows(lake_root: Path) -> int:
    """Rows in every Parquet file under the lake, listed or not, duplicates included."""
    return sum(pq.read_metadata(p).num_rows for p in lake_root.rglob("*.parquet"))


def state(engine: Engine, lake_root: Path) -> dict[str, Any]:
    """Row counts of the tables ingestion writes, plus the Parquet files on disk."""
    with engine.connect() as store:
        counts = {
            t.name: store.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (ingest_batches, lake_files, event_inbox, audit_log)
        }
    on_disk = sorted(str(p.relative_to(lake_root)) for p in lake_root.rglob("*.parquet"))
    return {**counts, "parquet_files": on_disk}
