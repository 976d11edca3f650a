"""Hints that something changed in Cflow (its hook), handed to the polling instance.

The instance that receives a hint and polls keeps it here and wakes its poller at once;
another instance leaves it in the store, where the poller looks twice a second. A hint
is only ever a reason to read Cflow sooner: the state shown is always what Cflow says.
Many hints for one workflow before the poller gets to them are one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from bot.store.contracts import HintStore
from bot.telemetry.health import PollerHealth

log = logging.getLogger(__name__)
ALL = "*"  # a hint without a usable workflow: read every workflow now
STORE_CHECK_SECONDS = 0.5


class Hints:
    def __init__(self, store: HintStore, health: PollerHealth) -> None:
        self._store = store
        self._health = health
        self._local: set[str] = set()
        self._arrived = asyncio.Event()

    async def add(self, workflow_ids: Iterable[str]) -> None:
        """Workflows to read now (ALL: every one)."""
        wanted = set(workflow_ids) or {ALL}
        if self._health.leading:
            self._local |= wanted
            self._arrived.set()
        else:
            await self._store.add_hints(wanted)

    async def next(self, stop: asyncio.Event, timeout: float) -> set[str]:  # noqa: ASYNC109
        """The hints that come within `timeout` (empty when none did, or at `stop`)."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            taken = self._take_local() | await self._from_store()
            left = deadline - time.monotonic()
            if taken or left <= 0:
                return taken
            await _first(self._arrived, stop, min(left, STORE_CHECK_SECONDS))
        return set()

    def _take_local(self) -> set[str]:
        taken, self._local = self._local, set()
        self._arrived.clear()
        return taken

    async def _from_store(self) -> set[str]:
        try:
            return await self._store.take_hints()
        except Exception as error:  # the next look, or the next cycle, finds them
            log.warning("Could not read the hook's hints (%s)", type(error).__name__)
            return set()


async def _first(one: asyncio.Event, other: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    waits = {asyncio.ensure_future(one.wait()), asyncio.ensure_future(other.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
