"""The Workflow Builder step "Send for Cflow approval": begun on Slack's event, ended once.

`begin` (from the listener, bot.inbound.steps) creates the request as the person who
ran the workflow (Slack's user context, which no builder can set), with their own link,
and stores the step with the short-lived token Slack sent with it; what stops it (no
user context, no link, inputs that cannot be read, Cflow's refusal) ends the step at
once with `functions.completeError`, in words the person can act on.

`observed` (the publisher's records: a decision made here, a change a poll found) and
`start` (after each poll cycle, on the polling instance) end the steps whose request
was decided: the request as the cycle listed it (or read, when it was not listed: it
ended before the bot saw it pending, or its listing failed), then the step claimed in
the store, so that one instance alone calls `functions.completeSuccess`, with the
step's own token, through the bot's paced client. A step survives restarts and
failovers in the store; Slack's refusal of its token or execution (revoked, expired,
already ended) ends it for good, logged and counted; a passing failure (Slack's 5xx,
the network) leaves it to the next cycle.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.steps import (
    FIELDS,
    NOT_LINKED,
    RELINK,
    SUBMITTER,
    UNCONFIRMED,
    WORKFLOW,
    StepInputError,
    failure,
    outcome_of,
    outputs,
    parse_fields,
    pick_workflow,
    refusal,
    submitter_of,
)
from bot.cflow import (
    CflowClient,
    CflowError,
    CflowNotFoundError,
    CflowUnauthorizedError,
    Credentials,
    Request,
    Workflow,
)
from bot.outbound.pacing import URGENCY, Rank, Urgency
from bot.people.decisions import credentials_for
from bot.store.contracts import LinkStore, StepStore, TrackingStore
from bot.store.errors import UnreadableLinkError
from bot.store.records import Decision, RequestKey, WorkflowStep
from bot.sync.changes import Observation
from bot.sync.liveness import Liveness
from bot.sync.publisher import Publisher
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Listed = Sequence[tuple[Workflow, Sequence[Request]]]
READS_AT_ONCE = 4  # getRequest calls for steps whose request the cycle did not list
# Slack's answers that may go another way next time; every other refusal is for good.
PASSING = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
UNSENT_AFTER = timedelta(minutes=5)  # far beyond Cflow's timeout: its sender has stopped
FAIL_TRIES = (0.0, 1.0, 2.0)  # seconds before each try of failing a step at once
DELETED = "deleted"  # how the poller and `_read` show a request Cflow no longer has
GONE = "The request was deleted in Cflow before anyone decided it."
NO_RECORD = (
    "Cflow accepted the request without saying which one it is, so this step cannot "
    "wait for its outcome: see your requests in Cflow."
)


class StepsStore(StepStore, LinkStore, TrackingStore, Protocol):
    """Steps, the submitters' links, and the decisions the bot made (who decided)."""


@dataclass(frozen=True)
class Began:
    """A step whose request Cflow created: what the submitter is told."""

    submitter: str
    workflow: Workflow
    request: Request


class StepRefusedError(Exception):
    """Slack refused the step's token or execution for good: never tried again."""


class WorkflowSteps:
    def __init__(
        self,
        cflow: CflowClient,
        service: Credentials,
        store: StepsStore,
        slack: AsyncWebClient,
        publisher: Publisher,
        liveness: Liveness,
        metrics: Metrics,
        *,
        clock: Clock,
    ) -> None:
        self._cflow = cflow
        self._service = service
        self._store = store
        self._slack = slack
        self._publisher = publisher
        self._liveness = liveness
        self._metrics = metrics
        self._clock = clock
        self._running = False
        self._waiting: Listed | None = None

    # Beginning: the listener's part

    async def begin(
        self, execution_id: str, token: SecretStr, inputs: Mapping[str, Any]
    ) -> Began | None:
        """Send the request as the step's submitter and keep the step until it is
        decided; or end the step now, saying why (None)."""
        self._metrics.workflow_steps.labels("started").inc()
        try:
            began, problem = await self._send(execution_id, token, inputs)
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("Workflow step %s failed (error id %s)", execution_id, error_id)
            began, problem = None, f"Something went wrong in the bot (error id {error_id})."
        if problem is not None:
            await self._fail_now(execution_id, token, problem)
        return began

    async def _send(
        self, execution_id: str, token: SecretStr, inputs: Mapping[str, Any]
    ) -> tuple[Began | None, str | None]:
        try:
            submitter = submitter_of(inputs.get(SUBMITTER))
        except StepInputError as error:
            return None, failure(error.text)  # nobody is acted as: no link is even read
        try:
            link = await self._store.link_for(submitter)
        except UnreadableLinkError:
            return None, RELINK
        if link is None:
            return None, NOT_LINKED
        creds = credentials_for(self._service, link)
        try:
            fields = parse_fields(_text(inputs.get(FIELDS)))
            workflow = pick_workflow(
                await self._cflow.list_workflows(creds), _text(inputs.get(WORKFLOW))
            )
        except StepInputError as error:
            return None, failure(error.text)
        except CflowError as error:
            return None, await self._cflow_problem(error, submitter)
        step = WorkflowStep(execution_id, token, workflow.id, submitter, self._clock())
        stored = await self._store.add_step(step)
        if stored is None or stored.id is None:
            log.info("Workflow step %s was delivered again: begun already", execution_id)
            return None, None
        try:
            request = await self._cflow.create_request(creds, workflow.id, fields)
        except CflowError as error:
            await self._store.finish_step(stored.id, "failed", self._clock())
            return None, await self._cflow_problem(error, submitter)
        if request is None:
            await self._store.finish_step(stored.id, "failed", self._clock())
            return None, NO_RECORD
        await self._store.attach_request(stored.id, request.id)
        log.info("Workflow step %s sent request %s/%s", execution_id, workflow.id, request.id)
        return Began(submitter, workflow, request), None

    async def _cflow_problem(self, error: CflowError, submitter: str) -> str:
        if error.may_have_succeeded:
            return UNCONFIRMED  # running it again could create the request twice
        if isinstance(error, CflowUnauthorizedError):
            await self._store.mark_key_refused(submitter)
            return RELINK
        return refusal(error.message)

    async def _fail_now(self, execution_id: str, token: SecretStr, text: str) -> None:
        """End the step with `text`: tried a few times while Slack's trouble passes (the
        step has no request to come back to later), then logged and counted."""
        for pause in FAIL_TRIES:
            await asyncio.sleep(pause)
            try:
                await self._end(execution_id, token, error=text)
            except StepRefusedError:
                return
            except (SlackApiError, aiohttp.ClientError, TimeoutError):
                continue
            self._metrics.workflow_steps.labels("failed").inc()
            return
        log.warning("Workflow step %s could not be ended: Slack did not answer", execution_id)
        self._metrics.workflow_steps.labels("retry").inc()

    # Ending: as soon as a decision is seen, and after each poll cycle

    def observed(self, observations: Sequence[Observation]) -> None:
        """The publisher recorded these (a click here, a poll): the steps of those that
        ended are ended now, in the background, rather than at the next cycle."""
        ended = {obs.key: obs.request for obs in observations if not obs.request.is_pending}
        if ended:
            self._publisher.start(self._end_seen(ended))

    async def _end_seen(self, ended: dict[RequestKey, Request]) -> None:
        URGENCY.set(Urgency(Rank.THREAD_LINE))
        steps = await self._store.open_steps_for(ended)
        await self._end_all([(s, ended[(s.workflow_id, s.request_id or "")]) for s in steps])

    def start(self, listed: Listed) -> None:
        """End the steps whose request the cycle saw decided, in the background like a
        delivery; one run at a time, the newest listing next."""
        if self._running:
            self._waiting = listed
            return
        self._running = True
        self._publisher.start(self._run(listed))

    async def _run(self, listed: Listed) -> None:
        URGENCY.set(Urgency(Rank.THREAD_LINE))  # like the submitter's outcome DM
        try:
            await self.end_decided(listed)
        finally:
            self._running = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.start(waiting)

    async def end_decided(self, listed: Listed) -> int:
        """End every open step whose request is decided; how many ended here."""
        steps = await self._store.open_steps()
        if not steps:
            return 0
        known = {(w.id, r.id): r for w, requests in listed for r in requests}
        slots = asyncio.Semaphore(READS_AT_ONCE)

        async def read(step: WorkflowStep) -> Request | None:
            if step.request_id is None:
                return None  # still being sent, or left unsent: `_end_unsent`
            request = known.get((step.workflow_id, step.request_id))
            if request is not None:
                return request
            async with slots:
                return await self._read(step)

        requests = await asyncio.gather(*(read(step) for step in steps))
        unsent = [await self._end_unsent(step) for step in steps if step.request_id is None]
        return sum(unsent) + await self._end_all(list(zip(steps, requests, strict=True)))

    async def _end_unsent(self, step: WorkflowStep) -> bool:
        """A step whose instance stopped while Cflow was creating its request: whether
        Cflow did is not known, so the step fails saying so (never sent twice)."""
        if self._clock() - step.created_at < UNSENT_AFTER:
            return False
        return await self._end_claimed(step, error=UNCONFIRMED)

    async def _end_all(self, seen: Sequence[tuple[WorkflowStep, Request | None]]) -> int:
        """End the steps whose request ended (who decided read in one query)."""
        ended = [(s, r) for s, r in seen if r is not None and not r.is_pending]
        if not ended:
            return 0
        decisions = await self._store.decisions_for({(s.workflow_id, r.id) for s, r in ended})
        done = [
            await self._end_if_decided(
                step, request, decisions.get((step.workflow_id, request.id), [])
            )
            for step, request in ended
        ]
        return sum(done)

    async def _read(self, step: WorkflowStep) -> Request | None:
        """The request as Cflow has it now (the service account only reads); a deleted
        one comes back as such; None when Cflow cannot say for now."""
        assert step.request_id is not None
        try:
            return await self._cflow.get_request(self._service, step.workflow_id, step.request_id)
        except CflowNotFoundError:
            return Request(id=step.request_id, workflowId=step.workflow_id, status=DELETED)
        except CflowError as error:
            log.info("Request of step %s unreadable for now (%s)", step.id, type(error).__name__)
            return None

    async def _end_if_decided(
        self, step: WorkflowStep, request: Request, decisions: Sequence[Decision]
    ) -> bool:
        if request.status == DELETED:
            return await self._end_claimed(step, error=GONE)
        outcome = outcome_of(request, decisions)
        if outcome is None:
            return False  # still waiting (a draft again, or a status Cflow did not send)
        url = self._publisher.request_url(step.workflow_id, request.id)
        return await self._end_claimed(step, outputs=outputs(request.id, outcome, url))

    async def _end_claimed(
        self,
        step: WorkflowStep,
        *,
        outputs: dict[str, str] | None = None,
        error: str | None = None,
    ) -> bool:
        """End the step if this instance claims it; unclaimed again after a passing
        failure, and never again after Slack's refusal."""
        assert step.id is not None
        me, now = self._liveness.instance_id, self._clock()
        alive_since = datetime.now(UTC) - self._liveness.grace
        claimed = await self._store.claim_step(step.id, me, now, alive_since)
        if claimed is None:
            return False  # another instance is ending it
        try:
            await self._end(claimed.function_execution_id, claimed.token, outputs, error)
        except StepRefusedError as refused:
            await self._store.finish_step(step.id, str(refused), self._clock())
            return False
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as problem:
            log.warning("Ending workflow step %s failed for now (%s)", step.id, _reason(problem))
            self._metrics.workflow_steps.labels("retry").inc()
            await self._store.release_steps([step.id], me)
            return False
        ended = "completed" if outputs is not None else "failed"
        await self._store.finish_step(step.id, ended, self._clock())
        self._metrics.workflow_steps.labels(ended).inc()
        log.info("Workflow step %s ended: %s", claimed.function_execution_id, ended)
        return True

    async def _end(
        self,
        execution_id: str,
        token: SecretStr,
        outputs: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        """One call to Slack, with the step's own token (never the bot's);
        `StepRefusedError` when Slack refuses the token or the execution for good."""
        secret = token.get_secret_value()
        try:
            if not secret:  # no configured secret key decrypts it any more
                raise StepRefusedError(self._refused(execution_id, "token_unreadable"))
            if outputs is not None:
                await self._slack.functions_completeSuccess(
                    token=secret, function_execution_id=execution_id, outputs=outputs
                )
            else:
                await self._slack.functions_completeError(
                    token=secret, function_execution_id=execution_id, error=error or ""
                )
        except SlackApiError as problem:
            reason = _reason(problem)
            if reason in PASSING or problem.response.status_code >= 500:
                raise
            raise StepRefusedError(self._refused(execution_id, reason)) from None

    def _refused(self, execution_id: str, reason: str) -> str:
        log.warning("Workflow step %s cannot be ended, for good: %s", execution_id, reason)
        self._metrics.workflow_steps.labels("refused").inc()
        self._metrics.workflow_step_refusals.labels(reason).inc()
        return reason


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _reason(problem: Exception) -> str:
    if isinstance(problem, SlackApiError):
        return str(problem.response.get("error") or f"HTTP {problem.response.status_code}")
    return type(problem).__name__
