"""The audit chain's signed head, kept outside the store: what catches a deleted tail.

Deleting the newest rows of a hash chain leaves a shorter chain that still verifies. Only a
record of how far the chain once reached, kept where the database operator cannot rewrite it
alone, shows the loss. Each line of the head file is one head (sequence, row hash, time)
signed with Ed25519 by a key kept in KAIMEN_HOME; the file is only appended to (O_APPEND, then
fsync), and belongs on storage that only appends (`chattr +a`, a WORM mount, a log shipper), so
rewriting it takes a second party.

A head is written when a transaction that appended to the chain has committed (the pool's
check-in after the commit), never before: a head the database never kept would be a false
alarm. A head that could not be written costs nothing but time: the next one covers every row
before it.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import datetime as dt
import errno
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

from kaimen.domain.errors import AuditHeadInvalid

# Bumped if the signed message's layout ever changes; old lines keep verifying by their tag.
_DOMAIN = "kaimen-audit-head:v1"
# A line is a few hundred bytes; the newest head is among the last lines.
_TAIL_BYTES = 8192
_PENDING = "kaimen_audit_head_pending"
_COMMITTING = "kaimen_audit_head_committing"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Head:
    """How far the chain reaches: its newest row's sequence and hash."""

    seq: int
    row_hash: str


@dataclass(frozen=True)
class SignedHead:
    seq: int
    row_hash: str
    signed_at: dt.datetime
    signature: str  # base64 of the 64-byte Ed25519 signature

    def message(self) -> bytes:
        return message(Head(self.seq, self.row_hash), self.signed_at)

    def line(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "hash": self.row_hash,
                "at": _iso(self.signed_at),
                "sig": self.signature,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class HeadLine:
    """One head read back from the file, with where it was found (for the messages)."""

    number: int
    head: SignedHead


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(head: Head, signed_at: dt.datetime) -> bytes:
    return f"{_DOMAIN}\n{head.seq}\n{head.row_hash}\n{_iso(signed_at)}".encode()


def new_key() -> str:
    """A fresh Ed25519 private key, as base64 text."""
    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes_raw()).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A published public key (base64 of its 32 raw bytes); ValueError when it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not an Ed25519 public key (base64 of 32 bytes)") from error


class HeadSigner:
    """The private key that signs heads; it never leaves KAIMEN_HOME."""

    def __init__(self, key_text: str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(key_text.strip()))
        self.public_key = self._key.public_key()

    def sign(self, head: Head, at: dt.datetime | None = None) -> SignedHead:
        signed_at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
        signature = self._key.sign(message(head, signed_at))
        return SignedHead(head.seq, head.row_hash, signed_at, base64.b64encode(signature).decode())


@dataclass(frozen=True)
class HeadFile:
    """Where heads are appended, and the key that vouches for them."""

    path: Path
    public_key: Ed25519PublicKey

    @property
    def public_key_text(self) -> str:
        return public_key_text(self.public_key)


def _fsync(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        _log.error(
            "audit head file %s not synced: %s", path, error.strerror or type(error).__name__
        )


class _Syncer:
    """One thread for the process that syncs each head file written to since its last sync."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._unsynced: set[Path] = set()
        self._thread: threading.Thread | None = None

    def written(self, path: Path) -> None:
        with self._changed:
            self._unsynced.add(path)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="audit-head-sync", daemon=True
                )
                self._thread.start()
                # A command that exits at once still leaves its heads synced.
                atexit.register(self.sync_all)
            self._changed.notify()

    def sync_all(self) -> None:
        with self._changed:
            paths, self._unsynced = self._unsynced, set()
        for path in paths:
            _fsync(path)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._unsynced))
            self.sync_all()


_syncer = _Syncer()


class HeadWitness:
    """Signs committed heads and appends them to the head file.

    The line is written (one O_APPEND write) before the committing transaction returns: from
    then on no one can take it back through the database, and a crash of the process keeps it.
    The fsync, which guards against the machine losing power and costs milliseconds (more than
    an audited transaction on SQLite), follows on the process's syncing thread, one sync for
    every line written meanwhile. A head no further than one already written is not written
    again: one head vouches for every row before it.
    """

    def __init__(self, path: Path, signer: HeadSigner) -> None:
        self.file = HeadFile(path, signer.public_key)
        self._signer = signer
        self._lock = threading.Lock()
        self._written = 0

    def committed(self, head: Head) -> None:
        """A transaction moved the chain to `head` and committed."""
        with self._lock:
            if head.seq <= self._written:
                return
            self.record(head, sync=False)
            self._written = head.seq
        _syncer.written(self.file.path)

    def record(self, head: Head, sync: bool = True) -> SignedHead:
        """Sign `head` and append it (synced at once unless told otherwise)."""
        signed = self._signer.sign(head)
        data = (signed.line() + "\n").encode()
        self.file.path.parent.mkdir(parents=True, exist_ok=True)
        # One write() per line on an O_APPEND descriptor: lines from several processes
        # interleave whole, never torn.
        descriptor = os.open(self.file.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            before = os.fstat(descriptor).st_size
            # A line cut short before (a crash mid-write) ends here: this one starts afresh.
            if before and os.pread(descriptor, 1, before - 1) != b"\n":
                data = b"\n" + data
            written = os.write(descriptor, data)
            if written < len(data):
                # A full volume took part of the line: taken back whole where no other
                # process has appended meanwhile, so no torn line is left to read as forged.
                if os.fstat(descriptor).st_size == before + written:
                    os.ftruncate(descriptor, before)
                raise OSError(errno.ENOSPC, "the audit head file took only part of a line")
            if sync:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return signed


_witnesses: weakref.WeakKeyDictionary[Engine, HeadWitness] = weakref.WeakKeyDictionary()


def note_append(connection: Connection, head: Head) -> None:
    """Called by `audit.append`: the head this transaction will have moved to on commit."""
    if connection.engine in _witnesses:
        connection.info[_PENDING] = head


def attach(engine: Engine, witness: HeadWitness) -> None:
    """Write a signed head after each commit of a transaction that appended to the chain."""
    _witnesses[engine] = witness

    def on_commit(connection: Connection) -> None:
        # Fired just before the database commits: held until the commit is known to have
        # succeeded (no error before check-in).
        pending = connection.info.pop(_PENDING, None)
        if pending is not None:
            connection.info[_COMMITTING] = pending

    def on_rollback(connection: Connection) -> None:
        connection.info.pop(_PENDING, None)
        connection.info.pop(_COMMITTING, None)

    def on_rollback_savepoint(connection: Connection, _name: str, _context: object) -> None:
        # The row noted may be one the savepoint took back: no head for this transaction
        # rather than a wrong one (the next head covers its rows).
        connection.info.pop(_PENDING, None)

    def on_error(context: ExceptionContext) -> None:
        if context.connection is not None:
            context.connection.info.pop(_COMMITTING, None)

    def on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry | None) -> None:
        if record is None:
            return
        record.info.pop(_PENDING, None)
        head = record.info.pop(_COMMITTING, None)
        if head is None:
            return
        try:
            witness.committed(head)
        except OSError as error:
            _log.error(
                "audit head %s not written to %s: %s",
                head.seq,
                witness.file.path,
                error.strerror or type(error).__name__,
            )

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    event.listen(engine, "rollback_savepoint", on_rollback_savepoint)
    event.listen(engine, "handle_error", on_error)
    event.listen(engine, "checkin", on_checkin)


def _parse(number: int, text: str) -> SignedHead:
    try:
        fields = json.loads(text)
        if not isinstance(fields, dict) or set(fields) != {"seq", "hash", "at", "sig"}:
            raise ValueError("expected the fields seq, hash, at and sig")
        seq, row_hash, at, signature = fields["seq"], fields["hash"], fields["at"], fields["sig"]
        if type(seq) is not int or seq < 1:
            raise ValueError("seq is not a positive whole number")
        if not isinstance(row_hash, str) or len(row_hash) != 64:
            raise ValueError("hash is not 64 hex digits")
        if not isinstance(at, str) or not isinstance(signature, str):
            raise ValueError("at and sig must be text")
        signed_at = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError as error:
        raise AuditHeadInvalid(number, f"not a signed head ({error})") from None
    return SignedHead(seq, row_hash, signed_at, signature)


def _signature_holds(head: SignedHead, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(head.signature, validate=True), head.message())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def read_heads(path: Path, key: Ed25519PublicKey) -> Iterator[HeadLine]:
    """Every head in the file, each checked against `key`; AuditHeadInvalid names the first
    line that is not a head this key signed."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode().strip()
            except UnicodeDecodeError:
                raise AuditHeadInvalid(number, "not a signed head (not UTF-8 text)") from None
            if not text:
                continue
            head = _parse(number, text)
            if not _signature_holds(head, key):
                raise AuditHeadInvalid(
                    number,
                    f"the signature over row {head.seq} does not verify against the public key "
                    "(a forged or altered head)",
                )
            yield HeadLine(number, head)


def newest(path: Path, key: Ed25519PublicKey) -> SignedHead | None:
    """The furthest-reaching head among the file's last lines that `key` signed; None when
    there is none yet."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except FileNotFoundError:
        return None
    best: SignedHead | None = None
    for raw in tail.splitlines():
        try:
            head = _parse(0, raw.decode())
        except (AuditHeadInvalid, UnicodeDecodeError):
            # The first line of the tail is usually cut, and one bad line must not hide
            # the good ones.
            continue
        if _signature_holds(head, key) and (best is None or head.seq > best.seq):
            best = head
    return best
