"""Logs as one JSON object per line: time, level, logger, message, request id, typed fields.

Modules log with the standard library (`logging.getLogger(__name__)`) and pass fields as
`extra={...}`: ids, counts, durations and reason codes, never personal data. Only entry points
call `configure_logging`; until then kaimen's loggers stay quiet like any library's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from contextvars import ContextVar
from typing import TextIO

from pydantic_core import to_json

from kaimen.telemetry.redaction import redact

# Set for the duration of an HTTP request; worker threads inherit it with the context.
REQUEST_ID: ContextVar[str | None] = ContextVar("kaimen_request_id", default=None)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Attributes every LogRecord has: anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
) | {"message", "asctime", "request_id"}
# Not fields either: extras that say nothing new (Uvicorn's message with terminal colours).
_NOT_FIELDS = _RECORD_ATTRIBUTES | {"color_message"}


def reserved_field(name: str) -> bool:
    """True for names `extra` cannot carry (the logging module refuses to overwrite them)."""
    return name in _RECORD_ATTRIBUTES


def _plain(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(item) for item in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, masked by `redaction.redact` as a last line of defence."""

    def __init__(self, secrets: Collection[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)
        self._second: tuple[int, str] = (-1, "")  # the last second written, as text

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for name, value in vars(record).items():
            if name not in _NOT_FIELDS and name not in entry:
                entry[name] = _plain(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return redact(_ENCODE(entry), self._secrets)

    def _time(self, created: float) -> str:
        """`created` in ISO 8601 to the millisecond, UTC, as `isoformat` writes it; the
        second's text made once a second (the API writes a line a request)."""
        second = int(created)
        microseconds = round((created - second) * 1_000_000)  # as `fromtimestamp` rounds
        if microseconds == 1_000_000:
            second, microseconds = second + 1, 0
        last_second, text = self._second
        if second != last_second:
            text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{microseconds // 1000:03d}+00:00"


def _encode(entry: dict[str, object]) -> str:
    """The entry as compact JSON, UTF-8 left as it is, anything else as its `str`:
    pydantic-core's serialiser, a third of `json.JSONEncoder`'s time on a line (the API
    writes one per request)."""
    return to_json(entry, fallback=str).decode()


_ENCODE = _encode


# Alembic says these each time it looks at the schema, which readiness does every few
# seconds; its "Running upgrade" lines stay.
_CHATTER = frozenset(
    {
        ("alembic.runtime.migration", "Context impl %s."),
        ("alembic.runtime.migration", "Will assume %s DDL."),
    }
)


def _wanted(record: logging.LogRecord) -> bool:
    if (record.name, record.msg) in _CHATTER:
        return False
    # SQLAlchemy logs each statement with its parameters at INFO (and rows at DEBUG) as soon as
    # the root level allows it; only its warnings and errors are wanted.
    return not (record.name.startswith("sqlalchemy.engine") and record.levelno < logging.WARNING)


class _KaimenHandler(logging.StreamHandler[TextIO]):
    """Marks the handler `configure_logging` installed, so a second call replaces it."""


def configure_logging(
    level: str | int, stream: TextIO, secrets: Collection[str] = ()
) -> logging.Handler:
    """Send every log record at `level` and above to `stream` as JSON lines, masking
    `secrets` (credentials known to the entry point) wherever they appear. Returns the
    handler; calling again replaces it."""
    if isinstance(level, str) and level.upper() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    # What a record would otherwise find out each time and no line shows (the formatter
    # writes neither the caller's file and line nor the thread or process): the logging
    # HOWTO's own optimisations. Finding the caller walks the stack, a quarter of the cost of
    # the API's line per request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _KaimenHandler)]:
        root.removeHandler(old)
    handler = _KaimenHandler(stream)
    handler.setFormatter(JsonFormatter(secrets))
    handler.addFilter(_wanted)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    return handler
