"""`kaimen payments import FILE` and `POST /v1/admin/payments`: payments of judgments into the
store, all or nothing (the same file twice is a no-op; a transaction id already held is
counted, not stored twice), matched against every listing still `entered`, and the matched
listings settled at once (see `settlement`). Payer names and ID numbers are hashed and
encrypted through the vault like the court list's, and never reach a log line, an error or
the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine

from kaimen.domain.court_list import ENROLLED_ID_KIND, NAME_KIND
from kaimen.domain.errors import BatchRejected, InputFileError, RowError
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.dueprocess.court_ids import new_ids
from kaimen.dueprocess.payment_rows import COLUMNS, CheckedPayments, check_payments
from kaimen.dueprocess.settlement import settle_listings
from kaimen.input_files import locate, read_input, records_table
from kaimen.matching.payment_records import OpenJudgment, Payment, PaymentMatch, Verdict
from kaimen.matching.payments import match_payments, normalise_names
from kaimen.store import audit
from kaimen.store import payments as payment_store
from kaimen.store.identity_vault import IdentityVault

FILE_TYPES = (".csv", ".jsonl", ".ndjson")
# Names are compared for matching under their own key, made fresh for each run from the
# normalised name (spaces, dots and case folded away) and never stored.
MATCH_NAME_KIND = "payment_match_name"


class PaymentsRejected(BatchRejected):
    """A payments file with at least one bad row: nothing of it was stored."""

    @property
    def detail(self) -> str:
        return f"{self.bad_lines} row(s) are invalid; nothing was stored"


@dataclass(frozen=True)
class PaymentImportReport:
    """What an import did. `people_changed`: the people whose listings changed status."""

    file_sha256: str
    rows: int
    already_held: int
    matched: int
    review: int
    unmatched: int
    replayed_file: bool
    settled_listings: tuple[str, ...]
    people_changed: tuple[str, ...]


def import_payments_file(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    path: Path,
    actor: str,
    now: dt.datetime | None = None,
) -> PaymentImportReport:
    """Import a CSV or JSON Lines file of payments (see `payment_rows.COLUMNS`); all or none."""
    if path.suffix.lower() not in FILE_TYPES:
        raise InputFileError(f"{path.name}: a payments file is a .csv or .jsonl file")
    parsed = read_input(path, COLUMNS)
    if parsed.errors:
        raise PaymentsRejected(locate(path, parsed.errors), parsed.name)
    try:
        return _import(
            engine, vault, profile, parsed.table, parsed.sha256, parsed.name, "file", actor, now
        )
    except PaymentsRejected as rejected:
        raise PaymentsRejected(locate(path, rejected.errors), parsed.name) from None


def import_payment_entries(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    entries: Sequence[Mapping[str, str | None]],
    actor: str,
    now: dt.datetime | None = None,
) -> PaymentImportReport:
    """Import payments sent over HTTP (line n is the n-th entry); the same entries twice (by
    content) are a no-op, like the same file twice."""
    table, errors = records_table(entries, COLUMNS)
    if errors:
        raise PaymentsRejected(errors, "payments")
    canonical = json.dumps([dict(e) for e in entries], sort_keys=True, separators=(",", ":"))
    sha256 = hashlib.sha256(canonical.encode()).hexdigest()
    return _import(engine, vault, profile, table, sha256, "api", "api", actor, now)


def _replay(seen: payment_store.PaymentImport) -> PaymentImportReport:
    return PaymentImportReport(seen.sha256, seen.rows, seen.rows, 0, 0, 0, True, (), ())


@dataclass(frozen=True)
class _Protected:
    name_hash: list[str | None]
    name_encrypted: list[str | None]
    id_hash: list[str | None]
    id_encrypted: list[str | None]
    name_key: list[str | None]


def _protect(vault: IdentityVault, rows: CheckedPayments) -> _Protected:
    """Names hashed as the court list hashes them (equal names, equal hashes in SQL), ID
    numbers as enrolment does, both encrypted; and each name's matching key."""
    names: list[str | None] = rows.payer_name.to_pylist()
    numbers: list[str | None] = rows.payer_id_number.to_pylist()

    def spread(values: list[str | None], made: list[str]) -> list[str | None]:
        out: list[str | None] = [None] * len(values)
        given = [i for i, v in enumerate(values) if v is not None]
        for i, value in zip(given, made, strict=True):
            out[i] = value
        return out

    named = [n for n in names if n is not None]
    numbered = [n for n in numbers if n is not None]
    return _Protected(
        name_hash=spread(names, vault.lookup_hashes(NAME_KIND, named)),
        name_encrypted=spread(names, vault.encrypt_many(NAME_KIND, named)),
        id_hash=spread(numbers, vault.lookup_hashes(ENROLLED_ID_KIND, numbered)),
        id_encrypted=spread(numbers, vault.encrypt_many(ENROLLED_ID_KIND, numbered)),
        name_key=spread(names, vault.lookup_hashes(MATCH_NAME_KIND, normalise_names(named))),
    )


def _open_judgments(store: Connection, vault: IdentityVault) -> list[OpenJudgment]:
    """Every listing still entered, as matching takes it."""
    listings = payment_store.listings_with_status(store, "entered")
    account_of = payment_store.accounts(store)
    names = normalise_names([vault.decrypt(NAME_KIND, x.name_encrypted) for x in listings])
    name_keys = vault.lookup_hashes(MATCH_NAME_KIND, names)
    return [
        OpenJudgment(
            listing_id=x.listing_id,
            case_number=x.case_number,
            court=x.court,
            amount_owed=x.amount,
            currency=x.currency,
            judgment_date=x.judgment_date,
            collection_account=account_of.get(x.court),
            person_id_key=x.id_hash,
            person_name_key=key,
        )
        for x, key in zip(listings, name_keys, strict=True)
    ]


def _import(
    engine: Engine,
    vault: IdentityVault,
    profile: Profile,
    table: pa.Table,
    sha256: str,
    name: str,
    channel: str,
    actor: str,
    now: dt.datetime | None,
) -> PaymentImportReport:
    stamp = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        seen = payment_store.import_by_hash(store, sha256)
    if seen is not None:
        return _replay(seen)
    rows = check_payments(table, profile.local_date(stamp))
    if rows.errors:
        raise PaymentsRejected(rows.errors, name)
    protected = _protect(vault, rows)
    transactions: list[str] = rows.transaction_id.to_pylist()
    amounts: list[Decimal] = rows.amount.to_pylist()
    currencies: list[str] = rows.currency.to_pylist()
    paid: list[dt.date] = rows.paid_on.to_pylist()
    accounts: list[str] = rows.destination_account.to_pylist()
    references: list[str] = rows.reference.to_pylist()

    def work(store: Connection) -> PaymentImportReport:
        held = payment_store.held_transactions(store, transactions)
        changed = _changed_resends(held, transactions, rows, protected)
        if changed:
            raise PaymentsRejected(changed, name)
        fresh = [i for i, t in enumerate(transactions) if t not in held]
        ids = new_ids("P", len(fresh))
        found = match_payments(
            [
                Payment(
                    payment_key=ids[k],
                    amount=amounts[i],
                    currency=currencies[i],
                    paid_on=paid[i],
                    destination_account=accounts[i],
                    reference=references[i],
                    payer_id_key=protected.id_hash[i],
                    payer_name_key=protected.name_key[i],
                )
                for k, i in enumerate(fresh)
            ],
            _open_judgments(store, vault),
        )
        import_id = payment_store.add_import(
            store,
            {
                "sha256": sha256,
                "name": name[:400],
                "channel": channel,
                "imported_at": stamp,
                "actor": actor,
                "rows": len(rows),
                "already_held": len(held),
                "matched": 0,
                "review": 0,
                "unmatched": 0,
            },
        )
        # The earliest payment of a listing settles it; later ones are matched to it too.
        order = sorted(range(len(fresh)), key=lambda k: (paid[fresh[k]], int(rows.line[fresh[k]])))
        settles: list[tuple[str, str, dt.date]] = []
        settled_by: dict[str, str] = {}
        notes: dict[int, str] = {}
        for k in order:
            match = found[k]
            if match.verdict is not Verdict.MATCHED or match.listing_id is None:
                continue
            first = settled_by.setdefault(match.listing_id, ids[k])
            if first == ids[k]:
                settles.append((match.listing_id, ids[k], paid[fresh[k]]))
            else:
                notes[k] = f"the listing was settled by payment {first}"
        payment_store.insert_payments(
            store,
            [
                _payment_row(ids[k], i, import_id, rows, protected, found[k], notes.get(k), stamp)
                for k, i in enumerate(fresh)
            ],
        )
        people = settle_listings(store, profile, settles, actor, stamp)
        counts = {
            verdict.value: sum(1 for m in found if m.verdict is verdict) for verdict in Verdict
        }
        payment_store.count_import(store, import_id, counts)
        audit.append(
            store,
            actor,
            "payments.imported",
            details={
                "sha256": sha256,
                "channel": channel,
                "rows": len(rows),
                "already_held": len(held),
                **counts,
                "settled_listings": [listing for listing, _, _ in settles],
            },
            now=stamp,
        )
        return PaymentImportReport(
            sha256,
            len(rows),
            len(held),
            counts["matched"],
            counts["review"],
            counts["unmatched"],
            False,
            tuple(listing for listing, _, _ in settles),
            tuple(people),
        )

    return audit.audited_transaction(engine, work)


def _changed_resends(
    held: dict[str, dict[str, Any]],
    transactions: list[str],
    rows: CheckedPayments,
    protected: _Protected,
) -> list[RowError]:
    """Each row that sends a transaction already held with other content, by field: a
    payment is a bank's record and is never changed by sending it again (a resend with
    another amount was counted as held and the change silently dropped)."""
    errors: list[RowError] = []
    for i, transaction in enumerate(transactions):
        stored = held.get(transaction)
        if stored is None:
            continue
        sent = {
            "amount": rows.amount[i].as_py(),
            "currency": rows.currency[i].as_py(),
            "paid_on": rows.paid_on[i].as_py(),
            "destination_account": rows.destination_account[i].as_py(),
            "reference": rows.reference[i].as_py(),
            "payer_id_hash": protected.id_hash[i],
            "payer_name_hash": protected.name_hash[i],
        }
        for field in payment_store.HELD_FIELDS:
            if sent[field] != stored[field]:
                errors.append(
                    RowError(
                        int(rows.line[i]),
                        _SENT_AS.get(field, field),
                        f"differs from payment {stored['payment_id']} already held under this "
                        "transaction id; a payment is not changed by sending it again",
                    )
                )
    return errors


# The field a row names for a stored column (the payer's number and name are kept hashed).
_SENT_AS = {"payer_id_hash": "payer_id_number", "payer_name_hash": "payer_name"}


def _payment_row(
    payment_id: str,
    i: int,
    import_id: int,
    rows: CheckedPayments,
    protected: _Protected,
    match: PaymentMatch,
    note: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "transaction_id": rows.transaction_id[i].as_py(),
        "import_id": import_id,
        "line": int(rows.line[i]),
        "payer_name_hash": protected.name_hash[i],
        "payer_name_encrypted": protected.name_encrypted[i],
        "payer_id_hash": protected.id_hash[i],
        "payer_id_encrypted": protected.id_encrypted[i],
        "amount": rows.amount[i].as_py(),
        "currency": rows.currency[i].as_py(),
        "paid_on": rows.paid_on[i].as_py(),
        "destination_account": rows.destination_account[i].as_py(),
        "reference": rows.reference[i].as_py(),
        "state": match.verdict.value,
        "listing_id": match.listing_id,
        "match_score": Decimal(f"{match.score:.4f}"),
        "evidence": _evidence(match),
        "received_at": now,
        "note": note,
    }


def _evidence(match: PaymentMatch) -> JsonObject | None:
    if match.evidence is None:
        return None
    return match.evidence.to_json() | {"runner_up_score": match.runner_up_score}
