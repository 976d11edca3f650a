"""Approve, reject or hand over a request as the clicking person, exactly once.

Whatever the entry (button, modal, slash command), a decision goes through `decide()`:
a lock in the store turns simultaneous clicks into one Cflow call across processes; the
request is re-read so that a stale card never approves the next stage; the call is
made with the person's own linked credentials; an ambiguous failure is settled by
re-reading before anyone is told anything.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.cflow import CflowError, Credentials, Request, Workflow
from bot.logs import request_context
from bot.publisher import Observation
from bot.services import Services
from bot.slack.ids import RequestRef
from bot.slack.text import escape
from bot.store.base import Decision, Link, request_lock

log = logging.getLogger(__name__)
LOCK_SECONDS = 120.0
Verb = Literal["approve", "reject"]


@dataclass(frozen=True)
class Outcome:
    """How a decision ended (`kind`, for metrics) and what to tell the person (mrkdwn)."""

    kind: Literal["done", "busy", "stale", "refused", "unknown", "unreadable"]
    text: str


@dataclass(frozen=True)
class Intent:
    ref: RequestRef
    verb: Verb
    comment: str | None = None
    reassign_to: str | None = None

    @property
    def action(self) -> str:
        if self.reassign_to:
            return "reassigned"
        return "approved" if self.verb == "approve" else "rejected"


def credentials_for(services: Services, link: Link) -> Credentials:
    """The clicking person's own Cflow identity; the service account never acts."""
    return Credentials(
        api_key=services.service.api_key, username=link.cflow_username, user_key=link.user_key
    )


async def decide(services: Services, actor: str, link: Link, intent: Intent) -> Outcome:
    """Carry out `intent` for Slack user `actor`, and count how it ended."""
    ref = intent.ref
    with request_context(f"{ref.workflow_id}/{ref.request_id}"):
        outcome = await _decide_once(services, actor, link, intent)
    services.metrics.actions.labels(intent.action, outcome.kind).inc()
    return outcome


async def _decide_once(services: Services, actor: str, link: Link, intent: Intent) -> Outcome:
    ref = intent.ref
    lock = request_lock((ref.workflow_id, ref.request_id))
    holder = f"{services.instance_id}:{actor}:{uuid.uuid4().hex}"
    if not await services.store.try_lock(lock, holder, LOCK_SECONDS):
        text = "Someone is already acting on this request; the card will show the outcome."
        return Outcome("busy", text)
    try:
        return await _decide_locked(services, actor, credentials_for(services, link), intent)
    finally:
        await services.store.unlock(lock, holder)


async def _decide_locked(
    services: Services, actor: str, creds: Credentials, intent: Intent
) -> Outcome:
    ref, cflow = intent.ref, services.cflow
    try:
        workflow, before = await asyncio.gather(
            cflow.get_workflow(creds, ref.workflow_id),
            cflow.get_request(creds, ref.workflow_id, ref.request_id),
        )
    except CflowError as error:
        return Outcome("unreadable", f"Cflow could not show this request: {escape(error.message)}")
    if not before.is_pending or before.current_stage != ref.stage:
        await services.publisher.refresh(workflow, before)
        where = _where(workflow, before)
        text = f"This request has moved on since the card was posted ({where}). Nothing was done."
        return Outcome("stale", text)
    after = await _call(services, creds, intent, before)
    if isinstance(after, Outcome):
        await services.publisher.refresh(workflow, before)
        return after
    decision = Decision(
        workflow_id=workflow.id,
        request_id=before.id,
        stage=before.current_stage,
        action=intent.action,
        cflow_username=creds.username,
        at=datetime.now(UTC),
        slack_user_id=actor,
        comment=intent.comment,
        reassigned_to=intent.reassign_to,
    )
    previous = Observation(workflow, before, None).tracked()
    await services.publisher.sync([Observation(workflow, after, previous, decision)])
    return Outcome("done", _done(intent, workflow, after))


async def _call(
    services: Services, creds: Credentials, intent: Intent, before: Request
) -> Request | Outcome:
    """The Cflow call: the request as it now is, or why nothing happened."""
    ref, cflow = intent.ref, services.cflow
    method = cflow.approve_request if intent.verb == "approve" else cflow.reject_request
    try:
        return await method(
            creds,
            ref.workflow_id,
            ref.request_id,
            comment=intent.comment,
            reassign_to=intent.reassign_to,
        )
    except CflowError as error:
        if not error.may_have_succeeded:
            return Outcome("refused", f"Cflow refused: {escape(error.message)}")
        log.warning("Ambiguous %s of %s: %s; re-reading", intent.verb, ref, error.message)
        return await _settle(services, creds, intent, before)


async def _settle(
    services: Services, creds: Credentials, intent: Intent, before: Request
) -> Request | Outcome:
    """After a timeout: did Cflow record it? Only a changed request says yes."""
    ref = intent.ref
    try:
        now = await services.cflow.get_request(creds, ref.workflow_id, ref.request_id)
    except CflowError:
        return Outcome(
            "unknown",
            "Cflow did not answer, so it is not known whether this went through. "
            "The card will update when Cflow shows the outcome.",
        )
    changed = (now.status, now.current_stage, now.model_extra) != (
        before.status,
        before.current_stage,
        before.model_extra,
    )
    if changed:
        return now
    text = "Cflow did not confirm, and the request is unchanged: nothing was done. Try again."
    return Outcome("unknown", text)


def _where(workflow: Workflow, request: Request) -> str:
    if request.is_pending:
        stage = workflow.find_stage(request.current_stage)
        return f"now at {escape(stage.label if stage else request.current_stage or '?')}"
    return f"now {escape(request.status or 'gone')}"


def _done(intent: Intent, workflow: Workflow, after: Request) -> str:
    name = f"{escape(workflow.label)} #{escape(after.id)}"
    if intent.reassign_to:
        return f"Handed {name} to {escape(intent.reassign_to)}."
    verb = "Approved" if intent.verb == "approve" else "Rejected"
    return f"{verb} {name} ({_where(workflow, after)})."
