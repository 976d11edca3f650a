"""What Cflow shows the service account now, shared by every person's desk and commands.

A Home tab, `/cflow pending`, a digest asked for now or `/cflow show` used to list every
active workflow with the person's own key: 1 + N Cflow calls and the parsing of every
listing, per person, per click. They are served from here instead, filtered to what the
person takes part in (bot.domain.access): the polling instance hands over each cycle's listing;
any other instance reads one itself when the last is two poll intervals old (one read
at a time, however many people ask). A decision or a change the publisher records updates the
request here at once, so a desk never shows what was just decided as waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.cflow import CflowClient, CflowError, Credentials, Request, Workflow
from bot.cflow.models import PENDING
from bot.store.records import RequestKey
from bot.sync.changes import Observation

log = logging.getLogger(__name__)
Listed = list[tuple[Workflow, Request]]
READS_AT_ONCE = 8  # listRequests calls of one read, within the client's bound of 32


@dataclass(frozen=True)
class Seen:
    """One listing: every request kept, by key, with its workflow; `partial` when some
    workflow's listing failed (what is shown may then be incomplete)."""

    requests: dict[RequestKey, tuple[Workflow, Request]] = field(default_factory=dict)
    at: float = float("-inf")  # monotonic
    partial: bool = False

    def items(self) -> Listed:
        return list(self.requests.values())


class SharedListing:
    def __init__(
        self,
        cflow: CflowClient,
        service: Credentials,
        *,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cflow = cflow
        self._service = service
        self._max_age = max_age
        self._clock = clock
        self._seen = Seen()
        self._reading: asyncio.Task[Seen] | None = None

    def publish(
        self, workflows: Sequence[Workflow], listed: Sequence[tuple[Workflow, Sequence[Request]]]
    ) -> None:
        """The poller's cycle: what it listed. A workflow whose listing failed keeps what
        was known of it, and the listing says it is partial."""
        fresh = {(w.id, r.id): (w, r) for w, requests in listed for r in requests}
        done = {w.id for w, _ in listed}
        active = {w.id for w in workflows}
        kept = {k: v for k, v in self._seen.requests.items() if k[0] in active - done}
        self._seen = Seen(fresh | kept, self._clock(), partial=bool(active - done))

    def observed(self, observations: Sequence[Observation]) -> None:
        """Requests as the publisher just recorded them (a decision, a poll's change)."""
        if not observations:
            return
        changed = {obs.key: (obs.workflow, obs.request) for obs in observations}
        seen = self._seen
        self._seen = Seen(seen.requests | changed, seen.at, seen.partial)

    async def current(self) -> Seen:
        """The latest listing; read again (once, for everyone waiting) when older than
        the poll interval, which happens only where no poller hands one over."""
        if self._clock() - self._seen.at <= self._max_age:
            return self._seen
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read())
        return await asyncio.shield(self._reading)

    async def _read(self) -> Seen:
        try:
            workflows = [w for w in await self._cflow.list_workflows(self._service) if w.is_active]
        except CflowError as error:
            log.warning("Cannot list workflows for the desks (%s)", type(error).__name__)
            # Tried now: the next read waits its interval, however many people ask.
            self._seen = Seen(self._seen.requests, self._clock(), partial=True)
            return self._seen
        slots = asyncio.Semaphore(READS_AT_ONCE)

        async def one(workflow: Workflow) -> list[Request] | None:
            async with slots:
                try:
                    return await self._cflow.list_requests(
                        self._service, workflow.id, keep=_pending
                    )
                except CflowError as error:
                    log.warning("Cannot list %s for the desks (%s)", workflow.id, error.message)
                    return None

        results = await asyncio.gather(*(one(w) for w in workflows))
        listed = [(w, r) for w, r in zip(workflows, results, strict=True) if r is not None]
        self.publish(workflows, listed)
        return self._seen


def _pending(record: dict[str, object]) -> bool:
    return record.get("status") == PENDING
