"""What /healthz says about this process's poller: is it alive, and is it getting anywhere.

The poller writes here and the web app reads; both hold the same object, built with the
services. Only error classes and counts are kept, never an error's text: /healthz is
often reachable by more people than the logs are.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

STALE_INTERVALS = 3  # no completed cycle for this many intervals: unhealthy


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
