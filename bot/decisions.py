"""Approve, reject or hand over a request as the clicking person, exactly once.

Whatever the entry (button, modal, slash command), a decision goes through `decide()`:
a lock in the store turns simultaneous clicks into one Cflow call across processes; the
request is re-read so that a stale card never approves the next stage; the call is
made with the person's own linked credentials; an ambiguous failure is settled by
re-reading before anyone is told anything.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.cflow import CflowError, Credentials, Request, Workflow
from bot.publisher import Observation
from bot.services import Services
from bot.slack.ids import RequestRef
from bot.slack.text import escape
from bot.store.base import Decision, Link

log = logging.getLogger(__name__)
LOCK_SECONDS = 120.0
Verb = Literal["approve", "reject"]


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


async def decide(services: Services, actor: str, link: Link, intent: Intent) -> str:
    """Carry out `intent` for Slack user `actor`; returns what to tell them (mrkdwn)."""
    ref = intent.ref
    lock = f"request:{ref.workflow_id}:{ref.request_id}"
    holder = f"{services.instance_id}:{actor}:{uuid.uuid4().hex}"
    if not await services.store.try_lock(lock, holder, LOCK_SECONDS):
        return "Someone is already acting on this request; the card will show the outcome."
    try:
        return await _decide_locked(services, actor, credentials_for(services, link), intent)
    finally:
        await services.store.unlock(lock, holder)


async def _decide_locked(services: Services, actor: str, creds: Credentials, intent: Intent) -> str:
    ref, cflow = intent.ref, services.cflow
    try:
        workflow = await cflow.get_workflow(creds, ref.workflow_id)
        before = await cflow.get_request(creds, ref.workflow_id, ref.request_id)
    except CflowError as error:
        return f"Cflow could not show this request: {escape(error.message)}"
    if not before.is_pending or before.current_stage != ref.stage:
        await services.publisher.refresh(workflow, before)
        where = _where(workflow, before)
        return f"This request has moved on since the card was posted ({where}). Nothing was done."
    after = await _call(services, creds, intent, before)
    if isinstance(after, str):
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
    return _done(intent, workflow, after)


async def _call(
    services: Services, creds: Credentials, intent: Intent, before: Request
) -> Request | str:
    """The Cflow call; a string is what to tell the person when it did not happen."""
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
            return f"Cflow refused: {escape(error.message)}"
        log.warning("Ambiguous %s of %s: %s; re-reading", intent.verb, ref, error.message)
        return await _settle(services, creds, intent, before)


async def _settle(
    services: Services, creds: Credentials, intent: Intent, before: Request
) -> Request | str:
    """After a timeout: did Cflow record it? Only a changed request says yes."""
    ref = intent.ref
    try:
        now = await services.cflow.get_request(creds, ref.workflow_id, ref.request_id)
    except CflowError:
        return (
            "Cflow did not answer, so it is not known whether this went through. "
            "The card will update when Cflow shows the outcome."
        )
    changed = (now.status, now.current_stage, now.model_extra) != (
        before.status,
        before.current_stage,
        before.model_extra,
    )
    if changed:
        return now
    return (
        "Cflow did not confirm, and the request is unchanged: nothing was done. Please try again."
    )


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
