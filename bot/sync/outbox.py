"""Publishing off the poll cycle: changes wait here and go to Slack at Slack's pace.

The poller records each change in the store (numbered) and hands it here, so the next
cycle starts on time however long Slack takes to take it all. Per request only the
newest change matters: a newer one supersedes an older one still on its way (its
remaining Slack calls are skipped when their turn comes, bot.outbound.pacing.Superseded), and a
request's changes go out one after another, so its card is posted before it is
edited or threaded. While deliveries are on their way, the store is asked now and then
whether a newer event of their requests was recorded anywhere (a decision on another
instance): what that supersedes is skipped too. What is left at shutdown is not lost:
the store marks it as due again, and the next cycle (here or on another instance)
delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from bot.store.contracts import TrackingStore
from bot.store.records import RequestKey
from bot.sync.changes import Change, Event
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
WATCH_EVERY = 1.0  # seconds between looks for events recorded elsewhere, while delivering


class Outbox:
    def __init__(
        self,
        store: TrackingStore,
        metrics: Metrics,
        *,
        on_superseded: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_superseded` hears that queued work is no longer wanted (Slack's pacer
        drops what waits for it)."""
        self._store = store
        self._metrics = metrics
        self._on_superseded = on_superseded
        self._watching: asyncio.Task[None] | None = None
        self._newest: dict[RequestKey, int] = {}  # per request, the newest event handed in
        self._turns: dict[RequestKey, asyncio.Lock] = {}
        self._open: dict[RequestKey, int] = {}  # accepted events not yet done, per request
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def accept(self, events: Sequence[Event]) -> list[Event]:
        """The events worth delivering: a retry of a request already on its way is not
        (what is on its way does all of it), nor anything older than what is. Each one
        accepted must end in `turn()` or `release()`."""
        accepted = []
        for event in events:
            key = event.obs.key
            newest = self._newest.get(key)
            if newest is not None and (event.seq < newest or event.change is Change.RETRY):
                continue
            self._newest[key] = event.seq
            self._open[key] = self._open.get(key, 0) + 1
            accepted.append(event)
        return accepted

    def open_keys(self) -> list[RequestKey]:
        """The requests with deliveries on their way."""
        return list(self._open)

    def supersede(self, stored: dict[RequestKey, int]) -> bool:
        """Newest events as recorded in the store (anywhere): what is on its way here and
        older is no longer current. Whether anything was superseded."""
        superseded = False
        for key, seq in stored.items():
            if key in self._newest and seq > self._newest[key]:
                self._newest[key] = seq
                superseded = True
        return superseded

    def is_current(self, event: Event) -> bool:
        """False once a newer change of its request came in, or the process is stopping."""
        newest = self._newest.get(event.obs.key, event.seq)
        return not self._closing and newest <= event.seq

    @contextlib.asynccontextmanager
    async def turn(self, event: Event) -> AsyncIterator[bool]:
        """One delivery at a time per request; yields whether it had to wait for another."""
        key = event.obs.key
        lock = self._turns.setdefault(key, asyncio.Lock())
        waited = lock.locked()
        try:
            async with lock:
                yield waited
        finally:
            self.release([event])

    def release(self, events: Sequence[Event]) -> None:
        """These accepted events are done with (delivered, superseded or failed)."""
        for event in events:
            key = event.obs.key
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key], self._newest[key]
                self._turns.pop(key, None)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background (a failure is logged: the store has it as due)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        self._metrics.outbox_depth.set(len(self._tasks))
        task.add_done_callback(self._finished)

    def watch(self) -> None:
        """Look in the store for newer events of what is on its way, until it is out."""
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._watch_store())

    async def _watch_store(self) -> None:
        while self.depth:
            await asyncio.sleep(WATCH_EVERY)
            try:
                stored = await self._store.tracked_for(self.open_keys())
            except Exception as error:  # the next look, or the next cycle, will do
                log.info("Could not look for newer events (%s)", type(error).__name__)
                continue
            if self.supersede({key: row.seq for key, row in stored.items()}):
                self._on_superseded()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._metrics.outbox_depth.set(len(self._tasks))
        if not task.cancelled() and task.exception() is not None:
            log.error("Delivering changes failed", exc_info=task.exception())

    @property
    def depth(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        """Wait until everything handed in so far (and since) is delivered."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def closing(self) -> None:
        """From now on nothing is current: each delivery stops at its next Slack call."""
        self._closing = True

    async def close(self, grace: float) -> None:
        """Stop at the next Slack call (what is left is due again in the store)."""
        if self._watching is not None:
            self._watching.cancel()
        self.closing()
        self._on_superseded()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
