"""Approve, reject or hand over a request as the clicking person, exactly once.

Whatever the entry (button, modal, slash command), a decision goes through
`Decider.decide()`:
a lock in the store turns simultaneous clicks into one Cflow call across processes; the
request is re-read so that a stale card never approves the next stage; the call is
made with the person's own linked credentials; an ambiguous failure is settled by
re-reading before anyone is told anything. The lock covers Cflow and the store, not
Slack: it is released once the outcome is recorded, and the cards are edited after, at
Slack's pace. Once Cflow has decided, the person is told so whatever the store or Slack
then fail to do: the poller brings the cards in line (the store still shows the request
as it was, or has its change due again).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final, Literal, Protocol

from bot.blocks.messages import RELINK_TEXT
from bot.blocks.text import escape
from bot.cflow import (
    CflowClient,
    CflowError,
    CflowUnauthorizedError,
    Credentials,
    Request,
    Workflow,
)
from bot.domain.access import plainly_not_a_reviewer
from bot.domain.errors import (
    BusyError,
    CflowRefusedError,
    CommentRequiredError,
    DecisionError,
    KeyRefusedError,
    NotReviewerError,
    PolicyRefusedError,
    StaleCardError,
    UnknownOutcomeError,
    UnreadableRequestError,
)
from bot.domain.pending import ACTIVE, moved_on, seconds_left, waiting
from bot.domain.policy import comment_required, policy_of, refusal
from bot.domain.refs import RequestRef, updated_mark
from bot.people.holds import Hold, lock_seconds
from bot.store.contracts import LinkStore, LockStore, PendingStore, PolicyStore, TrackingStore
from bot.store.records import Decision, Link, PendingDecision, WorkflowPolicy, request_lock
from bot.sync.changes import Observation
from bot.sync.publisher import Publisher
from bot.telemetry.logs import request_context
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Verb = Literal["approve", "reject"]
BUSY_TEXT = "Someone is deciding this request right now; the card will show the outcome."
NOT_A_REVIEWER = (
    "You are not a reviewer of this request's current stage in Cflow, so nothing was done."
)
UNKNOWN_TEXT = (
    "Cflow did not confirm, so it is not known whether this went through. The card will "
    "show it if it did; check the request in Cflow before trying again."
)


class DecisionsStore(LinkStore, LockStore, TrackingStore, PolicyStore, PendingStore, Protocol):
    """What a decision touches: the clicker's link, the request's hold, its tracked state and
    decisions, the workflow's policy, and the decisions waiting out their undo window."""


class Accepted(Enum):
    """Cflow said yes (a 2xx) without showing the request's new state."""

    ACCEPTED = "accepted"


ACCEPTED: Final = Accepted.ACCEPTED
# What happens once a decision holds its request and may be made: made, or parked.
Then = Callable[[str, Credentials, Workflow, Request, Hold], Awaitable[str]]


async def _nothing() -> None:
    return None


class Deferred(str):
    """What a decision held back by its undo window says (a str, as every answer), with
    the decision as stored."""

    pending: PendingDecision

    def __new__(cls, text: str, pending: PendingDecision) -> Deferred:
        made = super().__new__(cls, text)
        made.pending = pending
        return made


@dataclass(frozen=True)
class Window:
    """One undo window for several decisions (a bulk approval): when it ends, and the
    batch that one Undo undoes."""

    due_at: datetime
    batch_id: str


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


def is_stale(now: Request, ref: RequestRef) -> bool:
    """Whether the request is no longer where the clicked card showed it."""
    return moved_on(now, ref)


def _state(request: Request) -> tuple[Any, ...]:
    reviewers = (request.model_extra or {}).get("currentReviewers")
    stage = request.current_stage
    return (request.status, stage, updated_mark(request.updated_at), str(reviewers))


def _where(workflow: Workflow, request: Request) -> str:
    if request.is_pending:
        stage = workflow.find_stage(request.current_stage)
        return f"now at {escape(stage.label if stage else request.current_stage or '?')}"
    return f"now {escape(request.status or 'gone')}"


def _past(intent: Intent) -> str:
    if intent.reassign_to:
        return f"Handed to {escape(intent.reassign_to)}"
    return "Approved" if intent.verb == "approve" else "Rejected"


def _done(intent: Intent, workflow: Workflow, after: Request | None) -> str:
    name = f"{escape(workflow.label)} #{escape(intent.ref.request_id)}"
    if intent.reassign_to:
        return f"Handed {name} to {escape(intent.reassign_to)}."
    verb = "Approved" if intent.verb == "approve" else "Rejected"
    if after is None:
        return f"{verb} {name}. Cflow has not shown its new state yet; the card will."
    return f"{verb} {name} ({_where(workflow, after)})."


def needs_comment(policy: WorkflowPolicy, intent: Intent) -> bool:
    """Whether the policy asks a comment that `intent` lacks (a hand-over decides nothing)."""
    if intent.reassign_to:
        return False
    return comment_required(policy, intent.verb) and not (intent.comment or "").strip()


def comment_needed(intent: Intent) -> str:
    what = "a reason to reject" if intent.verb == "reject" else "a comment to approve"
    return f"This workflow's policy asks for {what} this request. Nothing was done."


def credentials_for(service: Credentials, link: Link) -> Credentials:
    """The person's own Cflow identity, under the account's API key; the service
    account never acts for anyone."""
    return Credentials(
        api_key=service.api_key, username=link.cflow_username, user_key=link.user_key
    )


class Decider:
    """Makes decisions with exactly what they need: Cflow, the store (locks, decisions,
    link marks), the publisher (to re-render cards) and the service account's API key."""

    def __init__(
        self,
        cflow: CflowClient,
        store: DecisionsStore,
        publisher: Publisher,
        service: Credentials,
        metrics: Metrics,
        *,
        cflow_timeout: float,
        instance_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`clock` stamps each decision (what stats and the audit read)."""
        self._cflow = cflow
        self._store = store
        self._publisher = publisher
        self._service = service
        self._metrics = metrics
        self._lock_ttl = lock_seconds(cflow_timeout)
        self._instance_id = instance_id
        self._clock = clock
        self._release_retries: set[asyncio.Task[None]] = set()  # kept: asyncio holds tasks weakly
        self.on_parked: Callable[[], None] = lambda: None  # a decision waits: bot.people.undo

    async def decide(
        self,
        actor: str,
        link: Link,
        intent: Intent,
        *,
        when_held: Callable[[], Awaitable[None]] = _nothing,
        window: Window | None = None,
        pending: PendingDecision | None = None,
    ) -> str:
        """Carry out `intent` for Slack user `actor`: what was done, as the person is told
        it; a `DecisionError` says why not. Either way it is counted.

        `when_held` runs once this click holds the request and the request, as Cflow shows
        it now, may be decided by this person under the workflow's policy, before Cflow is
        asked to decide: where a listener shows the clicked card busy, so that a click that
        changes nothing changes no card.

        Where the workflow's policy has an undo window (or a bulk approval gives its
        `window`), an approval or rejection that passes every check is not made now but
        stored, and its cards show it with Undo (bot.people.undo makes it when the window
        ends, as `pending`): the answer is then `Deferred`, and `when_held` does not run."""
        ref = intent.ref
        kind = "done"
        try:
            with request_context(f"{ref.workflow_id}/{ref.request_id}"):
                await self._ensure_reviewer(link, ref)
                policy = await self.policy(ref.workflow_id)
                if needs_comment(policy, intent):
                    raise CommentRequiredError(comment_needed(intent))
                due = None if pending is not None else self._window_end(intent, policy, window)
                if due is None:
                    make = self._maker(intent, policy, when_held)
                    return await self._decide_once(actor, link, intent, policy, make)
                kind = "deferred"
                park = self._parker(intent, due, window.batch_id if window else None)
                return await self._decide_once(actor, link, intent, policy, park)
        except DecisionError as error:
            kind = error.kind
            raise
        finally:
            self._metrics.actions.labels(intent.action, kind).inc()

    def _window_end(
        self, intent: Intent, policy: WorkflowPolicy, window: Window | None
    ) -> datetime | None:
        """When an undo window for `intent` ends; None where it is made at once (a
        hand-over decides nothing, and is not held back)."""
        if intent.reassign_to:
            return None
        if window is not None:
            return window.due_at
        if policy.undo_seconds <= 0:
            return None
        return self._clock() + timedelta(seconds=policy.undo_seconds)

    async def policy(self, workflow_id: str) -> WorkflowPolicy:
        """The workflow's decision policy (its defaults where none is set)."""
        return policy_of(await self._store.policies_for([workflow_id]), workflow_id)

    async def check(self, link: Link, intent: Intent) -> WorkflowPolicy:
        """Raise, before anything shows on a shared card or a modal opens: NotReviewerError
        when the bot's own record says `link` is not a reviewer of the stage the click saw,
        PolicyRefusedError when the workflow's policy keeps the decision out of Slack.
        The workflow's policy otherwise (what the listener asks for: a comment?)."""
        try:
            await self._ensure_reviewer(link, intent.ref)
            policy = await self.policy(intent.ref.workflow_id)
            await self._ensure_allowed(link, intent.ref, policy)
        except DecisionError as error:
            self._metrics.actions.labels(intent.action, error.kind).inc()
            raise
        return policy

    async def _ensure_reviewer(self, link: Link, ref: RequestRef) -> None:
        # No lock, no Cflow call: a stranger's click must not show "Approving as …" to all.
        known = (await self._store.tracked_for([(ref.workflow_id, ref.request_id)])).get(
            (ref.workflow_id, ref.request_id)
        )
        if plainly_not_a_reviewer(link.cflow_username, ref, known):
            raise NotReviewerError(NOT_A_REVIEWER)

    async def _ensure_allowed(self, link: Link, ref: RequestRef, policy: WorkflowPolicy) -> None:
        """Read with the person's own link, and only where the policy looks at the request
        (its submitter, a field): the decision itself checks again, under its hold."""
        if policy.self_approval != "block" and not policy.web_only_field:
            return
        creds = credentials_for(self._service, link)
        try:
            request = await self._cflow.get_request(creds, ref.workflow_id, ref.request_id)
        except CflowError:
            return  # the decision reads it again, and tells why it cannot
        refused = refusal(policy, request, link.cflow_username)
        if refused is not None:
            raise PolicyRefusedError(escape(refused.text))

    async def _decide_once(
        self, actor: str, link: Link, intent: Intent, policy: WorkflowPolicy, then: Then
    ) -> str:
        ref = intent.ref
        lock = request_lock((ref.workflow_id, ref.request_id))
        holder = f"{self._instance_id}:{actor}:{uuid.uuid4().hex}"
        hold = await Hold.take(self._store, lock, holder, self._lock_ttl, self._release_retries)
        if hold is None:
            raise BusyError(BUSY_TEXT)
        try:
            creds = credentials_for(self._service, link)
            workflow, before = await self._checked(actor, creds, intent, policy, hold)
            return await then(actor, creds, workflow, before, hold)
        finally:
            await hold.release()

    async def _checked(
        self, actor: str, creds: Credentials, intent: Intent, policy: WorkflowPolicy, hold: Hold
    ) -> tuple[Workflow, Request]:
        """The request as Cflow shows it now, held, once it may be decided as clicked: by
        this person, under the workflow's policy, with no other decision waiting on it."""
        ref = intent.ref
        try:
            workflow, before = await self._read(creds, ref)
        except CflowError as error:
            raise await self._unreadable(actor, ref, error, hold) from None
        if is_stale(before, ref):
            where = _where(workflow, before)
            text = (
                f"This request has moved on since the card was posted ({where}). Nothing was done."
            )
            raise StaleCardError(text, card_restored=await self._shown(workflow, before, hold))
        refused = refusal(policy, before, creds.username)
        if refused is not None:  # nothing was shown: the card stays as it was
            raise PolicyRefusedError(escape(refused.text))
        key = (ref.workflow_id, ref.request_id)
        other = waiting((await self._store.pending_for([key])).get(key, []), before)
        if other is not None:  # its cards show it, with its clicker's Undo
            who = escape(other.cflow_username or "someone")
            raise BusyError(f"{who}'s decision on this request waits out its undo window.")
        return workflow, before

    def _maker(
        self, intent: Intent, policy: WorkflowPolicy, when_held: Callable[[], Awaitable[None]]
    ) -> Then:
        async def make(
            actor: str, creds: Credentials, workflow: Workflow, before: Request, hold: Hold
        ) -> str:
            await when_held()
            return await self._made(actor, creds, intent, workflow, before, hold)

        return make

    def _parker(self, intent: Intent, due: datetime, batch_id: str | None) -> Then:
        async def park(
            actor: str, creds: Credentials, workflow: Workflow, before: Request, hold: Hold
        ) -> str:
            return await self._parked(actor, creds, intent, workflow, before, hold, due, batch_id)

        return park

    async def _parked(
        self,
        actor: str,
        creds: Credentials,
        intent: Intent,
        workflow: Workflow,
        before: Request,
        hold: Hold,
        due: datetime,
        batch_id: str | None,
    ) -> str:
        """Store the decision to be made when its window ends; its cards then show it."""
        now = self._clock()
        stored = await self._store.add_pending(
            PendingDecision(
                workflow_id=workflow.id,
                request_id=before.id,
                ref=intent.ref.encode(),
                verb=intent.verb,
                slack_user_id=actor,
                due_at=due,
                created_at=now,
                comment=intent.comment,
                cflow_username=creds.username,
                batch_id=batch_id,
            )
        )
        await hold.release()  # the window holds it now: a click meanwhile is told so
        self.on_parked()
        try:
            await self._publisher.refresh(workflow, before)
        except Exception:  # stored: it is made, or undone, whatever Slack shows now
            log.exception("Could not show the undo window of %s", intent.ref)
        name = f"{escape(workflow.label)} #{escape(before.id)}"
        verb = ACTIVE[intent.verb]
        text = (
            f"⏳ {verb} {name} in {seconds_left(due, now)} s: Undo stops it before it "
            "reaches Cflow."
        )
        return Deferred(text, stored)

    async def _made(
        self,
        actor: str,
        creds: Credentials,
        intent: Intent,
        workflow: Workflow,
        before: Request,
        hold: Hold,
    ) -> str:
        """Cflow's call, as this person, and its outcome recorded and published."""
        try:
            after = await self._call(actor, creds, intent, before)
        except DecisionError as error:
            error.card_restored = await self._shown(workflow, before, hold)
            raise
        decision = Decision(
            workflow_id=workflow.id,
            request_id=before.id,
            stage=before.current_stage,
            action=intent.action,
            cflow_username=creds.username,
            at=self._clock(),
            slack_user_id=actor,
            comment=intent.comment,
            reassigned_to=intent.reassign_to,
        )
        try:
            await self._publish(workflow, before, after, decision, intent, hold)
        except Exception:  # Cflow decided: the person hears that, the poller does the rest
            log.exception("%s %s in Cflow, but not published yet", _past(intent), intent.ref)
        return _done(intent, workflow, after if isinstance(after, Request) else None)

    async def _publish(
        self,
        workflow: Workflow,
        before: Request,
        after: Request | Accepted,
        decision: Decision,
        intent: Intent,
        hold: Hold,
    ) -> None:
        """Record the decision, release the request, then bring its cards in line."""
        if after is ACCEPTED:
            # Done in Cflow, but what it looks like now is unknown: no buttons until the
            # poller sees the new state. Held until this busy line is out: a cycle in
            # between would show the new state, and the line would then hide it for good.
            await self._store.record_decision(decision)
            busy = f"{_past(intent)} in Cflow; waiting for it to show what comes next"
            await self._publisher.refresh(workflow, before, busy=busy)
            return
        assert isinstance(after, Request)
        previous = Observation(workflow, before, None).tracked()
        observed = Observation(workflow, after, previous, decision)
        await self._publisher.sync([observed], recorded=hold.release)

    async def _shown(self, workflow: Workflow, request: Request, hold: Hold) -> bool:
        """Release the request, then re-render its cards as `request` shows it (after a
        click that decided nothing); False when that failed, so that the listener puts
        back the card that was clicked."""
        await hold.release()
        try:
            await self._publisher.refresh(workflow, request)
        except Exception:
            log.exception("Could not re-render the cards of %s/%s", workflow.id, request.id)
            return False
        return True

    async def _unreadable(
        self, actor: str, ref: RequestRef, error: CflowError, hold: Hold
    ) -> DecisionError:
        """The clicker cannot read the request: why, once the card has its buttons back."""
        if isinstance(error, CflowUnauthorizedError):
            await self._store.mark_key_refused(actor)  # before the cards are re-rendered
        restored = await self._restore_cards(ref, hold)
        if isinstance(error, CflowUnauthorizedError):
            return KeyRefusedError(RELINK_TEXT, card_restored=restored)
        text = f"Cflow would not show you this request: {escape(error.message)}"
        return UnreadableRequestError(text, card_restored=restored)

    async def _read(self, creds: Credentials, ref: RequestRef) -> tuple[Workflow, Request]:
        workflow, request = await asyncio.gather(
            self._cflow.get_workflow(creds, ref.workflow_id),
            self._cflow.get_request(creds, ref.workflow_id, ref.request_id),
        )
        return workflow, request

    async def _restore_cards(self, ref: RequestRef, hold: Hold) -> bool:
        """Re-render the request's cards as the service account sees it; False if it cannot."""
        try:
            workflow, request = await self._read(self._service, ref)
        except CflowError as error:
            log.warning("Cannot re-read %s to restore its cards: %s", ref, type(error).__name__)
            await hold.release()
            return False
        return await self._shown(workflow, request, hold)

    async def _call(
        self, actor: str, creds: Credentials, intent: Intent, before: Request
    ) -> Request | Accepted:
        """The Cflow call: the request as it now is, or ACCEPTED (state unknown)."""
        ref, cflow = intent.ref, self._cflow
        method = cflow.approve_request if intent.verb == "approve" else cflow.reject_request
        try:
            after = await method(
                creds,
                ref.workflow_id,
                ref.request_id,
                comment=intent.comment,
                reassign_to=intent.reassign_to,
            )
        except CflowUnauthorizedError:
            await self._store.mark_key_refused(actor)
            raise KeyRefusedError(RELINK_TEXT) from None
        except CflowError as error:
            if not error.may_have_succeeded:
                raise CflowRefusedError(f"Cflow refused: {escape(error.message)}") from None
            log.warning(
                "Ambiguous %s of %s: %s; re-reading", intent.verb, ref, type(error).__name__
            )
            return await self._settle(creds, intent, before)
        return after if after is not None else await self._reread(creds, ref)

    async def _reread(self, creds: Credentials, ref: RequestRef) -> Request | Accepted:
        """After a success that sent no record: the request as it now is, if Cflow says."""
        try:
            return await self._cflow.get_request(creds, ref.workflow_id, ref.request_id)
        except CflowError:
            return ACCEPTED

    async def _settle(self, creds: Credentials, intent: Intent, before: Request) -> Request:
        """After a timeout or a 5xx: did Cflow record it? Only a changed request says yes.

        An unchanged request is no proof either way (Cflow may still be committing it), so
        the person hears "unknown", never "nothing was done".
        """
        ref = intent.ref
        try:
            now = await self._cflow.get_request(creds, ref.workflow_id, ref.request_id)
        except CflowError:
            raise UnknownOutcomeError(UNKNOWN_TEXT) from None
        if _state(now) == _state(before):
            raise UnknownOutcomeError(UNKNOWN_TEXT)
        return now
