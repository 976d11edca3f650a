"""Slack's published Web API rate limits: one table, read by the bot's pacing and the fake.

Slack limits each method per app per workspace by tier, and `chat.postMessage` also
per channel (about one message a second, short bursts allowed) under a workspace-wide
cap of "several hundred a minute". Beyond a limit it answers HTTP 429 with
`Retry-After`. Source: docs.slack.dev/apis/web-api/rate-limits and each method's page.
The tiers promise "N+ per minute"; the table holds apps to N, with small bursts, so
that pacing that passes the fake passes on Slack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.buckets import TokenBucket


@dataclass(frozen=True)
class Limit:
    tier: str  # Slack's name for it
    per_minute: float
    burst: int  # calls at once before the rate applies
    per_channel: bool = False  # counted per channel, not per workspace

    @property
    def per_second(self) -> float:
        return self.per_minute / 60

    def scaled(self, rate: float, burst: int) -> Limit:
        """The same limit, slower and with a smaller burst: a margin for clocks and jitter."""
        return Limit(
            self.tier, self.per_minute * rate, max(1, self.burst - burst), self.per_channel
        )

    def bucket(self) -> TokenBucket:
        """A full bucket of this limit's tokens."""
        return TokenBucket(self.per_second, self.burst)

    def floor_seconds(self, calls: int) -> float:
        """The least time Slack lets `calls` calls under this limit take."""
        return max(0, calls - self.burst) / self.per_second


TIER_2 = Limit("Tier 2", 20, 3)
TIER_3 = Limit("Tier 3", 50, 5)
TIER_4 = Limit("Tier 4", 100, 10)
POSTING = Limit("Special: 1 message per second per channel", 60, 3, per_channel=True)
POSTING_WORKSPACE = Limit("Special: several hundred messages per minute per workspace", 300, 30)

LIMITS: dict[str, tuple[Limit, ...]] = {
    "chat.postMessage": (POSTING, POSTING_WORKSPACE),
    "chat.postEphemeral": (TIER_4,),
    "chat.update": (TIER_3,),
    "chat.delete": (TIER_3,),
    "chat.getPermalink": (TIER_4,),
    "chat.unfurl": (TIER_3,),
    "conversations.open": (TIER_3,),
    "conversations.info": (TIER_3,),
    "conversations.history": (TIER_3,),
    "conversations.replies": (TIER_3,),
    "conversations.members": (TIER_4,),
    "conversations.list": (TIER_2,),
    "users.info": (TIER_4,),
    "users.lookupByEmail": (TIER_3,),
    "views.open": (TIER_4,),
    "views.push": (TIER_4,),
    "views.update": (TIER_4,),
    "views.publish": (TIER_4,),
    "auth.test": (TIER_4,),
    "functions.completeSuccess": (TIER_3,),
    "functions.completeError": (TIER_3,),
}

BucketKey = tuple[str, str, str]  # method, limit's tier, channel ("" when per workspace)


def bucket_keys(
    method: str, channel: str | None, limits: Mapping[str, tuple[Limit, ...]] = LIMITS
) -> list[tuple[BucketKey, Limit]]:
    """Every bucket a call to `method` (in `channel`) takes a token from."""
    return [
        ((method, limit.tier, (channel or "") if limit.per_channel else ""), limit)
        for limit in limits.get(method, ())
    ]


class RateLimits:
    """Every bucket of one workspace, keyed by method (and channel where Slack does)."""

    def __init__(
        self, limits: Mapping[str, tuple[Limit, ...]] | None = None, *, scale: float = 1.0
    ) -> None:
        """`scale` multiplies every rate (a faster Slack, for quick tests)."""
        given = LIMITS if limits is None else limits
        self._limits = {m: tuple(lim.scaled(scale, 0) for lim in v) for m, v in given.items()}
        self._buckets: dict[BucketKey, TokenBucket] = {}

    def retry_after(self, method: str, channel: str | None, now: float) -> int | None:
        """None when the call may go; else Slack's `Retry-After`, in whole seconds.

        A refused call takes no token from any bucket, as on Slack."""
        buckets = [
            self._buckets.setdefault(key, limit.bucket())
            for key, limit in bucket_keys(method, channel, self._limits)
        ]
        waits = [bucket.until_token(now) for bucket in buckets]
        if any(wait > 0 for wait in waits):
            return max(1, math.ceil(max(waits)))
        for bucket in buckets:
            bucket.wait(now)
        return None
