"""Enrolment: one person per national ID, protected at rest, one at a time or from a file.

A single enrolment of an ID that is already enrolled is a conflict. A bulk file is all or
nothing like event files, and replaying it is safe: rows that match an existing enrolment
exactly (same ID, same phone, same person id if given) are counted as already enrolled (a
replay does not change the name held).

A name is optional (`kaimen.domain.person_names` says what one may hold; a blank cell is no
name). It is kept like the phone and the ID number, encrypted and behind a keyed hash of its
comparable form (`kaimen.store.name_index`), for matching court listings to people.

Every enrolment, one person or a file, takes the bulk path: the file's columns are checked in
Arrow and NumPy (only phones not already in final form go through `normalise_phone` one by
one), repeats are found by dictionary encoding, the vault hashes and encrypts in tight loops,
and the store writes through the driver (COPY or `executemany`) inside the one transaction
that also holds the audit row. Nothing here imports pandas: reading a CSV must not cost a
second of imports.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine

from kaimen.domain import national_id
from kaimen.domain.audit_groups import TRAITS_KIND, traits_of
from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected, RowError
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.domain.person_names import (
    ALLOWED,
    CHARACTERS_MESSAGE,
    LENGTH_MESSAGE,
    MAX_NAME_CHARACTERS,
    NAME_KIND,
    NAME_REASON,
    WHITESPACE,
    check_name,
)
from kaimen.domain.phone import normalise_phone
from kaimen.input_files import (
    LINE,
    bool_values,
    int64_array,
    int64_values,
    locate,
    read_input,
    records_table,
    text_array,
)
from kaimen.store import audit, name_index, people
from kaimen.store.identity_vault import IdentityVault

ENROL_COLUMNS = ("phone", "national_id", "person_id", "name")
Mask = npt.NDArray[np.bool_]
# Phones already in a final form (E.164, a +86 one a mobile; or a bare mainland mobile) are
# judged here in bulk; anything else (separators, 00 prefix, errors) by `normalise_phone`.
_E164 = r"^\+[1-9][0-9]{7,14}$"
_CN_E164 = r"^\+861[3-9][0-9]{9}$"
_CN_MOBILE = r"^1[3-9][0-9]{9}$"
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_ID_BYTES = 8
# Tries of an enrolment that lost a race for an identity or an audit slot (see `_enrol_table`).
ENROL_ATTEMPTS = 12


@dataclass(frozen=True)
class EnrolmentReport:
    enrolled: int
    already_enrolled: int
    person_ids: list[str]


def new_person_id() -> str:
    """An opaque id that reveals nothing about the person."""
    return "P" + secrets.token_hex(_ID_BYTES).upper()


def _new_person_ids(count: int) -> pa.Array:
    """`count` ids like `new_person_id`, from one draw of random bytes."""
    raw = np.frombuffer(os.urandom(_ID_BYTES * count), dtype=np.uint8).reshape(count, _ID_BYTES)
    text = np.empty((count, 1 + 2 * _ID_BYTES), dtype=np.uint8)
    text[:, 0] = ord("P")
    text[:, 1::2] = _HEX[raw >> 4]
    text[:, 2::2] = _HEX[raw & 15]
    fixed = pa.Array.from_buffers(pa.binary(text.shape[1]), count, [None, pa.py_buffer(text)])
    return pc.cast(pc.cast(fixed, pa.binary()), pa.string())


def _text(value: str) -> pa.Scalar:
    """An Arrow text scalar (`pa.scalar` and plain Python arguments load pandas)."""
    return text_array([value])[0]


def _mask(array: pa.Array | pa.ChunkedArray) -> Mask:
    """A boolean Arrow result as NumPy, null as False."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return bool_values(array)


def _errors_at(rows: Mask, lines: npt.NDArray[np.int64], field: str, reason: str) -> list[RowError]:
    return [RowError(int(line), field, reason) for line in lines[rows]]


@dataclass(frozen=True)
class _Checked:
    """Each row's normalised values and whether it passed its own checks."""

    national_id: pa.Array
    birth_date: npt.NDArray[np.datetime64]
    phone: pa.Array
    person_id: pa.Array
    name: pa.Array  # normalised; null where none was given
    explicit_id: Mask
    ok: Mask
    errors: list[RowError]


def _check_phones(
    raw: pa.Array, lines: npt.NDArray[np.int64]
) -> tuple[pa.Array, Mask, list[RowError]]:
    plus = _mask(pc.match_substring_regex(raw, _E164))
    plus &= ~_mask(pc.starts_with(raw, "+86")) | _mask(pc.match_substring_regex(raw, _CN_E164))
    is_bare = pc.match_substring_regex(raw, _CN_MOBILE)
    bare = _mask(is_bare)
    normalised = pc.if_else(is_bare, pc.binary_join_element_wise(_text("+86"), raw, _text("")), raw)
    others = np.flatnonzero(~(plus | bare))
    if not len(others):
        return normalised, np.ones(len(raw), dtype=bool), []
    ok = np.ones(len(raw), dtype=bool)
    errors: list[RowError] = []
    values: list[str | None] = normalised.to_pylist()
    for index in others:  # the rare rows not already in final form
        try:
            values[index] = normalise_phone(values[index] or "")
        except IdentityRejected as exc:
            ok[index] = False
            errors.append(RowError(int(lines[index]), "phone", f"{exc.reason}: {exc.message}"))
    return text_array(values), ok, errors


def _column(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def _check_names(
    raw: pa.Array, lines: npt.NDArray[np.int64]
) -> tuple[pa.Array, Mask, list[RowError]]:
    """Names as `person_names.normalise_name` leaves them (null for a blank cell), whether
    each row's passed, and the errors, all in Arrow."""
    spaced = pc.replace_substring_regex(pc.utf8_normalize(raw, "NFC"), WHITESPACE, " ")
    name = pc.utf8_trim(spaced, " ")
    given = pc.and_kleene(pc.is_valid(name), pc.not_equal(name, _text("")))
    length = int64_values(pc.utf8_length(pc.fill_null(name, _text(""))))
    fits = _mask(given) & (length <= MAX_NAME_CHARACTERS)
    too_long = _mask(given) & ~fits
    bad = fits & ~_mask(pc.match_substring_regex(name, ALLOWED))
    errors = _errors_at(too_long, lines, "name", f"{NAME_REASON}: {LENGTH_MESSAGE}")
    errors += _errors_at(bad, lines, "name", f"{NAME_REASON}: {CHARACTERS_MESSAGE}")
    return pc.if_else(given, name, pa.nulls(len(raw), pa.string())), ~(too_long | bad), errors


def _check_rows(table: pa.Table, today: dt.date) -> _Checked:
    lines = int64_values(_column(table, LINE))
    raw_id = _column(table, "national_id")
    check = national_id.check_many([v or "" for v in raw_id.to_pylist()], today)
    missing = ~_mask(pc.not_equal(raw_id, _text("")))
    reasons = np.array(check.reasons, dtype=object)
    invalid = ~missing & (reasons != "")
    errors = _errors_at(missing, lines, "national_id", "missing")
    errors += [
        RowError(int(line), "national_id", f"{reason}: {national_id.reason_message(reason)}")
        for line, reason in zip(lines[invalid], reasons[invalid], strict=True)
    ]
    phone, phone_ok, phone_errors = _check_phones(_column(table, "phone"), lines)
    errors += phone_errors
    name, name_ok, name_errors = _check_names(_column(table, "name"), lines)
    errors += name_errors
    given = _column(table, "person_id")
    is_given = pc.and_kleene(pc.is_valid(given), pc.not_equal(given, _text("")))
    explicit = _mask(is_given)
    well_formed = _mask(pc.match_substring_regex(given, f"^{IDENTIFIER_PATTERN}$"))
    bad_id = explicit & ~well_formed
    errors += _errors_at(
        bad_id, lines, "person_id", "must be 1-128 letters, digits or . _ : - characters"
    )
    return _Checked(
        national_id=text_array(check.normalised),
        birth_date=check.birth_dates,
        phone=phone,
        person_id=pc.if_else(is_given, given, _new_person_ids(len(lines))),
        name=name,
        explicit_id=explicit,
        ok=~missing & ~invalid & phone_ok & name_ok & ~bad_id,
        errors=errors,
    )


def _repeats(values: pa.Array, lines: npt.NDArray[np.int64], field: str) -> list[RowError]:
    """Each row whose value an earlier row already has, naming that row."""
    codes = int64_values(pc.dictionary_encode(values).indices)
    # Dictionary codes count up in order of first appearance.
    _, first = np.unique(codes, return_index=True)
    first_row = first[codes]
    later = np.flatnonzero(first_row != np.arange(len(codes)))
    return [RowError(int(lines[i]), field, f"repeats line {lines[first_row[i]]}") for i in later]


def _owners(keys: pa.Array, found: dict[str, str]) -> pa.Array:
    """The owner of each key in `found`, null where it has none."""
    if not found:
        return pa.nulls(len(keys), pa.string())
    where = pc.index_in(keys, value_set=text_array(list(found)))
    return pc.take(text_array(list(found.values())), where)


def _rows(mask: Mask) -> pa.Array:
    """Positions where `mask` holds, for `pc.take` (a NumPy mask given to Arrow imports pandas)."""
    return int64_array(np.flatnonzero(mask))


def _sealed_names(
    vault: IdentityVault, names: pa.Array, person_ids: pa.Array
) -> tuple[list[str | None], list[str | None]] | None:
    """Lookup hash and ciphertext of each given name (None where none), or None when no row
    has one. Matching's name reading (pypinyin) is loaded only when a name is given."""
    if names.null_count == len(names):
        return None
    from kaimen.matching.names import normalise_names

    given = _mask(pc.is_valid(names))
    at = _rows(given)
    named = pc.take(names, at)
    keys = pc.fill_null(normalise_names(named)["name_unordered"], _text("")).to_pylist()
    digests = name_index.lookup_hashes(vault, keys, pc.take(person_ids, at).to_pylist())
    ciphers = vault.encrypt_many(NAME_KIND, named.to_pylist())
    # Each row's place among the named rows; rows without a name get null.
    place = int64_array(np.maximum(np.cumsum(given) - 1, 0))
    valid = pc.is_valid(names)

    def spread(values: list[str]) -> list[str | None]:
        taken = pc.take(text_array(list(values)), place)
        return list(pc.if_else(valid, taken, pa.nulls(len(names), pa.string())).to_pylist())

    return spread(digests), spread(ciphers)


@dataclass(frozen=True)
class _Held:
    """Who already holds each row's ID number and phone (null where nobody), and which of
    the rows' person ids are already in use."""

    id_owner: pa.Array
    phone_owner: pa.Array
    person_ids_in_use: pa.Array


def _held(store: Connection, id_hash: pa.Array, phone_hash: pa.Array, person_id: pa.Array) -> _Held:
    # The phone first: a concurrent enrolment committing between the two reads then shows as
    # the identity taken (what it is), never as only the phone taken.
    phone_owner = _owners(phone_hash, people.owners_of(store, "phone", phone_hash.to_pylist()))
    id_owner = _owners(id_hash, people.owners_of(store, "cn_resident_id", id_hash.to_pylist()))
    in_use = people.existing_person_ids(store, person_id.to_pylist())
    return _Held(id_owner, phone_owner, text_array(list(in_use)))


def _nobody(count: int) -> _Held:
    """What `_held` finds in a store that holds none of the rows."""
    nobody = pa.nulls(count, pa.string())
    return _Held(nobody, nobody, text_array([]))


def _enrol_table(
    engine: Engine,
    vault: IdentityVault,
    table: pa.Table,
    actor: str,
    now: dt.datetime,
    source: str,
) -> EnrolmentReport:
    """Enrol every row of `table` (ENROL_COLUMNS as text, plus `_line`) or none."""
    checked = _check_rows(table, now.date())
    errors = checked.errors
    keep = _rows(checked.ok)
    lines = int64_values(_column(table, LINE))[checked.ok]
    person_id = pc.take(checked.person_id, keep)
    id_value = pc.take(checked.national_id, keep)
    phone = pc.take(checked.phone, keep)
    errors += _repeats(id_value, lines, "national_id")
    errors += _repeats(phone, lines, "phone")
    errors += _repeats(person_id, lines, "person_id")
    if errors:
        raise BatchRejected(errors, "enrolment")
    explicit = checked.explicit_id[checked.ok]
    id_hash = text_array(vault.lookup_hashes("cn_resident_id", id_value.to_pylist()))
    phone_hash = text_array(vault.lookup_hashes("phone", phone.to_pylist()))

    # Most files bring only new people, and looking every row up costs as much as a tenth of
    # the write. So the first try looks nobody up and writes: the unique indexes on the ID
    # number, the phone and the person id refuse the whole write if anyone is already there
    # (nothing is kept), and every later try looks each row up and answers row by row
    # (replays, conflicts), as when two enrolments race.
    looked_up = False

    def work(store: Connection) -> EnrolmentReport:
        nonlocal looked_up
        held = _held(store, id_hash, phone_hash, person_id) if looked_up else _nobody(len(lines))
        looked_up = True
        taken: list[RowError] = []
        id_owner, phone_owner = held.id_owner, held.phone_owner
        enrolled = _mask(pc.is_valid(id_owner))
        same = _mask(pc.equal(phone_owner, id_owner)) & (
            ~explicit | _mask(pc.equal(id_owner, person_id))
        )
        phone_taken = ~enrolled & _mask(pc.is_valid(phone_owner))
        id_taken = ~enrolled & ~phone_taken & _mask(pc.is_in(person_id, held.person_ids_in_use))
        taken += _errors_at(
            enrolled & ~same, lines, "national_id", "identity_taken: already enrolled"
        )
        taken += _errors_at(
            phone_taken, lines, "phone", "phone_taken: already enrolled for another person"
        )
        taken += _errors_at(id_taken, lines, "person_id", "person_id_taken: already in use")
        if taken:
            raise BatchRejected(taken, "enrolment")
        fresh = _rows(~enrolled)
        fresh_ids = pc.take(person_id, fresh)
        fresh_values: list[str] = pc.take(id_value, fresh).to_pylist()
        names = _sealed_names(vault, pc.take(pc.take(checked.name, keep), fresh), fresh_ids)
        new = people.NewPeople(
            person_id=fresh_ids.to_pylist(),
            birth_date=np.datetime_as_string(
                checked.birth_date[checked.ok][~enrolled], unit="D"
            ).tolist(),
            national_id_hash=pc.take(id_hash, fresh).to_pylist(),
            national_id_encrypted=vault.encrypt_many("cn_resident_id", fresh_values),
            phone_hash=pc.take(phone_hash, fresh).to_pylist(),
            phone_encrypted=vault.encrypt_many("phone", pc.take(phone, fresh).to_pylist()),
            name_hash=None if names is None else names[0],
            name_encrypted=None if names is None else names[1],
            traits_encrypted=vault.encrypt_many(TRAITS_KIND, [traits_of(v) for v in fresh_values]),
        )
        already: list[str] = pc.take(id_owner, _rows(enrolled)).to_pylist()
        people.insert_many(store, new, now)
        audit.append(
            store,
            actor,
            "people.enrolled",
            subject=new.person_id[0] if len(new) == 1 else None,
            details={"source": source, "enrolled": len(new), "already": len(already)},
            now=now,
        )
        return EnrolmentReport(len(new), len(already), new.person_id + already)

    # Two enrolments of one identity at once (on SQLite; PostgreSQL queues them on the audit
    # lock) both find it free and both insert: the one that loses to the unique index (or to
    # the audit chain's next slot) is tried again, and then finds the identity enrolled and
    # says so, as if it had come second. The blind first try is one more.
    return audit.audited_transaction(
        engine, work, attempts=1 + ENROL_ATTEMPTS, lost_race=lambda _conflict: True
    )


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
    table, errors = records_table(rows, ENROL_COLUMNS)
    if errors:
        raise BatchRejected(errors, "enrolment")
    table = table.set_column(
        table.schema.get_field_index(LINE), LINE, int64_array(np.asarray(lines))
    )
    return _enrol_table(engine, vault, table, actor, now or dt.datetime.now(dt.UTC), source)


def enrol_one(
    engine: Engine,
    vault: IdentityVault,
    phone: str,
    national_id_value: str,
    actor: str,
    person_id: str | None = None,
    now: dt.datetime | None = None,
    name: str | None = None,
) -> str:
    """Enrol one person; raises `IdentityRejected` or `EnrolmentConflict` with the reason.
    A name, when given, must be one (`IdentityRejected` with reason `name_format`)."""
    now = now or dt.datetime.now(dt.UTC)
    national_id.parse(national_id_value, now.date())
    normalise_phone(phone)
    if name is not None:
        name = check_name(name)
    row = {"phone": phone, "national_id": national_id_value, "person_id": person_id, "name": name}
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
    """Enrol everyone in a CSV, JSON Lines or Parquet file with phone, national_id[,
    person_id][, name]."""
    parsed = read_input(path, ENROL_COLUMNS)
    if parsed.errors:
        raise BatchRejected(locate(path, parsed.errors), parsed.name)
    try:
        return _enrol_table(
            engine, vault, parsed.table, actor, now or dt.datetime.now(dt.UTC), "file"
        )
    except BatchRejected as rejected:
        raise BatchRejected(locate(path, rejected.errors), parsed.name) from None
