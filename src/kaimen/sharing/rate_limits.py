"""Rate limits on what partners ask about people, with the `limits` library.

Three limits, each a `limits` rate string ("10/minute;50/day") in the settings:

- per partner key, on every decision and report it asks for (counted before anything is read,
  so a flood costs the store nothing);
- per partner and person, on decisions and on reports (each its own count), whether or not
  the person consented: a partner learns nothing from being stopped that its answers had not
  told it already;
- a stricter one per partner and person for *probing*: a decision on an offer whose
  threshold differs from every threshold this partner asked about this person at within the
  probing window. Each answer at one more threshold narrows where the score lies (51 offers
  12 points apart found a band in two seconds); asking again at a threshold already asked
  tells nothing new and is not probing.

Counters are fixed windows that start at their first hit (O(1) a check, where a moving window
keeps a timestamp per request). The thresholds asked at are remembered in the same storage,
as counters that expire after the probing window, so one storage URI (`memory://`, the
default, or `redis://...` for several server processes) holds all of it.

`memory://` is `in_process_counters.InProcessCounters`, not the library's own memory
storage: that one sweeps every key from a new timer thread every 10 ms, and with a key or
three per partner and person asked about (tens of thousands under load) the sweeps took about
a third of the decisions' CPU (0.46 against 0.65 ms a request, measured with
benchmarks/decisions_load.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kaimen.domain.errors import ConfigurationError, RateLimited

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import FixedWindowRateLimiter

Asked = Literal["decision", "report"]
# Seconds in the probing window's default: thirty days, the length of a score's month.
THIRTY_DAYS = 30 * 24 * 3600
MEMORY = "memory://"


@dataclass(frozen=True)
class LimitSettings:
    """The limits as configured (see `kaimen.config.Settings`)."""

    per_key: str = "100/second"
    per_person: str = "10/minute;50/day"
    # Decisions flagged as probing, per partner and person: the first threshold is free.
    probing: str = "3/month"
    probing_window_seconds: int = THIRTY_DAYS
    storage_uri: str = MEMORY


class PartnerLimits:
    """The limits of one server process (or of every process sharing its storage)."""

    def __init__(self, settings: LimitSettings | None = None) -> None:
        # Imported here: the library costs a sixth of a second to import, which only a
        # server (or a test) should pay, not every command.
        from limits import parse_many
        from limits.errors import ConfigurationError as StorageMisconfigured
        from limits.storage import Storage, storage_from_string
        from limits.strategies import FixedWindowRateLimiter

        from kaimen.sharing.in_process_counters import InProcessCounters

        self.settings = chosen = settings or LimitSettings()
        try:
            self._per_key = parse_many(chosen.per_key)
            self._per_person = parse_many(chosen.per_person)
            self._probing = parse_many(chosen.probing)
        except ValueError as error:
            raise ConfigurationError(
                f"a rate limit is not a `limits` rate string: {error}"
            ) from None
        if chosen.probing_window_seconds < 1:
            raise ConfigurationError("the probing window must be at least one second")
        try:
            storage = (
                InProcessCounters()
                if chosen.storage_uri == MEMORY
                else storage_from_string(chosen.storage_uri)
            )
        except (StorageMisconfigured, ValueError) as error:
            raise ConfigurationError(
                f"rate-limit storage {chosen.storage_uri!r}: {error}"
            ) from None
        if not isinstance(storage, Storage):  # an `async+...` URI: the checks are synchronous
            raise ConfigurationError(f"rate-limit storage {chosen.storage_uri!r} is asynchronous")
        self._storage = storage
        self._limiter: FixedWindowRateLimiter = FixedWindowRateLimiter(self._storage)

    def reset(self) -> None:
        """Forget every count (for tests and for an operator lifting every limit at once)."""
        self._storage.reset()

    def check_key(self, key_id: str) -> None:
        """Count a question under the partner key `key_id`; `RateLimited` past its limit."""
        self._hit(self._per_key, "kaimen:key", key_id)

    def check_person(self, partner_id: str, person_id: str, asked: Asked) -> None:
        """Count a decision or a report about `person_id` for `partner_id`."""
        self._hit(self._per_person, f"kaimen:{asked}", partner_id, person_id)

    def check_threshold(self, partner_id: str, person_id: str, threshold: str) -> bool:
        """Whether a decision at `threshold` is probing (see the module docstring): True when
        it is, and counted against the stricter limit; `RateLimited` past that limit, and then
        the threshold is not remembered as asked (asking at it again is still probing)."""
        marker = f"kaimen:threshold/{partner_id}/{person_id}/{threshold}"
        if self._storage.get(marker):
            return False
        distinct = f"kaimen:thresholds/{partner_id}/{person_id}"
        probing = self._storage.get(distinct) > 0
        if probing:
            self._hit(self._probing, "kaimen:probing", partner_id, person_id)
        window = self.settings.probing_window_seconds
        self._storage.incr(marker, window)
        self._storage.incr(distinct, window)
        return probing

    def _hit(self, items: list[RateLimitItem], *identifiers: str) -> None:
        """`FixedWindowRateLimiter.hit` for each item, with the key written here: the
        library's `key_for` cost more than the rest of a check (the same key, a test holds
        it to it)."""
        joined = "/".join(identifiers)
        for item in items:
            key = (
                f"{item.namespace}/{joined}/{item.amount}/{item.multiples}/{item.GRANULARITY.name}"
            )
            if self._storage.incr(key, item.get_expiry()) > item.amount:
                reset = self._limiter.get_window_stats(item, *identifiers).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"more than {item} for now; retry in {wait} s", wait)
