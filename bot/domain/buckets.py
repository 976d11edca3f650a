"""Token buckets: how often something may happen. The one implementation, for the
limits the bot sets (`TokenBuckets`: per caller of the hook, per person, so that nobody
can make it do unbounded work) and for Slack's limits it keeps to (bot/outbound/)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import TTLCache

KEYS_KEPT = 10_000
FORGET_AFTER = 600.0  # seconds without a call before a key's bucket is dropped (full again)


@dataclass
class TokenBucket:
    """`burst` calls at once, then `rate` a second; time is given by the caller."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    at: float | None = None  # when it was last refilled

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def wait(self, now: float) -> float:
        """Take a call's token: 0 when it may go now, else the seconds until it may."""
        until = self.until_token(now)
        if until == 0:
            self.tokens -= 1
        return until

    def allow(self, now: float) -> bool:
        """Take a token if there is one now."""
        return self.wait(now) == 0

    def until_token(self, now: float) -> float:
        """Seconds until a call may go (0: now), taking nothing."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def empty(self, now: float) -> None:
        """Spend what the bucket has (the other side said it was spent already)."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def _refill(self, now: float) -> None:
        if self.at is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now


class TokenBuckets:
    """A `TokenBucket` per key; keys not heard from for a while are forgotten, so the
    memory is bounded however many keys come."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._buckets: TTLCache[str, TokenBucket] = TTLCache(KEYS_KEPT, ttl=FORGET_AFTER)

    def allow(self, key: str) -> bool:
        bucket = self._buckets.get(key) or TokenBucket(self._rate, self._burst)
        allowed = bucket.allow(self._clock())
        self._buckets[key] = bucket  # heard from now: kept for another FORGET_AFTER
        return allowed
