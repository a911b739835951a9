"""The error tree: every refusal kaimen makes is one of these, with a reason a person can read."""

from __future__ import annotations

from dataclasses import dataclass


class KaimenError(Exception):
    """Base of every error kaimen raises on purpose."""


class ConfigurationError(KaimenError):
    """Settings are missing or inconsistent."""


class IdentityRejected(KaimenError):
    """An identity document or phone number failed validation.

    `reason` is a stable code (`format`, `region`, `birth_date`, `check_digit`, `phone_format`).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class EnrolmentConflict(KaimenError):
    """The identity or phone already belongs to someone else.

    `reason` is `identity_taken`, `phone_taken` or `person_id_taken`.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, order=True)
class RowError:
    """One problem with one input row: `line` is 1-based in the input as the person sees it."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class BatchRejected(KaimenError):
    """A batch (file or request) had at least one bad row, so nothing of it was stored."""

    def __init__(self, errors: list[RowError], what: str = "batch") -> None:
        self.errors = sorted(errors)
        self.bad_lines = len({e.line for e in self.errors})
        super().__init__(
            f"{what} rejected, nothing stored: {self.bad_lines} bad row(s), "
            f"first: {self.errors[0] if self.errors else 'none'}"
        )


class InputFileError(KaimenError):
    """A file cannot be read at all (missing, wrong format, unreadable)."""


class AuditChainBroken(KaimenError):
    """The audit log does not verify; `seq` names the first row that fails."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"audit log row {seq}: {message}")
        self.seq = seq
