"""One pace of Slack calls per workspace, however many instances make them.

Slack counts each method's calls per app per workspace: two instances that each pace
alone make twice what Slack allows, and one's 429 tells the other nothing. So on a
database several instances share (PostgreSQL), each lane of the pacer takes its slots
from the store (bot/store/sql_pace.py) instead of a bucket in its own memory: a few
slots a round trip, as many as it has calls waiting, and a 429's `Retry-After` goes to
the store too, where every instance's next reservation sees it.

The store is a help, not a dependency: when it does not answer within `ANSWER_WITHIN`,
this instance paces alone (its own buckets, as before) for `ALONE_FOR` seconds, says so
once in the log and counts it (`cflow_bot_slack_pace_fallbacks_total`), then asks again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from prometheus_client import Counter, Gauge
from sqlalchemy.engine import make_url

from bot.outbound.limits import BucketKey, Limit
from bot.store import database_url_for_sqlalchemy
from bot.store.sql_pace import open_pace
from bot.telemetry.metrics import PREFIX, Metrics

log = logging.getLogger(__name__)
ANSWER_WITHIN = 1.0  # seconds the store has for a reservation before this instance paces alone
ALONE_FOR = 5.0  # seconds of pacing alone before the store is asked again
MOST_AT_ONCE = 5  # slots one round trip reserves at most: the rest of the queue asks again


class PaceStore(Protocol):
    """What the shared pace needs of the store (bot/store/sql_pace.py)."""

    async def reserve_slack_calls(
        self, bucket: str, calls: int, interval: float, tolerance: float
    ) -> list[float]: ...

    async def hold_slack_buckets(self, tolerances: Mapping[str, float], seconds: float) -> None: ...

    async def close(self) -> None: ...


def across_instances(database_url: str, metrics: Metrics) -> SharedPace | None:
    """The pace every instance on this database shares; None on SQLite, which one
    process uses (its pacing in memory costs no round trip)."""
    if make_url(database_url_for_sqlalchemy(database_url)).get_backend_name() == "sqlite":
        return None
    return SharedPace(open_pace(database_url), metrics)


class SharedPace:
    """The store every instance paces through, and whether it answers just now."""

    def __init__(
        self, store: PaceStore, metrics: Metrics, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._clock = clock
        self._alone_until: float | None = None
        reg = metrics.registry
        self._shared = Gauge(
            f"{PREFIX}_slack_pace_shared",
            "1 while Slack calls are paced with the other instances, 0 while paced alone",
            registry=reg,
        )
        self._fallbacks = Counter(
            f"{PREFIX}_slack_pace_fallbacks",
            "Times the shared pace did not answer and this instance paced alone a while",
            registry=reg,
        )
        self._reservations = Counter(
            f"{PREFIX}_slack_pace_reservations",
            "Round trips to the shared pace, each for one or a few calls' slots, by method",
            ["method"],
            registry=reg,
        )
        self._shared.set(1)

    async def close(self) -> None:
        await self._store.close()

    def slots(self, key: BucketKey, limit: Limit, clock: Callable[[], float]) -> SharedSlots:
        """One lane's view of the bucket `key`, which every instance draws from; `clock`
        is the lane's."""
        return SharedSlots(self, key, limit, clock)

    def answering(self) -> bool:
        """False for a while after the store failed to answer: pace alone meanwhile."""
        return self._alone_until is None or self._clock() >= self._alone_until

    async def reserve(self, slots: SharedSlots, calls: int) -> list[float] | None:
        """Seconds from now for each of `calls` slots; None when the store did not answer."""
        self._reservations.labels(slots.method).inc()
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                found = await self._store.reserve_slack_calls(
                    slots.bucket, calls, slots.interval, slots.tolerance
                )
        except Exception as error:  # whatever the store's trouble, Slack calls go on
            self._went_away(error)
            return None
        self._came_back()
        return found

    async def hold(self, held: Sequence[SharedSlots], seconds: float) -> None:
        """Slack answered 429: every instance waits `seconds` before calling these buckets."""
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                await self._store.hold_slack_buckets(
                    {slots.bucket: slots.tolerance for slots in held}, seconds
                )
        except Exception as error:
            self._went_away(error)

    def _went_away(self, error: Exception) -> None:
        first = self._alone_until is None
        self._alone_until = self._clock() + ALONE_FOR
        if first:
            self._fallbacks.inc()
            self._shared.set(0)
            log.warning(
                "The shared Slack pace (the database) did not answer (%s): this instance "
                "paces its Slack calls alone, asking again every %.0f s",
                type(error).__name__,
                ALONE_FOR,
            )

    def _came_back(self) -> None:
        if self._alone_until is not None:
            self._alone_until = None
            self._shared.set(1)
            log.info("The shared Slack pace answers again: paced with the other instances")


class SharedSlots:
    """The slots one lane holds of a shared bucket, each to be used when it comes.

    A slot not used by one interval after its time is dropped, never saved for later:
    saved slots would let calls bunch up beyond the burst. One interval late is what the
    pacer's one token of burst margin absorbs."""

    def __init__(
        self, pace: SharedPace, key: BucketKey, limit: Limit, clock: Callable[[], float]
    ) -> None:
        self._pace = pace
        self._clock = clock
        self.method = key[0]
        self.bucket = "|".join(key)
        self.interval = 1 / limit.per_second
        self.tolerance = (limit.burst - 1) * self.interval
        self._most = max(1, min(MOST_AT_ONCE, limit.burst))
        self._held: deque[float] = deque()

    def answering(self) -> bool:
        return self._pace.answering()

    def take_due(self, now: float) -> bool:
        """Use a slot that has come, if this lane holds one: no round trip."""
        while self._held and self._held[0] + self.interval < now:
            self._held.popleft()
        if self._held and self._held[0] <= now:
            self._held.popleft()
            return True
        return False

    async def until_slot(self, wanted: int) -> float | None:
        """Seconds until this lane's next slot (0: taken now), reserving up to `wanted`
        when it holds none; None when the store did not answer."""
        now = self._clock()
        if self.take_due(now):
            return 0.0
        if not self._held:
            found = await self._pace.reserve(self, max(1, min(wanted, self._most)))
            if found is None:
                return None
            now = self._clock()
            self._held.extend(now + seconds for seconds in found)
            if self.take_due(now):
                return 0.0
        # Not due yet; or, never in practice, every slot just reserved already missed.
        return self._held[0] - now if self._held else self.interval

    def forget(self) -> None:
        """After a 429: what this lane held was reserved before Slack said stop."""
        self._held.clear()
