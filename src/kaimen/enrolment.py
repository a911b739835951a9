"""Enrolment: one person per national ID, protected at rest, one at a time or from a file.

A single enrolment of an ID that is already enrolled is a conflict. A bulk file is all or
nothing like event files, and replaying it is safe: rows that match an existing enrolment
exactly (same ID, same phone, same person id if given) are counted as already enrolled.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kaimen.domain import national_id
from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected, RowError
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.domain.phone import normalise_phone
from kaimen.input_files import LINE, locate, read_input
from kaimen.store import audit, people
from kaimen.store.identity_vault import IdentityVault

ENROL_COLUMNS = ("phone", "national_id", "person_id")
_PERSON_ID = re.compile(IDENTIFIER_PATTERN)


@dataclass(frozen=True)
class _Candidate:
    line: int
    person: people.NewPerson
    explicit_id: bool


@dataclass(frozen=True)
class EnrolmentReport:
    enrolled: int
    already_enrolled: int
    person_ids: list[str]


def new_person_id() -> str:
    """An opaque id that reveals nothing about the person."""
    return "P" + secrets.token_hex(8).upper()


def _prepare(
    vault: IdentityVault,
    rows: Sequence[Mapping[str, str | None]],
    lines: Sequence[int],
    today: dt.date,
) -> tuple[list[_Candidate], list[RowError]]:
    errors: list[RowError] = []
    check = national_id.check_many([r.get("national_id") or "" for r in rows], today)
    prepared: list[_Candidate] = []
    for row, line, normalised, reason, birth in zip(
        rows, lines, check.normalised, check.reasons, check.birth_dates, strict=True
    ):
        if not row.get("national_id"):
            errors.append(RowError(line, "national_id", "missing"))
        elif reason:
            errors.append(
                RowError(line, "national_id", f"{reason}: {national_id.reason_message(reason)}")
            )
        try:
            phone = normalise_phone(row.get("phone") or "")
        except IdentityRejected as exc:
            errors.append(RowError(line, "phone", f"{exc.reason}: {exc.message}"))
            phone = ""
        person_id = row.get("person_id") or new_person_id()
        if not _PERSON_ID.fullmatch(person_id):
            errors.append(
                RowError(line, "person_id", "must be 1-128 letters, digits or . _ : - characters")
            )
        if errors and errors[-1].line == line:
            continue
        person = people.NewPerson(
            person_id=person_id,
            birth_date=birth.astype(dt.date),
            national_id_hash=vault.lookup_hash("cn_resident_id", normalised),
            national_id_encrypted=vault.encrypt("cn_resident_id", normalised),
            phone_hash=vault.lookup_hash("phone", phone),
            phone_encrypted=vault.encrypt("phone", phone),
        )
        prepared.append(_Candidate(line, person, bool(row.get("person_id"))))
    return prepared, errors


def _first_seen(values: Sequence[str], lines: Sequence[int], field: str) -> list[RowError]:
    first: dict[str, int] = {}
    errors = []
    for value, line in zip(values, lines, strict=True):
        if value in first:
            errors.append(RowError(line, field, f"repeats line {first[value]}"))
        else:
            first[value] = line
    return errors


def enrol_many(
    engine: Engine,
    vault: IdentityVault,
    rows: Sequence[Mapping[str, str | None]],
    lines: Sequence[int],
    actor: str,
    now: dt.datetime | None = None,
    source: str = "file",
) -> EnrolmentReport:
    """Enrol every row or none; see the module docstring for replays."""
    now = now or dt.datetime.now(dt.UTC)
    prepared, errors = _prepare(vault, rows, lines, now.date())
    ok_lines = [c.line for c in prepared]
    errors += _first_seen([c.person.national_id_hash for c in prepared], ok_lines, "national_id")
    errors += _first_seen([c.person.phone_hash for c in prepared], ok_lines, "phone")
    errors += _first_seen([c.person.person_id for c in prepared], ok_lines, "person_id")
    if errors:
        raise BatchRejected(errors, "enrolment")
    with engine.begin() as store:
        id_owner = people.owners_of(
            store, "cn_resident_id", [c.person.national_id_hash for c in prepared]
        )
        phone_owner = people.owners_of(store, "phone", [c.person.phone_hash for c in prepared])
        taken_ids = people.existing_person_ids(store, [c.person.person_id for c in prepared])
        fresh: list[people.NewPerson] = []
        already: list[str] = []
        for candidate in prepared:
            person, line = candidate.person, candidate.line
            owner = id_owner.get(person.national_id_hash)
            if owner is not None:
                same = phone_owner.get(person.phone_hash) == owner and (
                    not candidate.explicit_id or owner == person.person_id
                )
                if same:
                    already.append(owner)
                else:
                    errors.append(RowError(line, "national_id", "identity_taken: already enrolled"))
                continue
            if person.phone_hash in phone_owner:
                errors.append(
                    RowError(line, "phone", "phone_taken: already enrolled for another person")
                )
            elif person.person_id in taken_ids:
                errors.append(RowError(line, "person_id", "person_id_taken: already in use"))
            else:
                fresh.append(person)
        if errors:
            raise BatchRejected(errors, "enrolment")
        people.insert_people(store, fresh, now)
        audit.append(
            store,
            actor,
            "people.enrolled",
            subject=fresh[0].person_id if len(fresh) == 1 else None,
            details={"source": source, "enrolled": len(fresh), "already": len(already)},
            now=now,
        )
    return EnrolmentReport(len(fresh), len(already), [p.person_id for p in fresh] + already)


def enrol_one(
    engine: Engine,
    vault: IdentityVault,
    phone: str,
    national_id_value: str,
    actor: str,
    person_id: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Enrol one person; raises `IdentityRejected` or `EnrolmentConflict` with the reason."""
    now = now or dt.datetime.now(dt.UTC)
    national_id.parse(national_id_value, now.date())
    normalise_phone(phone)
    row = {"phone": phone, "national_id": national_id_value, "person_id": person_id}
    try:
        report = enrol_many(engine, vault, [row], [1], actor, now, source="single")
    except BatchRejected as rejected:
        error = rejected.errors[0]
        reason, _, message = error.reason.partition(": ")
        raise EnrolmentConflict(reason, message or error.reason) from rejected
    if report.already_enrolled:
        raise EnrolmentConflict("identity_taken", "this national ID is already enrolled")
    return report.person_ids[0]


def enrol_file(
    engine: Engine, vault: IdentityVault, path: Path, actor: str, now: dt.datetime | None = None
) -> EnrolmentReport:
    """Enrol everyone in a CSV, JSON Lines or Parquet file with phone, national_id[, person_id]."""
    parsed = read_input(path, ENROL_COLUMNS)
    if parsed.errors:
        raise BatchRejected(locate(path, parsed.errors), parsed.name)
    lines = parsed.table.column(LINE).to_pylist()
    rows = parsed.table.drop_columns([LINE]).to_pylist()
    try:
        return enrol_many(engine, vault, rows, lines, actor, now)
    except BatchRejected as rejected:
        raise BatchRejected(locate(path, rejected.errors), parsed.name) from None
