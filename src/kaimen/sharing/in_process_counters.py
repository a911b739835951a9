"""`memory://` for the partners' rate limits (see `rate_limits`): the `limits` library's
storage interface over two dictionaries, without the library's own memory storage's timer
thread, which sweeps every key every 10 ms and, with a key or three per partner and person
asked about, took about a third of the decisions' CPU under load."""

from __future__ import annotations

import threading
import time

from limits.storage import Storage

# Increments between two sweeps of expired counters at the least: a sweep reads every key,
# so it runs at most once per as many increments as there are keys (amortised O(1)).
SWEEP_EVERY = 10_000


class InProcessCounters(Storage):
    """Fixed-window counters in this process's memory (`memory://`, see the module
    docstring): an expired counter restarts at its next increment and reads as zero, and
    the expired ones are dropped in one sweep once in a while, on the thread that counts."""

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()  # SQLite's batches may count from worker threads
        self._until_sweep = SWEEP_EVERY

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            if self._expires.get(key, 0.0) <= now:
                count = amount
                self._expires[key] = now + expiry
            else:
                count = self._counts[key] + amount
            self._counts[key] = count
            self._until_sweep -= 1
            if self._until_sweep <= 0:
                self._sweep(now)
        return count

    def get(self, key: str) -> int:
        if self._expires.get(key, 0.0) <= time.time():
            return 0
        return self._counts.get(key, 0)

    def get_expiry(self, key: str) -> float:
        return self._expires.get(key, time.time())

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._counts)
            self._counts.clear()
            self._expires.clear()
        return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)
            self._expires.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [key for key, until in self._expires.items() if until <= now]:
            del self._expires[key], self._counts[key]
        self._until_sweep = max(SWEEP_EVERY, len(self._counts))
