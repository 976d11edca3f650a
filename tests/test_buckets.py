"""The one token bucket (bot/domain/buckets.py): the bot's own limits per person and per
caller, and Slack's limits that the pacer keeps to and the stand-in enforces."""

from __future__ import annotations

from bot.domain.buckets import TokenBucket, TokenBuckets
from bot.outbound.limits import TIER_3, RateLimits


def test_a_bucket_gives_its_burst_at_once_then_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.wait(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait(0.0) == 0.5  # one token comes every 1/rate seconds
    assert bucket.until_token(0.25) == 0.25  # asking takes nothing
    assert bucket.allow(0.5) and not bucket.allow(0.5)
    assert [bucket.allow(t) for t in (100.0, 100.0, 100.0, 100.0)] == [True] * 3 + [False]


def test_an_emptied_bucket_refills_from_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=5)
    bucket.empty(10.0)  # the other side said it was spent (Slack's 429)
    assert bucket.until_token(10.0) == 1.0
    assert bucket.allow(11.0) and not bucket.allow(11.0)


def test_buckets_by_key_are_apart() -> None:
    now = [0.0]
    limits = TokenBuckets(rate=1.0, burst=2, clock=lambda: now[0])
    assert [limits.allow("bob") for _ in range(3)] == [True, True, False]
    assert limits.allow("carol")
    now[0] = 1.0
    assert limits.allow("bob") and not limits.allow("bob")


def test_slacks_limits_are_the_same_buckets() -> None:
    bucket = TIER_3.bucket()
    assert isinstance(bucket, TokenBucket)
    assert (bucket.rate, bucket.burst) == (TIER_3.per_second, TIER_3.burst)
    slack = RateLimits(scale=1.0)
    answers = [slack.retry_after("chat.update", None, 0.0) for _ in range(TIER_3.burst + 1)]
    assert answers == [None] * TIER_3.burst + [2]  # 1.2 s to the next token, rounded up
