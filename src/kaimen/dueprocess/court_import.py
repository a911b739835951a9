"""`kaimen courtlist import FILE` and `POST /v1/admin/court-list`: a court list into the store,
all or nothing, and the same file twice is a no-op.

A row whose (court, case number) is new becomes a listing. A row for a listing already held
may change its status (entered -> satisfied, say), which is recorded in the listing's
history; any other difference, or a change the listing's status cannot make, refuses the
whole file naming the row. Names and ID numbers are hashed and encrypted in bulk through the
vault and never reach a log line, an error or the audit log (which holds counts and the
file's hash). After the listings are stored, in the same transaction, every listing whose
full ID number is an enrolled person's is linked to them (see `identity_links`). Once that
has committed, the file's listings without a full ID number are resolved probabilistically
in a transaction of their own (see `probabilistic_links`): a failure there leaves the
import in place, and `resolve_listings` over all files takes them up again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine

from kaimen.domain.court_list import (
    ENROLLED_ID_KIND,
    FILE_LAGS,
    ID_PATTERN_KIND,
    ID_VALUE_KIND,
    NAME_KIND,
    RESTRICTIVE,
    transition_problem,
)
from kaimen.domain.errors import BatchRejected, InputFileError, RowError
from kaimen.dueprocess.court_ids import new_ids
from kaimen.dueprocess.court_rows import (
    COLUMNS,
    CheckedRows,
    case_key_of,
    case_keys,
    check_rows,
)
from kaimen.dueprocess.identity_links import (
    link_exact_in,
    record_listing_change,
)
from kaimen.dueprocess.probabilistic_links import resolve_listings
from kaimen.dueprocess.rescoring import Rescoring, rescore_touched
from kaimen.input_files import (
    LINE,
    bool_values,
    int64_array,
    locate,
    read_input,
    records_table,
    text_array,
)
from kaimen.store import audit, court_list
from kaimen.store.court_list import Listing
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.score_revisions import Revision

# Only these file types: a court list is text a court publishes.
FILE_TYPES = (".csv", ".jsonl", ".ndjson")


class CourtListRejected(BatchRejected):
    """A court list with at least one bad row: nothing of it was stored."""

    @property
    def detail(self) -> str:
        return f"{self.bad_lines} row(s) are invalid; nothing was stored"


@dataclass(frozen=True)
class ImportReport:
    """What an import did. `people_changed` are those whose standing changed (linked now, or
    a linked listing's status changed): the caller re-scores them."""

    file_sha256: str
    rows: int
    new_listings: int
    status_changes: int
    unchanged: int
    linked: int
    replayed_file: bool
    people_changed: tuple[str, ...]
    # The re-scores of people_changed, published at once.
    revisions: tuple[Revision, ...] = ()
    # Listings without a full ID number linked by probabilistic matching, and candidates
    # queued for review (see `probabilistic_links`).
    auto_linked: int = 0
    queued_for_review: int = 0


def import_file(
    engine: Engine,
    vault: IdentityVault,
    path: Path,
    actor: str,
    now: dt.datetime | None = None,
    rescoring: Rescoring | None = None,
) -> ImportReport:
    """Import a CSV or JSON Lines court list (see COLUMNS); all or nothing. The people whose
    standing changed are re-scored at once (given `rescoring`)."""
    if path.suffix.lower() not in FILE_TYPES:
        raise InputFileError(f"{path.name}: a court list is a .csv or .jsonl file")
    parsed = read_input(path, COLUMNS)
    try:
        report = _import(
            engine,
            vault,
            parsed.table,
            parsed.errors,
            parsed.sha256,
            parsed.name,
            "file",
            actor,
            now,
        )
    except BatchRejected as rejected:
        raise CourtListRejected(locate(path, rejected.errors), parsed.name) from None
    return _rescored(engine, rescoring, report, actor, now)


def _rescored(
    engine: Engine,
    rescoring: Rescoring | None,
    report: ImportReport,
    actor: str,
    now: dt.datetime | None,
) -> ImportReport:
    revisions = rescore_touched(
        engine,
        rescoring,
        report.people_changed,
        "court_list",
        report.file_sha256,
        "the court list changed: a judgment was linked to you or its status changed",
        actor,
        now,
    )
    return replace(report, revisions=revisions)


def import_entries(
    engine: Engine,
    vault: IdentityVault,
    entries: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
    rescoring: Rescoring | None = None,
) -> ImportReport:
    """Import entries sent over HTTP (each a mapping of COLUMNS); line n is the n-th entry.
    The same entries twice (by content) are a no-op, like the same file twice."""
    table, errors = records_table(entries, COLUMNS)
    canonical = json.dumps([dict(e) for e in entries], sort_keys=True, separators=(",", ":"))
    sha256 = hashlib.sha256(canonical.encode()).hexdigest()
    report = _import(engine, vault, table, errors, sha256, "api", "api", actor, now)
    return _rescored(engine, rescoring, report, actor, now)


@dataclass(frozen=True)
class _Protected:
    """The hashes and ciphertexts of each good row's name and ID number."""

    name_hash: list[str]
    name_encrypted: list[str]
    id_hash: list[str | None]
    id_pattern_hash: list[str | None]
    id_encrypted: list[str]


def _protect(vault: IdentityVault, rows: CheckedRows) -> _Protected:
    names: list[str] = rows.name.to_pylist()
    numbers: list[str] = rows.id_number.to_pylist()
    full = np.array(rows.id_form.to_pylist()) == "full"
    full_at = np.flatnonzero(full)
    pattern_at = np.flatnonzero(~full)
    id_hash: list[str | None] = [None] * len(rows)
    pattern_hash: list[str | None] = [None] * len(rows)
    for at, digest in zip(
        full_at,
        vault.lookup_hashes(ENROLLED_ID_KIND, [numbers[i] for i in full_at]),
        strict=True,
    ):
        id_hash[at] = digest
    for at, digest in zip(
        pattern_at,
        vault.lookup_hashes(ID_PATTERN_KIND, [numbers[i] for i in pattern_at]),
        strict=True,
    ):
        pattern_hash[at] = digest
    return _Protected(
        name_hash=vault.lookup_hashes(NAME_KIND, names),
        name_encrypted=vault.encrypt_many(NAME_KIND, names),
        id_hash=id_hash,
        id_pattern_hash=pattern_hash,
        id_encrypted=vault.encrypt_many(ID_VALUE_KIND, numbers),
    )


def _held_keys(held: Mapping[tuple[str, str], Listing]) -> pa.Array:
    return text_array([f"{court}\x1f{key}" for court, key in held])


def _against_held(
    rows: CheckedRows, protected: _Protected, held: Mapping[tuple[str, str], Listing]
) -> tuple[list[int], list[tuple[int, Listing]], list[RowError]]:
    """(rows that are new listings, (row, listing) pairs whose status changes, errors)."""
    keys = case_keys(rows.court, rows.case_number)
    where = pc.index_in(keys, value_set=_held_keys(held))
    listings = list(held.values())
    changes: list[tuple[int, Listing]] = []
    errors: list[RowError] = []
    found = where.to_pylist()
    statuses: list[str] = rows.status.to_pylist()
    known = bool_values(pc.is_valid(where))
    new = [int(i) for i in np.flatnonzero(~known)]
    amounts = rows.amount.to_pylist()
    currencies = rows.currency.to_pylist()
    judged = rows.judgment_date.to_pylist()
    # Only rows naming a listing already held are compared one by one: few, next to a list.
    for row in np.flatnonzero(known):
        listing = listings[found[row]]
        line = int(rows.line[row])
        differs = [
            field
            for field, same in (
                ("name", protected.name_hash[row] == listing.name_hash),
                (
                    "id_number",
                    protected.id_hash[row] == listing.id_hash
                    and protected.id_pattern_hash[row] == listing.id_pattern_hash,
                ),
                ("amount", amounts[row] == listing.amount),
                ("currency", currencies[row] == listing.currency),
                ("judgment_date", judged[row] == listing.judgment_date),
            )
            if not same
        ]
        for field in differs:
            errors.append(
                RowError(
                    line,
                    field,
                    f"differs from listing {listing.listing_id} already held; only its status "
                    "may change (a correction is disputed, not re-imported)",
                )
            )
        if (listing.status, statuses[row]) in FILE_LAGS:
            continue
        problem = transition_problem(listing.status, statuses[row])
        if problem:
            errors.append(RowError(line, "status", f"listing {listing.listing_id}: {problem}"))
        elif not differs and statuses[row] != listing.status:
            changes.append((int(row), listing))
    return new, changes, errors


def _listing_rows(
    rows: CheckedRows,
    protected: _Protected,
    new: list[int],
    file_id: int,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    ids = new_ids("L", len(new))
    at = int64_array(np.array(new, dtype=np.int64))

    def column(array: pa.Array) -> list[Any]:
        return list(pc.take(array, at).to_pylist())

    courts, cases, amounts = column(rows.court), column(rows.case_number), column(rows.amount)
    case_keys_of_new = column(case_key_of(rows.case_number))
    currencies, dates = column(rows.currency), column(rows.judgment_date)
    statuses, forms, births = column(rows.status), column(rows.id_form), column(rows.birth_date)
    return [
        {
            "listing_id": ids[k],
            "court": courts[k],
            "case_number": cases[k],
            "case_key": case_keys_of_new[k],
            "amount": amounts[k],
            "currency": currencies[k],
            "judgment_date": dates[k],
            "status": statuses[k],
            "name_hash": protected.name_hash[i],
            "name_encrypted": protected.name_encrypted[i],
            "id_form": forms[k],
            "id_hash": protected.id_hash[i],
            "id_pattern_hash": protected.id_pattern_hash[i],
            "id_encrypted": protected.id_encrypted[i],
            "birth_date": births[k],
            "file_id": file_id,
            "imported_at": now,
            "updated_at": now,
        }
        for k, i in enumerate(new)
    ]


def _import(
    engine: Engine,
    vault: IdentityVault,
    table: pa.Table,
    structural: list[RowError],
    sha256: str,
    name: str,
    channel: str,
    actor: str,
    now: dt.datetime | None,
) -> ImportReport:
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        seen = court_list.file_by_hash(store, sha256)
    if seen is not None:
        return _replay(seen)
    rows = check_rows(table, now.date())
    if structural or rows.errors:
        raise CourtListRejected(structural + rows.errors, name)
    protected = _protect(vault, rows)
    statuses: list[str] = rows.status.to_pylist()
    source = f"{channel}:{sha256[:16]}"

    def work(store: Connection) -> ImportReport:
        again = court_list.file_by_hash(store, sha256)
        if again is not None:
            return _replay(again)
        courts: list[str] = rows.court.to_pylist()
        cases: list[str] = rows.case_number.to_pylist()
        held = court_list.listings_for_cases(store, list(zip(courts, cases, strict=True)))
        new, changes, errors = _against_held(rows, protected, held)
        if errors:
            raise CourtListRejected(errors, name)
        file_id = court_list.add_file(
            store, sha256, name, channel, actor, now, len(rows), len(new), len(changes)
        )
        listing_rows = _listing_rows(rows, protected, new, file_id, now)
        court_list.insert_listings(store, listing_rows)
        court_list.set_statuses(
            store, [(listing.listing_id, statuses[row]) for row, listing in changes], now
        )
        history = [
            {"listing_id": r["listing_id"], "old_status": None, "new_status": r["status"]}
            for r in listing_rows
        ] + [
            {
                "listing_id": listing.listing_id,
                "old_status": listing.status,
                "new_status": statuses[row],
            }
            for row, listing in changes
        ]
        court_list.add_history(
            store,
            [
                {**h, "changed_at": now, "source": source, "file_id": file_id, "actor": actor}
                for h in history
            ],
        )
        audit.append(
            store,
            actor,
            "court_list.imported",
            details={
                "file_sha256": sha256,
                "channel": channel,
                "rows": len(rows),
                "new_listings": len(new),
                "status_changes": len(changes),
            },
            now=now,
        )
        # A linked listing whose status moves in or out of the restrictive ones changes
        # the standing of the person it is linked to.
        touched = [
            (listing.listing_id, listing.status, statuses[row])
            for row, listing in changes
            if (listing.status in RESTRICTIVE) != (statuses[row] in RESTRICTIVE)
        ]
        changed = record_listing_change(store, touched, actor, now)
        linked = link_exact_in(store, actor, now)
        return ImportReport(
            sha256,
            len(rows),
            len(new),
            len(changes),
            len(rows) - len(new) - len(changes),
            len(linked),
            False,
            tuple(sorted(set(changed) | set(linked))),
        )

    imported = audit.audited_transaction(engine, work)
    return imported if imported.replayed_file else _resolved(engine, vault, imported, actor, now)


def _resolved(
    engine: Engine, vault: IdentityVault, imported: ImportReport, actor: str, now: dt.datetime
) -> ImportReport:
    """`imported` after its file's listings without a full ID number were resolved."""
    with engine.connect() as store:
        held = court_list.file_by_hash(store, imported.file_sha256)
    assert held is not None
    resolved = resolve_listings(engine, vault, actor, now, file_id=held.file_id)
    return replace(
        imported,
        auto_linked=resolved.auto_linked,
        queued_for_review=resolved.queued,
        people_changed=tuple(sorted({*imported.people_changed, *resolved.people_changed})),
    )


def _replay(seen: court_list.ImportedFile) -> ImportReport:
    return ImportReport(seen.sha256, seen.rows, 0, 0, seen.rows, 0, True, ())


__all__ = [
    "COLUMNS",
    "LINE",
    "CourtListRejected",
    "ImportReport",
    "import_entries",
    "import_file",
]
