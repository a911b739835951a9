"""Rate limits on what partners ask about people, with the `limits` library.

Three limits, each a `limits` rate string ("10/minute;50/day") in the settings:

- per partner key, on every decision, report and privilege check it asks for with the key's
  true secret (counted once the key is proved genuine: whoever knows only a key's id, which
  lists and logs show, cannot use up its limit and so stop its partner);
- per partner and person, on decisions, reports and privilege checks (each its own count),
  whether or not the person consented: a partner learns nothing from being stopped that its
  answers had not told it already;
- a stricter one per partner and person for *probing*: a decision on an offer whose
  threshold differs from every threshold this partner asked about this person at within the
  probing window. Each answer at one more threshold narrows where the score lies (51 offers
  12 points apart found a band in two seconds); asking again at a threshold already asked
  tells nothing new and is not probing.

Counters are fixed windows that start at their first hit (O(1) a check, where a moving window
keeps a timestamp per request). The thresholds asked at are remembered in the same storage,
as counters that expire after the probing window, so one storage URI (`memory://`, the
default, or `redis://...` for several server processes) holds all of it.

The API decides in batches (`decision_batches`), and a batch's questions are counted
together, once read: the key limits, person limits and thresholds of all of them at once
(`count_decisions`). On any storage that is
the same as counting them one by one, in order (`_count_one`, the definition); on Redis it is
one script a count (`COUNT_SCRIPT`), atomic, where one by one each decision cost about five
round trips, made on the server's event loop.

`memory://` is `in_process_counters.InProcessCounters`, not the library's own memory
storage: that one sweeps every key from a new timer thread every 10 ms, and with a key or
three per partner and person asked about (tens of thousands under load) the sweeps took about
a third of the decisions' CPU (0.46 against 0.65 ms a request, measured with
benchmarks/decisions_load.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kaimen.domain.errors import ConfigurationError, LimitsUnavailable, RateLimited

if TYPE_CHECKING:
    from limits import RateLimitItem

Asked = Literal["decision", "report", "privilege"]
# Seconds in the probing window's default: thirty days, the length of a score's month.
THIRTY_DAYS = 30 * 24 * 3600
MEMORY = "memory://"

_log = logging.getLogger(__name__)


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
        from limits.storage import (
            RedisSentinelStorage,
            RedisStorage,
            Storage,
            storage_from_string,
        )

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
        # What the storage raises when it cannot be reached; counting in memory cannot fail
        # so (its ValueError would be a mistake of ours, not to be answered as unavailable).
        self._unreachable: type[Exception] | tuple[type[Exception], ...] = (
            () if isinstance(storage, InProcessCounters) else storage.base_exceptions
        )
        # On one Redis (not a cluster, whose nodes each hold some of the keys), a batch's
        # counts are one script: about five round trips a decision were made one by one.
        self._script: Callable[[list[str], list[int | str]], list[int]] | None = None
        if type(storage) in (RedisStorage, RedisSentinelStorage):
            redis_client = storage.get_connection()  # type: ignore[attr-defined]
            self._script = redis_client.register_script(COUNT_SCRIPT)

    def reset(self) -> None:
        """Forget every count (for tests and for an operator lifting every limit at once)."""
        self._storage.reset()

    def check_person(self, partner_id: str, person_id: str, asked: Asked) -> None:
        """Count a decision or a report about `person_id` for `partner_id`."""
        [counted] = self._count([self._person_counting(partner_id, person_id, asked, None)])
        if counted.refusal is not None:
            raise counted.refusal

    def check_request(
        self, key_id: str | None, partner_id: str, person_id: str, asked: Asked
    ) -> None:
        """The key's limit (for a partner that called with a key) and then `check_person`
        for a report or a privilege check, as one count (one round trip to Redis): a
        question stopped by its key's limit is not counted against the person."""
        items = self._keyed(self._per_key, "kaimen:key", key_id) if key_id is not None else ()
        person = self._keyed(self._per_person, f"kaimen:{asked}", partner_id, person_id)
        [counted] = self._count([Counting(items + person)])
        if counted.refusal is not None:
            raise counted.refusal

    def check_threshold(self, partner_id: str, person_id: str, threshold: str) -> bool:
        """Whether a decision at `threshold` is probing (see the module docstring): True when
        it is, and counted against the stricter limit; `RateLimited` past that limit, and then
        the threshold is not remembered as asked (asking at it again is still probing)."""
        [counted] = self._count([self._threshold_counting(partner_id, person_id, threshold, ())])
        if counted.refusal is not None:
            raise counted.refusal
        return counted.probing

    def count_decisions(self, asked: Sequence[DecisionAsked]) -> list[Counted]:
        """For each decision in order, its key's limit, then (for one about a person)
        `check_person` and, for one with consent (a threshold), `check_threshold`, as one
        count (one round trip to Redis for all of them): what each was refused, or whether it
        is probing. A decision stopped by its key's limit is not counted against the person."""
        countings: list[Counting] = []
        for one in asked:
            key = self._keyed(self._per_key, "kaimen:key", one.key_id)
            if one.person_id is None:
                countings.append(Counting(key))
                continue
            person = self._person_counting(one.partner_id, one.person_id, "decision", one.threshold)
            countings.append(Counting(key + person.items, person.threshold, person.probing))
        return self._count(countings)

    def _person_counting(
        self, partner_id: str, person_id: str, asked: Asked, threshold: str | None
    ) -> Counting:
        items = self._keyed(self._per_person, f"kaimen:{asked}", partner_id, person_id)
        if threshold is None:
            return Counting(items)
        return self._threshold_counting(partner_id, person_id, threshold, items)

    def _threshold_counting(
        self,
        partner_id: str,
        person_id: str,
        threshold: str,
        items: tuple[tuple[str, RateLimitItem], ...],
    ) -> Counting:
        return Counting(
            items,
            (
                f"kaimen:threshold/{partner_id}/{person_id}/{threshold}",
                f"kaimen:thresholds/{partner_id}/{person_id}",
            ),
            self._keyed(self._probing, "kaimen:probing", partner_id, person_id),
        )

    @staticmethod
    def _keyed(
        items: list[RateLimitItem], *identifiers: str
    ) -> tuple[tuple[str, RateLimitItem], ...]:
        """Each item with its counter's key, written here as `FixedWindowRateLimiter` writes
        it: the library's `key_for` cost more than the rest of a check (a test holds the two
        equal)."""
        joined = "/".join(identifiers)
        return tuple(
            (
                f"{item.namespace}/{joined}/{item.amount}/{item.multiples}/{item.GRANULARITY.name}",
                item,
            )
            for item in items
        )

    def _count(self, countings: list[Counting]) -> list[Counted]:
        """Each counting's outcome; `LimitsUnavailable` (nothing answered, so nothing
        written) when the storage cannot be reached."""
        if not countings:
            return []
        try:
            if self._script is not None:
                return self._count_in_redis(countings)
            return [self._count_one(counting) for counting in countings]
        except self._unreachable as error:
            _log.warning(
                "the rate-limit storage cannot be reached", extra={"error": type(error).__name__}
            )
            raise LimitsUnavailable() from error

    def _count_one(self, counting: Counting) -> Counted:
        """The definition of a count, on any `limits` storage, one call a counter: the items
        in order until one is over; then, with a threshold not asked at before, the probing
        items if some other threshold was, and the threshold remembered unless stopped."""
        storage = self._storage
        for key, item in counting.items:
            if storage.incr(key, item.get_expiry()) > item.amount:
                return Counted(self._stopped(item, storage.get_expiry(key)))
        if counting.threshold is None:
            return NOT_PROBING
        marker, distinct = counting.threshold
        if storage.get(marker):
            return NOT_PROBING
        probing = storage.get(distinct) > 0
        if probing:
            for key, item in counting.probing:
                if storage.incr(key, item.get_expiry()) > item.amount:
                    return Counted(self._stopped(item, storage.get_expiry(key)), probing=True)
        window = self.settings.probing_window_seconds
        storage.incr(marker, window)
        storage.incr(distinct, window)
        return Counted(None, probing)

    def _count_in_redis(self, countings: list[Counting]) -> list[Counted]:
        """`_count_one` for each counting, by `COUNT_SCRIPT` in Redis: one round trip, and
        atomic, as if one process counted them all in order."""
        assert self._script is not None
        prefixed = self._storage.prefixed_key  # type: ignore[attr-defined]
        keys: list[str] = []
        args: list[int | str] = [len(countings), self.settings.probing_window_seconds]
        for counting in countings:
            args.append(len(counting.items))
            for key, item in counting.items:
                keys.append(prefixed(key))
                args += [item.amount, item.get_expiry()]
            if counting.threshold is None:
                args.append(0)
                continue
            args += [1, len(counting.probing)]
            keys += [prefixed(k) for k in counting.threshold]
            for key, item in counting.probing:
                keys.append(prefixed(key))
                args += [item.amount, item.get_expiry()]
        found = self._script(keys, args)
        now = time.time()
        out: list[Counted] = []
        for index, counting in enumerate(countings):
            code, over, wait_ms = (int(v) for v in found[3 * index : 3 * index + 3])
            if code in (STOPPED, STOPPED_PROBING):
                items = counting.items if code == STOPPED else counting.probing
                stopped = self._stopped(items[over - 1][1], now + max(wait_ms, 0) / 1000)
                out.append(Counted(stopped, probing=code == STOPPED_PROBING))
            else:
                out.append(PROBING_COUNTED if code == PROBING_CODE else NOT_PROBING)
        return out

    @staticmethod
    def _stopped(item: RateLimitItem, reset: float) -> RateLimited:
        wait = max(1, math.ceil(reset - time.time()))
        return RateLimited(f"more than {item} for now; retry in {wait} s", wait)


@dataclass(frozen=True)
class DecisionAsked:
    """A decision to count: the key it was asked with (genuine: see `deciding.answered_all`),
    its partner and person (None for a question refused before the person: its key is
    counted alone), and the offer's threshold when the person consented (only then is it
    counted as asked at, or as probing)."""

    key_id: str
    partner_id: str
    person_id: str | None
    threshold: str | None


@dataclass(frozen=True)
class Counting:
    """What one question counts (see `PartnerLimits._count_one`): counters with their
    items, hit in order; the threshold's marker and the count of thresholds asked at; the
    probing counters."""

    items: tuple[tuple[str, RateLimitItem], ...]
    threshold: tuple[str, str] | None = None
    probing: tuple[tuple[str, RateLimitItem], ...] = ()


@dataclass(frozen=True)
class Counted:
    """A question counted: its refusal if it was stopped (while probing, if `probing`), or
    whether it is probing."""

    refusal: RateLimited | None = None
    probing: bool = False


NOT_PROBING = Counted()
PROBING_COUNTED = Counted(None, probing=True)
# What `COUNT_SCRIPT` answers for each counting: its outcome, the number of the counter that
# stopped it (from 1) and that counter's milliseconds to live.
NOT_PROBING_CODE, PROBING_CODE, STOPPED, STOPPED_PROBING = 0, 1, 2, 3

# `PartnerLimits._count_one` for a list of countings, in Redis (`limits`' own script for one
# counter, `incr_expire.lua`, does the same incr and expire). ARGV: the number of countings,
# the probing window in seconds, then for each counting: its number of items, each item's
# amount and expiry; 1 and its number of probing items (each's amount and expiry) for one
# with a threshold, else 0. KEYS, in the same order: each item's counter; the threshold's
# marker, the count of thresholds asked at, each probing counter.
COUNT_SCRIPT = """
local out = {}
local a, k = 3, 1
local window = ARGV[2]
local function hit(key, amount, expiry)
  local count = redis.call('incrby', key, 1)
  if count == 1 then redis.call('expire', key, expiry) end
  return count > tonumber(amount)
end
for _ = 1, tonumber(ARGV[1]) do
  local code, over, wait = 0, 0, 0
  local n = tonumber(ARGV[a]); a = a + 1
  for i = 1, n do
    if code == 0 and hit(KEYS[k], ARGV[a], ARGV[a + 1]) then
      code, over, wait = 2, i, redis.call('pttl', KEYS[k])
    end
    a = a + 2; k = k + 1
  end
  local threshold = tonumber(ARGV[a]); a = a + 1
  if threshold == 1 then
    local marker, distinct = KEYS[k], KEYS[k + 1]; k = k + 2
    local p = tonumber(ARGV[a]); a = a + 1
    local fresh = code == 0 and tonumber(redis.call('get', marker) or '0') == 0
    local probing = fresh and tonumber(redis.call('get', distinct) or '0') > 0
    for i = 1, p do
      if probing and code == 0 and hit(KEYS[k], ARGV[a], ARGV[a + 1]) then
        code, over, wait = 3, i, redis.call('pttl', KEYS[k])
      end
      a = a + 2; k = k + 1
    end
    if fresh and code == 0 then
      hit(marker, 0, window)
      hit(distinct, 0, window)
      if probing then code = 1 end
    end
  end
  out[#out + 1] = code; out[#out + 1] = over; out[#out + 1] = wait
end
return out
"""
