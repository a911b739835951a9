"""The API served by a real uvicorn in a thread, with every log record it writes kept."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


class KeptLog(logging.Handler):
    """Every record, as the plainest formatter writes it (message and traceback unredacted),
    so that a test sees what any handler of the server could write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def served(app: FastAPI, port: int) -> Iterator[KeptLog]:
    """`app` at http://127.0.0.1:`port` until the block ends; the log it wrote meanwhile."""
    kept = KeptLog()
    root = logging.getLogger()
    level = root.level
    root.addHandler(kept)
    root.setLevel(logging.INFO)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, log_level="info", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield kept
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        root.removeHandler(kept)
        root.setLevel(level)
