"""Slack's published Web API rate limits, as the fake Slack enforces them.

Slack limits each method per app per workspace by tier, and `chat.postMessage` also
per channel (about one message a second, short bursts allowed). Beyond a limit it
answers HTTP 429 with `Retry-After`. Source: docs.slack.dev/apis/web-api/rate-limits
and each method's page. The tiers promise "N+ per minute"; the fake holds apps to N,
with small bursts, so that pacing that passes here passes on Slack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    tier: str  # Slack's name for it
    per_minute: float
    burst: int  # calls at once before the rate applies
    per_channel: bool = False  # counted per channel, not per workspace

    @property
    def per_second(self) -> float:
        return self.per_minute / 60


TIER_2 = Limit("Tier 2", 20, 3)
TIER_3 = Limit("Tier 3", 50, 5)
TIER_4 = Limit("Tier 4", 100, 10)
POSTING = Limit("Special: 1 message per second per channel", 60, 3, per_channel=True)

LIMITS: dict[str, Limit] = {
    "chat.postMessage": POSTING,
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.getPermalink": TIER_4,
    "conversations.open": TIER_3,
    "conversations.info": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.members": TIER_4,
    "conversations.list": TIER_2,
    "users.info": TIER_4,
    "users.lookupByEmail": TIER_3,
    "views.open": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
    "auth.test": TIER_4,
}


@dataclass
class Bucket:
    """A token bucket: `burst` calls at once, then one per 1/rate seconds."""

    limit: Limit
    tokens: float = field(init=False)
    at: float | None = None

    def __post_init__(self) -> None:
        self.tokens = float(self.limit.burst)

    def wait(self, now: float) -> float:
        """Take a call's token: 0 when it may go now, else the seconds until it may."""
        if self.at is not None:
            refill = (now - self.at) * self.limit.per_second
            self.tokens = min(float(self.limit.burst), self.tokens + refill)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.limit.per_second


class RateLimits:
    """Every bucket of one workspace, keyed by method (and channel where Slack does)."""

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self._limits = LIMITS if limits is None else limits
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def retry_after(self, method: str, channel: str | None, now: float) -> int | None:
        """None when the call may go; else Slack's `Retry-After`, in whole seconds."""
        limit = self._limits.get(method)
        if limit is None:
            return None
        key = (method, (channel or "") if limit.per_channel else "")
        bucket = self._buckets.setdefault(key, Bucket(limit))
        wait = bucket.wait(now)
        return max(1, math.ceil(wait)) if wait > 0 else None
