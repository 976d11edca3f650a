"""Find work: list Cflow's workflows and their requests, and hand the differences on.

One cycle lists the workflows, then every active workflow's requests concurrently
(bounded), then compares them with what the bot last published, in one store query.
A workflow whose listing fails is left alone for this cycle: its requests are neither
announced nor declared gone on the strength of a failed call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.cflow import CflowClient, CflowError, CflowNotFoundError, Credentials, Request, Workflow
from bot.cflow.models import PENDING
from bot.cflow.reading import parse_requests
from bot.store.contracts import LockStore, PollRunStore, TrackingStore
from bot.store.records import PollRun, RequestKey, TrackedRequest
from bot.sync.changes import Observation
from bot.sync.hints import Hints
from bot.sync.liveness import Liveness
from bot.sync.publisher import Publisher
from bot.sync.routes import WorkflowRoutes
from bot.sync.shared_listing import SharedListing
from bot.telemetry.health import PollerHealth
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
GONE = "deleted"
POLLER_LEASE = "poller"
LEASE_INTERVALS = 1.5
# Parallel listRequests calls; the Cflow client's own bound (32) leaves room for clicks.
POLL_CONCURRENCY = 16
RETRY_BASE = 1.0  # seconds before the first retry of a failed turn (capped by the interval)


class PollerStore(LockStore, PollRunStore, TrackingStore, Protocol):
    """What a cycle reads and records: the lease, the tracked requests, the run for /healthz."""


@dataclass
class Listing:
    """A workflow's listing as last parsed, with its body: comparing a body with the last
    one costs a fraction of downloading it (a hash of it would cost about as much as the
    download), and is exact. The price is memory: the last body of each listing."""

    body: bytes
    requests: list[Request]
    records: int  # in the whole listing


@dataclass
class Tally:
    """Requests listed in a cycle, parsed or not (for the metrics)."""

    seen: int = 0


class Poller:
    def __init__(
        self,
        cflow: CflowClient,
        service: Credentials,
        store: PollerStore,
        publisher: Publisher,
        metrics: Metrics,
        *,
        interval: float,
        holder: str = "poller",
        concurrency: int = POLL_CONCURRENCY,
        health: PollerHealth | None = None,
        hints: Hints | None = None,
        after_cycle: Callable[[Sequence[tuple[Workflow, Sequence[Request]]]], None] = (
            lambda listed: None
        ),
        routes: WorkflowRoutes | None = None,
        listing: SharedListing | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        """`after_cycle` is given what each cycle listed (the scheduled work's); `hints`
        (Cflow's hook) make it read a workflow between cycles; `routes` hears of each
        workflow listed before its requests are published (a new one goes to no channel)."""
        self._after_cycle = after_cycle
        self._routes = routes
        self._listing = listing  # handed each cycle's listing, for everyone's desks
        self._liveness = liveness  # changes a stopped instance left undelivered are due now
        self._hints = hints
        self._hinted_cycle: float | None = None  # monotonic: the last cycle a hint started
        self._workflows: dict[str, Workflow] = {}  # as the last cycle listed them
        self._listings: dict[str, Listing] = {}
        self._cflow = cflow
        self._service = service
        self._store = store
        self._publisher = publisher
        self._metrics = metrics
        self._interval = interval
        self._holder = holder
        self._lease = LEASE_INTERVALS * interval
        self._slots = asyncio.Semaphore(concurrency)
        self.health = health or PollerHealth()
        self.health.interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every interval while this process holds the poller lease, until `stop`.

        Every instance runs this loop; the lease in the store lets one poll at a time.
        The others check twice an interval, so when the holder dies (its lease lapses
        1.5 intervals after its last renewal) one of them takes over within two
        intervals. Nothing ends the loop but `stop`: a failure of the store (taking or
        renewing the lease, a database restart) or of a cycle is logged, counted, shown
        in /healthz and retried after a backoff that never exceeds the interval.
        """
        self.health.started(time.monotonic())
        while not stop.is_set():
            wait = await self._turn()
            await self._between_cycles(stop, wait)
        await self._release()

    async def _between_cycles(self, stop: asyncio.Event, wait: float) -> None:
        """Until the next turn: the hook's hints are read as they come, while leading.

        A hinted workflow the last cycle listed is read at once. A hint for any other (or
        for none) starts a whole cycle, but at most one an interval: the hook's secret
        must not let a caller make the bot list everything back to back. A hint turned
        down for that is covered by the next scheduled cycle, one interval after the
        cycle the last such hint started.
        """
        deadline = time.monotonic() + wait
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._hints is None or not self.health.leading:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), left)
                return
            hinted = await self._hints.next(stop, left)
            if hinted and await self._on_hints(hinted):
                return

    async def _on_hints(self, hinted: set[str]) -> bool:
        """Read the hinted workflows the last cycle listed; True when a whole cycle should
        start instead (other ids, or the read failed) and may."""
        chosen = [self._workflows[w] for w in hinted if w in self._workflows]
        if len(chosen) < len(hinted) and self._may_cycle_on_a_hint():
            return True
        return not await self._refresh(chosen) and self._may_cycle_on_a_hint()

    def _may_cycle_on_a_hint(self) -> bool:
        """At most one whole cycle an interval on hints (the scheduled ones aside)."""
        now = time.monotonic()
        if self._hinted_cycle is not None and now - self._hinted_cycle < self._interval:
            log.debug("A hint wants a whole cycle; the next one is due within the interval")
            return False
        self._hinted_cycle = now
        return True

    async def _refresh(self, chosen: Sequence[Workflow]) -> bool:
        """Read these workflows now and publish what changed; False when that failed."""
        if not chosen:
            return True
        try:
            await self._read(chosen)
        except Exception as error:
            log.warning("Reading workflows on a hint failed (%s)", type(error).__name__)
            return False
        self._metrics.hook_refreshes.inc(len(chosen))
        return True

    async def _turn(self) -> float:
        """One pass of the loop; how long to wait before the next."""
        try:
            with self.health.asking_store():
                leading = await self._store.try_lock(POLLER_LEASE, self._holder, self._lease)
                # For /healthz, read here rather than per GET: is the polling one working?
                others_run = None if leading else await self._store.last_poll_run()
        except Exception as error:
            return self._failed("lease", error)
        self.health.lease_seen(leading, others_run)
        if not leading:
            self.health.progressed(time.monotonic())
            return self._interval / 2
        try:
            await self._cycle_holding_lease()
        except Exception as error:
            return self._failed("cycle", error)
        self.health.cycle_completed(time.monotonic())
        return self._interval

    def _failed(self, stage: str, error: Exception) -> float:
        failures = self.health.failed(stage, error)
        self._metrics.poller_failures.labels(stage, type(error).__name__).inc()
        log.error(
            "Poller %s failed (%s), attempt %d",
            stage,
            type(error).__name__,
            failures,
            exc_info=error,
        )
        ceiling = min(self._interval, RETRY_BASE * 2 ** min(failures - 1, 10))
        return random.uniform(ceiling / 2, ceiling)

    async def _release(self) -> None:
        """Give the lease up at shutdown so another instance need not wait for it to lapse."""
        try:
            await self._store.unlock(POLLER_LEASE, self._holder)
        except Exception as error:
            log.warning("Could not release the poller lease (%s)", type(error).__name__)

    async def _cycle_holding_lease(self) -> None:
        finished = asyncio.Event()
        renewing = asyncio.create_task(self._renew_lease(finished))
        try:
            await self.cycle()
        finally:
            # Signalled, not cancelled: a task cancelled inside a database statement can
            # leave its SQLite connection holding the write lock.
            finished.set()
            await renewing

    async def _renew_lease(self, finished: asyncio.Event) -> None:
        """A cycle may outlast the lease: keep it while the cycle runs."""
        while not finished.is_set():
            try:
                await asyncio.wait_for(finished.wait(), self._lease / 3)
            except TimeoutError:
                await self._renew_once()

    async def _renew_once(self) -> None:
        try:
            with self.health.asking_store():
                renewed = await self._store.try_lock(POLLER_LEASE, self._holder, self._lease)
            if not renewed:
                log.warning("Another instance took the poller lease during a cycle")
        except Exception as error:
            # The cycle goes on; the next turn of the loop takes the lease again or not.
            self._failed("renewal", error)

    async def cycle(self) -> PollRun:
        started, clock = datetime.now(UTC), time.monotonic()
        errors: list[str] = []
        try:
            workflows = [w for w in await self._cflow.list_workflows(self._service) if w.is_active]
        except CflowError as error:
            errors.append(f"listing workflows: {type(error).__name__}")
            workflows = []
        if not errors:  # the workflows were listed: a hint may name one of them
            self._workflows = {w.id: w for w in workflows}
            self._listings = {k: v for k, v in self._listings.items() if k in self._workflows}
            if self._routes is not None:
                await self._routes.seen(workflows)
        workflows_listed = not errors
        listed, failed, seen = await self._read(workflows)
        errors += failed
        if self._listing is not None and workflows_listed:
            self._listing.publish(workflows, listed)
        self._after_cycle(listed)
        pending = sum(1 for _, requests in listed for r in requests if r.is_pending)
        run = PollRun(started, time.monotonic() - clock, len(workflows), pending, tuple(errors))
        await self._record(run, seen)
        return run

    async def _read(
        self, workflows: Sequence[Workflow]
    ) -> tuple[list[tuple[Workflow, list[Request]]], list[str], int]:
        """List these workflows' requests and hand what changed to the publisher: what
        was listed, the listings that failed, and how many records they held."""
        tracked, tally = await self._store.tracked(), Tally()
        if self._liveness is not None:
            tracked = {key: self._liveness.due(row) for key, row in tracked.items()}
        results = await asyncio.gather(*(self._requests_of(w, tracked, tally) for w in workflows))
        listed, failed = [], []
        for workflow, requests in zip(workflows, results, strict=True):
            if isinstance(requests, str):
                failed.append(requests)
            else:
                listed.append((workflow, requests))
        await self._publisher.enqueue(await self._observe(listed, tracked))
        return listed, failed, tally.seen

    async def _record(self, run: PollRun, seen: int) -> None:
        await self._store.save_poll_run(run)
        self.health.last_run = run  # what /healthz shows, without reading it back
        self._metrics.poll_seconds.observe(run.duration)
        self._metrics.requests_seen.set(seen)
        self._metrics.requests_pending.set(run.pending)
        log.info(
            "Poll: %d workflows, %d requests, %d pending, %d errors in %.2fs",
            run.workflows,
            seen,
            run.pending,
            len(run.errors),
            run.duration,
        )

    async def _requests_of(
        self, workflow: Workflow, tracked: Mapping[RequestKey, TrackedRequest], tally: Tally
    ) -> list[Request] | str:
        """Pending and already-published requests only: the rest need no parsing, and a
        listing whose body is what it was last time is not parsed again at all."""
        counted = 0

        def relevant(record: dict[str, Any]) -> bool:
            nonlocal counted
            counted += 1
            key = (workflow.id, str(record.get("id")))
            return record.get("status") == PENDING or key in tracked

        async with self._slots:
            try:
                raw = await self._cflow.list_requests_raw(self._service, workflow.id)
                seen = self._listings.get(workflow.id)
                if seen is not None and seen.body == raw:
                    tally.seen += seen.records
                    return seen.requests
                # In a thread: a changed listing of thousands must not hold up the loop.
                requests = await asyncio.to_thread(parse_requests, raw, relevant)
                self._listings[workflow.id] = Listing(raw, requests, counted)
                tally.seen += counted
                return requests
            except CflowError as error:
                log.warning(
                    "Listing requests of workflow %s failed: %s", workflow.id, error.message
                )
                return f"workflow {workflow.id}: {type(error).__name__}"

    async def _observe(
        self,
        listed: Sequence[tuple[Workflow, list[Request]]],
        tracked: Mapping[RequestKey, TrackedRequest],
    ) -> list[Observation]:
        """Pair what Cflow shows with what was published.

        A tracked request missing from a listing is not taken as deleted: the spec does not
        promise that a listing holds every record every time, so `getRequest` decides
        (404: deleted; a record: that is how it is; a failure: look again next cycle).
        """
        by_workflow: dict[str, list[TrackedRequest]] = {}
        for previous in tracked.values():
            by_workflow.setdefault(previous.workflow_id, []).append(previous)
        observations, missing = [], []
        for workflow, requests in listed:
            for request in requests:
                before = tracked.get((workflow.id, request.id))
                observations.append(Observation(workflow, request, before))
            seen = {request.id for request in requests}
            missing += [
                (workflow, p) for p in by_workflow.get(workflow.id, []) if p.request_id not in seen
            ]
        confirmed = await asyncio.gather(*(self._confirm(w, p) for w, p in missing))
        return observations + [obs for obs in confirmed if obs is not None]

    async def _confirm(self, workflow: Workflow, previous: TrackedRequest) -> Observation | None:
        async with self._slots:
            try:
                request = await self._cflow.get_request(
                    self._service, workflow.id, previous.request_id
                )
            except CflowNotFoundError:
                request = Request(id=previous.request_id, workflowId=workflow.id, status=GONE)
            except CflowError as error:
                log.warning(
                    "Request %s/%s is missing from its listing and unreadable (%s)",
                    workflow.id,
                    previous.request_id,
                    type(error).__name__,
                )
                return None
        return Observation(workflow, request, previous)
