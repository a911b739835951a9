"""The error tree: every refusal kaimen makes is one of these, with a reason a person can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kaimen.domain.text import excerpt


class KaimenError(Exception):
    """Base of every error kaimen raises on purpose.

    Each error knows how a door shows it: `status` and `problem` (the RFC 9457 status and
    problem type) for HTTP, `str(error)` for the command line. `public_detail`, when set,
    replaces the message over HTTP, so that an answer cannot tell apart what must look the
    same (an unknown person and a person who gave no consent).
    """

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "rejected"
    title: ClassVar[str | None] = None
    public_detail: ClassVar[str | None] = None
    # Seconds a client should wait before trying again (HTTP Retry-After), for what passes.
    retry_after: int | None = None

    @property
    def detail(self) -> str:
        return self.public_detail or str(self)

    def extra(self) -> dict[str, object]:
        """Members beyond the standard ones in the problem document."""
        return {}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides the problem document."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class Rejected(KaimenError):
    """The request cannot be honoured as asked; nothing was changed."""


class NotFound(KaimenError):
    """There is no such thing (or the caller may not know whether there is)."""

    status = 404
    problem = "not-found"


class Conflict(KaimenError):
    """The request clashes with the current state (already done, already exists)."""

    status = 409
    problem = "conflict"


class Unauthenticated(KaimenError):
    """The caller's credential is missing or no longer valid."""

    status = 401
    problem = "unauthenticated"


class Forbidden(KaimenError):
    """The caller is known but may not do this."""

    status = 403
    problem = "forbidden"


class RateLimited(KaimenError):
    """Too many requests of this kind from this caller for now; the same request may succeed
    after `retry_after` seconds. Nothing was read or written for it."""

    status = 429
    problem = "rate-limited"
    title = "Too Many Requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def extra(self) -> dict[str, object]:
        return {"retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ConfigurationError(KaimenError):
    """Settings are missing or inconsistent."""

    status = 500
    problem = "configuration"


class Unavailable(KaimenError):
    """Something kaimen needs cannot be used right now; nothing was changed, and the same
    request may succeed later."""

    status = 503
    problem = "unavailable"
    title = "Service Unavailable"
    retry_after = 5


class StoreUnavailable(Unavailable):
    """The store cannot be reached (down, restarting, closed to connections, its file gone)."""

    problem = "store-unavailable"
    public_detail = "the database cannot be reached right now; nothing was changed, try again"

    def __init__(self) -> None:
        super().__init__("the database cannot be reached right now")


class LimitsUnavailable(Unavailable):
    """The storage the partners' rate limits are counted in (Redis) cannot be reached: the
    questions are refused rather than answered uncounted (the limits are what stops a
    partner bracketing a score)."""

    problem = "limits-unavailable"
    public_detail = "the rate limits cannot be counted right now; nothing was changed, try again"

    def __init__(self) -> None:
        super().__init__("the rate-limit storage cannot be reached right now")


class ReasonedRefusal(KaimenError):
    """A refusal with a stable reason code beside its message, shown as `reason` in problem
    details and as `reason: message` on the command line."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    @property
    def detail(self) -> str:
        return self.message

    def extra(self) -> dict[str, object]:
        return {"reason": self.reason}


class IdentityRejected(ReasonedRefusal, Rejected):
    """An identity document or phone number failed validation.

    `reason` is a stable code (`format`, `region`, `birth_date`, `check_digit`, `phone_format`).
    """

    problem = "identity-rejected"
    title = "Identity rejected"


class EnrolmentConflict(ReasonedRefusal, Conflict):
    """The identity or phone already belongs to someone else.

    `reason` is `identity_taken`, `phone_taken` or `person_id_taken`.
    """

    problem = "enrolment-conflict"
    title = "Enrolment conflict"


@dataclass(frozen=True, order=True)
class RowError:
    """One problem with one input row: `line` is 1-based in the input as the person sees it."""

    line: int
    field: str
    reason: str

    def __post_init__(self) -> None:
        # A field outside the catalogue is named by the input (a file's column, a JSON key):
        # an error repeats no more of it than a short prefix, whichever door renders it.
        object.__setattr__(self, "field", excerpt(self.field))

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class BatchRejected(Rejected):
    """A batch (file or request) had at least one bad row, so nothing of it was stored."""

    problem = "batch-rejected"
    title = "Batch rejected"

    def __init__(self, errors: list[RowError], what: str = "batch") -> None:
        self.errors = sorted(errors)
        self.bad_lines = len({e.line for e in self.errors})
        super().__init__(
            f"{what} rejected, nothing stored: {self.bad_lines} bad row(s), "
            f"first: {self.errors[0] if self.errors else 'none'}"
        )

    @property
    def detail(self) -> str:
        return f"{self.bad_lines} event(s) are invalid; nothing was stored"

    def extra(self) -> dict[str, object]:
        return {
            "errors": [{"line": e.line, "field": e.field, "reason": e.reason} for e in self.errors]
        }


class InputFileError(Rejected):
    """A file cannot be read at all (missing, wrong format, unreadable)."""

    problem = "unreadable-file"


class NothingToRead(InputFileError):
    """A file with no rows (empty, or a header alone): refused rather than taken as a batch
    of none, since an empty export is most often one that failed upstream."""

    problem = "empty-file"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: the file holds no rows: nothing to ingest, nothing was stored")


class LakeIncomplete(Unavailable):
    """Files the store lists are missing from the lake (a folder moved, removed or restored
    from elsewhere): nothing is read from a lake that does not hold what the store says."""

    retry_after = 60


class StorageFull(KaimenError):
    """The disk (or a file size limit) stopped a write; whatever was begun was undone."""

    status = 507
    problem = "storage-full"


class AuditChainBroken(KaimenError):
    """The audit log does not verify; `seq` names the first row that fails."""

    status = 500
    problem = "audit-chain-broken"

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"audit log row {seq}: {message}")
        self.seq = seq


class AuditHeadInvalid(KaimenError):
    """A line of the audit head file is not a head the published key signed."""

    status = 500
    problem = "audit-head-invalid"

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"audit head file line {line}: {message}")
        self.line = line
