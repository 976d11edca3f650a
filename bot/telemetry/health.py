"""What /healthz says: is this process's poller alive and getting anywhere, and does the
store answer, as last seen, so that a GET costs no database query.

The poller loop writes here and the web app reads; both hold the same object, built with
the services. Every instance runs the loop, and the loop asks the store anyway: for the
lease each turn (the polling instance each interval, and while a long cycle runs; the
others twice an interval, reading the last cycle recorded too), and the polling instance
records its own cycles. A process without the loop (`--no-poller`) answers from a
`StoreSnapshot` instead, asked at most every few seconds. Only error classes and counts
are kept, never an error's text: /healthz is often reachable by more people than the
logs are.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from bot.store.records import PollRun

STALE_INTERVALS = 3  # no completed cycle for this many intervals: unhealthy
STORE_PATIENCE = 5.0  # seconds a store call of the loop may wait before it "does not answer"
SNAPSHOT_SECONDS = 5.0  # how long a process without the loop reuses what the store said


@dataclass(frozen=True)
class StoreView:
    """What the store said about itself and the poller lease, at `at` (monotonic)."""

    at: float
    reachable: bool
    polling_here: bool = False  # this instance holds the poller lease
    others_poll: bool = False  # another instance holds it
    run: PollRun | None = None  # the last cycle recorded


@dataclass
class PollerHealth:
    enabled: bool = False  # whether this process runs a poller at all
    interval: float = 30.0
    leading: bool = False  # held the lease at the last turn
    started_at: float | None = None  # monotonic
    # monotonic: the end of the last whole cycle, or the last turn that found another
    # instance polling (standing by is this instance's whole job then)
    last_progress: float | None = None
    cycles: int = 0  # completed by this process
    consecutive_failures: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # "stage: ErrorClass" -> count
    store_ok: bool | None = None  # whether the loop's last lease call answered; None: none yet
    store_seen_at: float | None = None  # monotonic: when it ended
    asking_since: float | None = None  # monotonic: a lease call of the loop under way
    others_leading: bool = False  # another instance held the lease at the last turn
    last_run: PollRun | None = None  # the last cycle: recorded here, or read at a standby turn

    def started(self, now: float) -> None:
        self.enabled, self.started_at = True, now

    def progressed(self, now: float) -> None:
        self.last_progress, self.consecutive_failures = now, 0

    def cycle_completed(self, now: float) -> None:
        self.cycles += 1
        self.progressed(now)

    def failed(self, stage: str, error: BaseException) -> int:
        """Count a failure; returns how many in a row (for the backoff)."""
        self.failures[f"{stage}: {type(error).__name__}"] += 1
        self.consecutive_failures += 1
        return self.consecutive_failures

    @contextlib.contextmanager
    def asking_store(self) -> Iterator[None]:
        """Around a lease call of the loop: whether the store answered, and for how long
        a call still under way has waited (a database that hangs answers nothing)."""
        self.asking_since = time.monotonic()
        try:
            yield
            self.store_ok = True
        except Exception:
            self.store_ok = False
            raise
        finally:
            self.asking_since, self.store_seen_at = None, time.monotonic()

    def lease_seen(self, leading: bool, others_run: PollRun | None) -> None:
        """The lease as a turn found it; a standby's turn also read the last cycle."""
        self.leading, self.others_leading = leading, not leading
        if not leading:
            self.last_run = others_run

    def view(self, now: float | None = None) -> StoreView | None:
        """What the loop last saw of the store; None before its first lease call ends."""
        if self.store_ok is None or self.store_seen_at is None:
            return None
        now = time.monotonic() if now is None else now
        waiting = self.asking_since is not None and now - self.asking_since > STORE_PATIENCE
        if waiting or not self.store_ok:
            return StoreView(now if waiting else self.store_seen_at, reachable=False)
        return StoreView(self.store_seen_at, True, self.leading, self.others_leading, self.last_run)

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds without a completed cycle when that is too long, else None."""
        if not self.enabled or self.started_at is None:
            return None
        now = time.monotonic() if now is None else now
        since = now - (self.last_progress or self.started_at)
        return since if since > STALE_INTERVALS * self.interval else None

    def summary(self) -> dict[str, object]:
        return {
            "cycles": self.cycles,
            "consecutive_failures": self.consecutive_failures,
            "failures": dict(self.failures),
        }


class StoreSnapshot:
    """For a process without a poller loop (or before its first turn): what the store
    said, asked again at most every `every` seconds however many GETs come, and by one
    GET at a time."""

    def __init__(self, every: float = SNAPSHOT_SECONDS) -> None:
        self._every = every
        self._view: StoreView | None = None
        self._asking = asyncio.Lock()

    async def view(self, ask: Callable[[], Awaitable[StoreView]]) -> StoreView:
        async with self._asking:
            if self._view is None or time.monotonic() - self._view.at >= self._every:
                self._view = await ask()
            return self._view
