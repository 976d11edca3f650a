"""Token buckets by key: how often one source (a caller of the hook, a person) may make
the bot do work, so that nobody can make it do unbounded work."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

KEYS_KEPT = 10_000
FORGET_AFTER = 600.0  # seconds without a call before a key's bucket is dropped (full again)


class TokenBuckets:
    """`burst` calls at once per key, then `rate` a second; keys not heard from for a
    while are forgotten, so the memory is bounded however many keys come."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(KEYS_KEPT, ttl=FORGET_AFTER)

    def allow(self, key: str) -> bool:
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True
