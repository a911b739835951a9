"""Evidence files a person attaches to a dispute: bounded in number and size, of a type
recognised from the bytes themselves (and agreeing with the name), kept under
KAIMEN_HOME/evidence/ by their SHA-256, outside the database, each written atomically.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

from kaimen.domain.disputes import (
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    MAX_EVIDENCE_NAME,
    DisputeRejected,
    Evidence,
    StoredEvidence,
)

# The names each type may carry: a PDF called photo.png is refused.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt",),
}
_TEXT_CONTROLS_ALLOWED = {9, 10, 12, 13}


def sniff(content: bytes) -> str | None:
    """The evidence type the bytes are, or None: magic numbers for PDF, PNG and JPEG; UTF-8
    without control characters for plain text."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 32 and ord(c) not in _TEXT_CONTROLS_ALLOWED) or ord(c) == 127 for c in text):
        return None
    return "text/plain"


def _name(raw: str) -> str:
    # Only the last part of a path, whichever separators the sender's system uses.
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    if not name or len(name) > MAX_EVIDENCE_NAME:
        raise DisputeRejected(f"an evidence file needs a name of 1-{MAX_EVIDENCE_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise DisputeRejected("an evidence file's name contains control characters")
    return name


def check(files: Sequence[Evidence], already: int = 0) -> list[tuple[StoredEvidence, bytes]]:
    """Each file with its type, hash and size, or a refusal naming the first bad one."""
    if already + len(files) > MAX_EVIDENCE_FILES:
        raise DisputeRejected(f"a dispute holds at most {MAX_EVIDENCE_FILES} evidence files")
    checked: list[tuple[StoredEvidence, bytes]] = []
    for evidence in files:
        name = _name(evidence.name)
        size = len(evidence.content)
        if size == 0:
            raise DisputeRejected(f"evidence file {name!r} is empty")
        if size > MAX_EVIDENCE_BYTES:
            raise DisputeRejected(
                f"evidence file {name!r} has {size:,} bytes; at most {MAX_EVIDENCE_BYTES:,}"
            )
        media_type = sniff(evidence.content)
        if media_type is None:
            raise DisputeRejected(
                f"evidence file {name!r} is not a PDF, PNG, JPEG or plain text file"
            )
        if not name.lower().endswith(EXTENSIONS[media_type]):
            raise DisputeRejected(
                f"evidence file {name!r} holds {media_type}: name it "
                f"{' or '.join(EXTENSIONS[media_type])}"
            )
        digest = hashlib.sha256(evidence.content).hexdigest()
        checked.append((StoredEvidence(digest, size, media_type, name), evidence.content))
    return checked


def path_of(evidence_dir: Path, sha256: str) -> Path:
    return evidence_dir / sha256[:2] / sha256


def keep(evidence_dir: Path, files: Sequence[tuple[StoredEvidence, bytes]]) -> set[str]:
    """Write each file under its hash unless it is there already: to a temporary file in the
    same folder, flushed to disk, then renamed into place (never half written). Returns the
    hashes of the files written now (for `discard` should their dispute not be stored)."""
    written: set[str] = set()
    for stored, content in files:
        target = path_of(evidence_dir, stored.sha256)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.add(stored.sha256)
    return written


def discard(evidence_dir: Path, written: set[str], held: set[str]) -> None:
    """Remove the files just written (`keep`) for a dispute that was not stored, but for
    those a stored dispute holds (`held`): a refused dispute leaves nothing on disk (its
    files were kept, with the person's details in them, and no row to find them by)."""
    for digest in written - held:
        path_of(evidence_dir, digest).unlink(missing_ok=True)
