"""Virtual time: a clock, a monotonic clock and a sleep that the test runs, not the wall.

The step tests (tests/step/) give one `VirtualTime` to the bot as its timebase
(bot.runtime.services.Timebase) and to the Slack stand-in as its clock: Slack's real
limits are then enforced, and paced to, in virtual seconds, and a reminder due in a
day is a line of the test away, with no wall time spent on either.

Time stands still unless the test lets it run, with `advance()` (for a while) or
`run_until()` (until some work is done, such as a step's delivery); a test reads what
happened at a moment it chose, and a cycle never finds the clock moved by itself. While
time runs, sleepers wake in time order: the one due first wakes first, with the clock
reading its wake-up time, and the next is woken only once the loop has settled, so what
the first did (a Slack call it let go) happens at its own moment, before the clock moves.

The approximation: "settled" cannot be known exactly while real I/O is under way (the
stand-ins are on local sockets, the store in aiosqlite's thread). Before each wake-up
the loop runs a few turns and `quiet` seconds of wall time, and then for as long as
`busy()` says (the step harness: a Slack call the pacer let go that the stand-in has not
received yet). Work slower than that finds the clock moved on under it, as if it had
taken that long: later, never earlier, so a limit that both sides count by this clock
(the bot's pacing and the stand-in's 429s) is never broken by it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

T = TypeVar("T")
TURNS = 3  # loop turns before each wake-up: a woken task's next steps are ready callbacks
BUSY_AT_MOST = 2.0  # wall seconds `busy()` may hold the clock before it runs anyway


class VirtualTime:
    """`now()` (aware UTC), `monotonic()` and `sleep()`, all on one virtual timeline."""

    def __init__(self, start: datetime, *, quiet: float = 0.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        self._start = start.astimezone(UTC)
        # Whole microseconds (a datetime's resolution), so that a sleep always moves the
        # clock: a pacer waiting out a float's rounding error would otherwise wake, find
        # its token still a hair short, and sleep that hair again, forever.
        self._micros = 0
        self._wakeups: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pushed = asyncio.Event()
        self.quiet = quiet
        self.busy: Callable[[], bool] = lambda: False

    # What the bot reads and awaits

    def now(self) -> datetime:
        return self._start + timedelta(microseconds=self._micros)

    def monotonic(self) -> float:
        return self._micros / 1e6

    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` of virtual time have passed (once the test lets them)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        at = self._micros + max(1, math.ceil(seconds * 1e6))
        heapq.heappush(self._wakeups, (at, next(self._order), wake))
        self._pushed.set()
        await wake

    # What the test runs

    @property
    def sleepers(self) -> int:
        """Sleepers waiting for their time."""
        return sum(1 for *_, wake in self._wakeups if not wake.done())

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass: each sleeper due by then wakes in its turn."""
        target = self._micros + round(seconds * 1e6)
        while True:
            await self._settle()
            if not self._wake_next(until=target):
                break
        self._micros = max(self._micros, target)

    async def advance_to(self, moment: datetime) -> None:
        await self.advance((moment - self.now()).total_seconds())

    async def run_until(self, work: Awaitable[T]) -> T:
        """Await `work`, letting time run as far as it needs: whenever nothing else
        can go on, the next sleeper wakes."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await self._settle()
                self._pushed.clear()
                if task.done() or self._wake_next():
                    continue
                pushed = asyncio.ensure_future(self._pushed.wait())
                try:  # the work is waiting on something real: until it ends or sleeps
                    await asyncio.wait({task, pushed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    pushed.cancel()
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    def close(self) -> None:
        """Cancel whoever still sleeps (a test's end)."""
        for *_, wake in self._wakeups:
            wake.cancel()
        self._wakeups.clear()

    # Driving

    async def _settle(self) -> None:
        for _ in range(TURNS):
            await asyncio.sleep(0)
        if self.quiet > 0:
            await asyncio.sleep(self.quiet)
        deadline = time.monotonic() + BUSY_AT_MOST
        # Polled: what it watches (another component's records) has no event to await.
        while self.busy() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0)  # each turn also looks at the sockets

    def _wake_next(self, until: int | None = None) -> bool:
        """Wake the sleeper due first, if it is due by `until` (microseconds); whether
        one woke."""
        while self._wakeups and self._wakeups[0][2].done():
            heapq.heappop(self._wakeups)  # cancelled while it slept
        if not self._wakeups or (until is not None and self._wakeups[0][0] > until):
            return False
        at, _, wake = heapq.heappop(self._wakeups)
        self._micros = max(self._micros, at)
        wake.set_result(None)
        return True
