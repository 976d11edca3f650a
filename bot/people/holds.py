"""A click's hold on a request: the store's lock row that makes simultaneous clicks,
here or on another instance, one Cflow call, and its release once the outcome is known."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.cflow import RetryPolicy
from bot.store.contracts import LockStore

log = logging.getLogger(__name__)
# Room after the Cflow calls themselves for the store (and the rare busy re-render).
LOCK_MARGIN_SECONDS = 60.0
RELEASE_RETRY_SECONDS = 0.5  # how often a release the store did not take is tried again


def lock_seconds(cflow_timeout: float) -> float:
    """How long a decision may hold its request: two reads (with their retries), the
    call, a settling read, and recording it, so the lock never lapses mid-decision."""
    return 3 * cflow_timeout + RetryPolicy().total + LOCK_MARGIN_SECONDS


class Hold:
    """One click's hold on a request (its lock row in the store), released once: as soon
    as Cflow has answered and the store has the outcome, before any card is edited.

    The poller leaves a held request alone, so a release the store did not take (it was
    away) is tried again in the background until it is, rather than left to lapse at the
    lock's time-out: the request's cards catch up seconds after the store is back."""

    def __init__(
        self, store: LockStore, lock: str, holder: str, ttl: float, retries: set[asyncio.Task[None]]
    ) -> None:
        self._store, self._lock, self._holder = store, lock, holder
        self._lapses_at = time.monotonic() + ttl
        self._retries = retries
        self.released = False

    @classmethod
    async def take(
        cls, store: LockStore, lock: str, holder: str, ttl: float, retries: set[asyncio.Task[None]]
    ) -> Hold | None:
        """The hold, or None while another click (here or on another instance) has it."""
        if not await store.try_lock(lock, holder, ttl):
            return None
        return cls(store, lock, holder, ttl, retries)

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            await self._store.unlock(self._lock, self._holder)
        except Exception as error:  # the store went away: asked again until it is back
            log.warning("Could not release %s yet (%s)", self._lock, type(error).__name__)
            retry = asyncio.create_task(self._release_later())
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)

    async def _release_later(self) -> None:
        while time.monotonic() < self._lapses_at:
            await asyncio.sleep(RELEASE_RETRY_SECONDS)
            try:
                await self._store.unlock(self._lock, self._holder)
            except Exception:
                continue
            log.info("Released %s once the store was back", self._lock)
            return
