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
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.cflow import CflowClient, CflowError, Credentials, Request, Workflow
from bot.metrics import Metrics
from bot.publisher import Observation, Publisher
from bot.store.base import PollRun, Store, TrackedRequest

log = logging.getLogger(__name__)
GONE = "deleted"


class Poller:
    def __init__(
        self,
        cflow: CflowClient,
        service: Credentials,
        store: Store,
        publisher: Publisher,
        metrics: Metrics,
        *,
        interval: float,
        concurrency: int = 8,
    ) -> None:
        self._cflow = cflow
        self._service = service
        self._store = store
        self._publisher = publisher
        self._metrics = metrics
        self._interval = interval
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every interval until `stop` is set; a failed cycle never ends the loop."""
        while not stop.is_set():
            try:
                await self.cycle()
            except Exception:
                log.exception("Poll cycle failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def cycle(self) -> PollRun:
        started, clock = datetime.now(UTC), time.monotonic()
        errors: list[str] = []
        listed: list[tuple[Workflow, list[Request]]] = []
        try:
            workflows = [w for w in await self._cflow.list_workflows(self._service) if w.is_active]
        except CflowError as error:
            errors.append(f"listing workflows: {error.message}")
            workflows = []
        results = await asyncio.gather(*(self._requests_of(w) for w in workflows))
        for workflow, requests in zip(workflows, results, strict=True):
            if isinstance(requests, str):
                errors.append(requests)
            else:
                listed.append((workflow, requests))
        observations = self._observe(listed, await self._store.tracked())
        await self._publisher.sync(observations)
        pending = sum(1 for _, requests in listed for r in requests if r.is_pending)
        self._metrics.requests_seen.set(sum(len(requests) for _, requests in listed))
        self._metrics.requests_pending.set(pending)
        run = PollRun(started, time.monotonic() - clock, len(workflows), pending, tuple(errors))
        await self._store.save_poll_run(run)
        self._metrics.poll_seconds.observe(run.duration)
        log.info(
            "Poll: %d workflows, %d pending, %d errors in %.2fs",
            run.workflows,
            pending,
            len(errors),
            run.duration,
        )
        return run

    async def _requests_of(self, workflow: Workflow) -> list[Request] | str:
        async with self._slots:
            try:
                return await self._cflow.list_requests(self._service, workflow.id)
            except CflowError as error:
                log.warning(
                    "Listing requests of workflow %s failed: %s", workflow.id, error.message
                )
                return f"workflow {workflow.id}: {error.message}"

    @staticmethod
    def _observe(
        listed: Sequence[tuple[Workflow, list[Request]]],
        tracked: dict[tuple[str, str], TrackedRequest],
    ) -> list[Observation]:
        """Pair what Cflow shows with what was published; tracked requests now missing are gone."""
        by_workflow: dict[str, list[TrackedRequest]] = {}
        for previous in tracked.values():
            by_workflow.setdefault(previous.workflow_id, []).append(previous)
        observations = []
        for workflow, requests in listed:
            for request in requests:
                previous = tracked.get((workflow.id, request.id))
                observations.append(Observation(workflow, request, previous))
            seen = {request.id for request in requests}
            for previous in by_workflow.get(workflow.id, []):
                if previous.request_id not in seen:
                    gone = Request(id=previous.request_id, workflowId=workflow.id, status=GONE)
                    observations.append(Observation(workflow, gone, previous))
        return observations
