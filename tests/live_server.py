"""An app behind a real uvicorn server, in a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


@contextlib.contextmanager
def serving(app: ASGIApp, port: int, start_within: float = 30) -> Iterator[str]:
    """`app` served on 127.0.0.1:`port` while the block runs; yields its base URL."""
    # No log_config and no log_level: uvicorn would otherwise reconfigure the process's
    # "uvicorn" loggers (own handler, no propagation, WARNING), and later tests in the same
    # worker that read uvicorn's records through the root logger would see nothing.
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, log_level=None, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_within
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
