"""Who is alive: each instance's heartbeat, so that what a stopped one left is taken over.

Every instance writes its beat to the store every `period` (half a poll interval, within
bounds) and reads who else beat lately. Work an instance left behind (a card it claimed
but never confirmed, changes it recorded but did not deliver) is taken over once it
has missed two beats, or at once when it stopped cleanly (it deletes its beat), instead
of when its claims age by minutes. Claims age in real time (Slack's ts are real), so
this clock is real time too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.store.contracts import InstanceStore
from bot.store.records import TrackedRequest

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MIN_PERIOD = 0.5  # seconds: a beat is a write; tests poll every 0.2 s
MAX_PERIOD = 15.0


def beat_period(poll_interval: float) -> float:
    return min(max(poll_interval / 2, MIN_PERIOD), MAX_PERIOD)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Liveness:
    def __init__(
        self, store: InstanceStore, instance_id: str, *, period: float, clock: Clock = utc_now
    ) -> None:
        self.instance_id = instance_id
        self._store = store
        self._period = period
        self._clock = clock
        self._alive: set[str] | None = None  # None until read: everyone counts as alive

    @property
    def grace(self) -> timedelta:
        """How long an instance may go without a beat before its work is taken over."""
        return timedelta(seconds=2 * self._period)

    def is_alive(self, instance_id: str | None) -> bool:
        """Whether `instance_id` beat lately (unknown instances count as alive until the
        first read, so that a start never takes over a live instance's work)."""
        if instance_id is None or instance_id == self.instance_id or self._alive is None:
            return True
        return instance_id in self._alive

    def due(self, tracked: TrackedRequest) -> TrackedRequest:
        """`tracked`, due now if the instance delivering its last event has stopped."""
        if tracked.retry_at is None or self.is_alive(tracked.owner):
            return tracked
        return replace(tracked, retry_at=min(tracked.retry_at, self._clock()))

    async def beat(self) -> None:
        now = self._clock()
        await self._store.beat(self.instance_id, now)
        self._alive = await self._store.live_instances(now - self.grace)

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every period until `stop`; a failed beat is logged and tried again."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._period)
            if not stop.is_set():
                try:
                    await self.beat()
                except Exception as error:
                    log.warning("Heartbeat failed (%s)", type(error).__name__)

    async def goodbye(self) -> None:
        """A clean stop, once what was on its way is out: what is left here (due again in
        the store) is taken over at once by whichever instance polls."""
        try:
            await self._store.forget_instance(self.instance_id)
        except Exception as error:
            log.warning("Could not say goodbye (%s)", type(error).__name__)
