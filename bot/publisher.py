"""Bring Slack in line with what Cflow says: post, update and DM the cards of requests.

The poller and the listeners both end here, so "update every card of this request" is
written once. `sync()` takes a batch of observations and loads what it needs in a
constant number of store queries; each card is claimed in the store before it is
posted, so that a restart, a second instance or a concurrent click never posts a card
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import Request, Workflow
from bot.directory import Directory, SlackTarget
from bot.logs import request_context
from bot.metrics import Metrics
from bot.slack.blocks import CardView, audit_line, request_card, submitter_message
from bot.store.base import (
    Card,
    Decision,
    RequestKey,
    Store,
    TrackedRequest,
    request_lock,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ABANDONED_CLAIM_SECONDS = 120.0
CLOCK_TOLERANCE_SECONDS = 60.0  # between our clock and Slack's ts
HISTORY_PAGES = 10
CARD_EVENT = "cflow_card"
GONE_MESSAGE_ERRORS = frozenset({"message_not_found", "channel_not_found", "cant_update_message"})


class Change(Enum):
    NEW = "new"  # pending, never published
    MOVED = "moved"  # pending at another stage, or handed to someone else
    FINAL = "final"  # no longer pending (decided, completed or deleted)
    SAME = "same"


@dataclass(frozen=True)
class Observation:
    """A request as Cflow shows it now, against what the bot last published."""

    workflow: Workflow
    request: Request
    previous: TrackedRequest | None
    decision: Decision | None = None  # what the bot itself just did, if anything

    @property
    def key(self) -> RequestKey:
        return (self.workflow.id, self.request.id)

    def change(self) -> Change:
        if self.request.is_pending:
            if self.previous is None:
                return Change.NEW
            now = (self.request.current_stage, tuple(self.request.reviewers(self.workflow)))
            before = (self.previous.stage, self.previous.reviewers)
            return Change.SAME if now == before and self.decision is None else Change.MOVED
        if self.previous is not None and self.previous.status == "pending":
            return Change.FINAL
        return Change.SAME

    def tracked(self) -> TrackedRequest:
        return TrackedRequest(
            workflow_id=self.workflow.id,
            request_id=self.request.id,
            status=self.request.status or "pending",
            stage=self.request.current_stage,
            reviewers=tuple(self.request.reviewers(self.workflow)),
            updated_at=self.request.updated_at,
        )


@dataclass
class Batch:
    """What one sync needs, loaded once for every request in it."""

    cards: dict[RequestKey, list[Card]]
    decisions: dict[RequestKey, list[Decision]]
    channels: dict[str, str]  # workflow id -> channel
    targets: dict[str, SlackTarget]  # cflow username -> Slack


class Publisher:
    def __init__(
        self,
        slack: AsyncWebClient,
        store: Store,
        directory: Directory,
        *,
        request_url: Callable[[str, str], str],
        default_channel: str | None,
        metrics: Metrics,
        concurrency: int = 4,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._slack = slack
        self._store = store
        self._directory = directory
        self.request_url = request_url
        self._default_channel = default_channel
        self._metrics = metrics
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._dm_channels: dict[str, str] = {}

    async def sync(self, observations: Sequence[Observation]) -> int:
        """Publish every change in `observations`; returns how many requests changed."""
        changed = [(obs, obs.change()) for obs in observations]
        changed = [(obs, change) for obs, change in changed if change is not Change.SAME]
        changed = await self._not_handled_elsewhere(changed)
        if not changed:
            return 0
        for obs, _ in changed:
            if obs.decision is not None:
                await self._store.record_decision(obs.decision)
        batch = await self._load([obs for obs, _ in changed])
        done = await asyncio.gather(*(self._publish(obs, ch, batch) for obs, ch in changed))
        published = [obs for (obs, _), ok in zip(changed, done, strict=True) if ok]
        await self._remember(published)
        return len(published)

    async def _not_handled_elsewhere(
        self, changed: list[tuple[Observation, Change]]
    ) -> list[tuple[Observation, Change]]:
        """Drop what a decision in progress, or one just made, publishes itself.

        The poller may list a request while someone's click is moving it: that click
        holds the request's lock, and afterwards has recorded what it published.
        """
        seen = [obs.key for obs, _ in changed if obs.decision is None]
        if not seen:
            return changed
        locked = await self._store.held_locks(request_lock(key) for key in seen)
        fresh = await self._store.tracked_for(seen)
        kept = []
        for obs, change in changed:
            if obs.decision is None:
                if request_lock(obs.key) in locked:
                    continue
                obs = replace(obs, previous=fresh.get(obs.key))
                change = obs.change()
                if change is Change.SAME:
                    continue
            kept.append((obs, change))
        return kept

    async def refresh(
        self, workflow: Workflow, request: Request, *, notice: str | None = None
    ) -> None:
        """Re-render every card of a request as it is now (e.g. after a refused click)."""
        key = (workflow.id, request.id)
        batch = await self._load([Observation(workflow, request, None)])
        await self._update_cards(key, workflow, request, batch, notice=notice)

    # Loading

    async def _load(self, observations: Sequence[Observation]) -> Batch:
        keys = [obs.key for obs in observations]
        people = {name for obs in observations for name in obs.request.reviewers(obs.workflow)}
        people |= {obs.request.submitted_by for obs in observations if obs.request.submitted_by}
        subscriptions = await self._store.subscriptions()
        channels = {wf: sub.channel_id for wf, sub in subscriptions.items()}
        return Batch(
            cards=await self._store.cards_for(keys),
            decisions=await self._store.decisions_for(keys),
            channels=channels,
            targets=await self._directory.targets(people),
        )

    async def _remember(self, published: Sequence[Observation]) -> None:
        final = [obs.key for obs in published if not obs.request.is_pending]
        await self._store.save_tracked(
            [obs.tracked() for obs in published if obs.request.is_pending]
        )
        await self._store.forget(final)

    # Publishing one request

    async def _publish(self, obs: Observation, change: Change, batch: Batch) -> bool:
        async with self._slots:
            with _tagged(obs):
                return await self._publish_tagged(obs, change, batch)

    async def _publish_tagged(self, obs: Observation, change: Change, batch: Batch) -> bool:
        try:
            if change is Change.NEW:
                return await self._post_new(obs, batch)
            await self._update_cards(obs.key, obs.workflow, obs.request, batch)
            await self._post_audit(obs, batch)
            if change is Change.MOVED:
                return await self._dm_reviewers(obs, batch)
            await self._notify_submitter(obs, batch)
            return True
        except SlackApiError as error:
            self._metrics.slack_errors.labels(_reason(error)).inc()
            log.error("Slack refused an update of request %s: %s", obs.key, _reason(error))
            return False

    async def _post_new(self, obs: Observation, batch: Batch) -> bool:
        channel = batch.channels.get(obs.workflow.id, self._default_channel)
        posted = True
        if channel:
            card = Card(obs.workflow.id, obs.request.id, channel, "channel")
            posted = await self._post_card(card, self._payload(obs, batch, card), batch)
        return await self._dm_reviewers(obs, batch) and posted

    async def _dm_reviewers(self, obs: Observation, batch: Batch) -> bool:
        existing = {card.slack_user_id for card in batch.cards.get(obs.key, [])}
        ok = True
        for name in obs.request.reviewers(obs.workflow):
            target = batch.targets.get(name)
            if target is None or target.slack_user_id in existing:
                continue
            channel = await self._dm_channel(target.slack_user_id)
            card = Card(
                obs.workflow.id, obs.request.id, channel, "dm", slack_user_id=target.slack_user_id
            )
            ok = await self._post_card(card, self._payload(obs, batch, card), batch) and ok
        return ok

    async def _post_card(self, card: Card, payload: dict[str, Any], batch: Batch) -> bool:
        """Claim, post, confirm: a card another process claimed is not posted again."""
        abandoned = self._abandoned_claim(card, batch)
        if abandoned is not None:
            return await self._recover(abandoned, payload)
        if not await self._store.claim_card(card):
            # Posted already, or being posted elsewhere: only a recorded post is done;
            # otherwise the request stays untracked and a later cycle looks again.
            known = batch.cards.get(card.key, [])
            return any(c.channel == card.channel and c.ts is not None for c in known)
        return await self._send(card, payload)

    async def _send(self, card: Card, payload: dict[str, Any]) -> bool:
        """Post a claimed card and record its ts; on failure give the claim back."""
        try:
            answer = await self._slack.chat_postMessage(
                channel=card.channel, metadata=card_metadata(card), **payload
            )
        except SlackApiError as error:
            await self._store.release_card(card)
            self._metrics.slack_errors.labels(_reason(error)).inc()
            log.error("Could not post request %s to %s: %s", card.key, card.channel, _reason(error))
            return False
        await self._store.confirm_card(card, answer["ts"])
        self._metrics.cards_posted.labels(card.kind).inc()
        log.info("Posted the %s card to %s", card.kind, card.channel)
        return True

    def _abandoned_claim(self, card: Card, batch: Batch) -> Card | None:
        """A claim left unconfirmed for minutes: its process died while posting."""
        for old in batch.cards.get(card.key, []):
            if old.channel != card.channel or old.ts is not None or old.created_at is None:
                continue
            if (self._clock() - old.created_at).total_seconds() > ABANDONED_CLAIM_SECONDS:
                return old
        return None

    async def _recover(self, claim: Card, payload: dict[str, Any]) -> bool:
        """Slack knows whether the dead process's post arrived: adopt it, or post now."""
        ts = await self._find_posted(claim)
        if ts is not None:
            await self._store.confirm_card(claim, ts)
            log.info("Adopted the %s card a stopped process had posted", claim.kind)
            return True
        log.warning("Posting the %s card a stopped process had claimed", claim.kind)
        return await self._send(claim, payload)

    async def _find_posted(self, claim: Card) -> str | None:
        """The ts of this card's message in its channel, found by the metadata it carries."""
        assert claim.created_at is not None
        oldest = f"{claim.created_at.timestamp() - CLOCK_TOLERANCE_SECONDS:.6f}"
        cursor = None
        try:
            for _ in range(HISTORY_PAGES):
                answer = await self._slack.conversations_history(
                    channel=claim.channel,
                    oldest=oldest,
                    limit=200,
                    cursor=cursor,
                    include_all_metadata=True,
                )
                found = next((m["ts"] for m in answer["messages"] if _shows(m, claim)), None)
                cursor = (answer.get("response_metadata") or {}).get("next_cursor")
                if found or not answer.get("has_more") or not cursor:
                    return found
        except SlackApiError as error:
            # Without the history scopes a rare duplicate beats a lost card.
            log.warning("Cannot read %s's history: %s", claim.channel, _reason(error))
        return None

    async def _update_cards(
        self,
        key: RequestKey,
        workflow: Workflow,
        request: Request,
        batch: Batch,
        *,
        notice: str | None = None,
    ) -> None:
        obs = Observation(workflow, request, None)
        for card in batch.cards.get(key, []):
            if card.ts is None or card.kind == "outcome":
                continue
            payload = self._payload(obs, batch, card, notice=notice)
            try:
                await self._slack.chat_update(channel=card.channel, ts=card.ts, **payload)
                self._metrics.cards_updated.inc()
            except SlackApiError as error:
                if _reason(error) not in GONE_MESSAGE_ERRORS:
                    raise
                self._metrics.slack_errors.labels(_reason(error)).inc()
                # Someone deleted the message in Slack: the other cards still get updated.
                log.warning("Card of %s in %s is gone: %s", key, card.channel, _reason(error))

    async def _post_audit(self, obs: Observation, batch: Batch) -> None:
        decision = obs.decision or self._observed_decision(obs)
        channel_card = next(
            (c for c in batch.cards.get(obs.key, []) if c.kind == "channel" and c.ts), None
        )
        if channel_card is None:
            return
        text = audit_line(decision, decision.slack_user_id)
        await self._slack.chat_postMessage(
            channel=channel_card.channel, thread_ts=channel_card.ts, text=text
        )

    async def _notify_submitter(self, obs: Observation, batch: Batch) -> None:
        submitter = obs.request.submitted_by
        if not submitter:
            return
        target = batch.targets.get(submitter)
        if target is None:
            return
        channel = await self._dm_channel(target.slack_user_id)
        marker = Card(
            obs.workflow.id, obs.request.id, channel, "outcome", slack_user_id=target.slack_user_id
        )
        if not await self._store.claim_card(marker):
            return
        decision = obs.decision or _last(batch.decisions.get(obs.key, []))
        answer = await self._slack.chat_postMessage(
            channel=channel, **submitter_message(obs.request, obs.workflow, decision)
        )
        await self._store.confirm_card(marker, answer["ts"])

    # Rendering

    def _payload(
        self, obs: Observation, batch: Batch, card: Card, *, notice: str | None = None
    ) -> dict[str, Any]:
        reviewers = obs.request.reviewers(obs.workflow)
        view = CardView(
            request=obs.request,
            workflow=obs.workflow,
            now=self._clock(),
            decisions=batch.decisions.get(obs.key, []),
            cflow_url=self.request_url(obs.workflow.id, obs.request.id),
            notice=notice,
        )
        if card.kind == "dm":
            view = self._dm_view(view, card, reviewers, batch)
        return request_card(view)

    def _dm_view(
        self, view: CardView, card: Card, reviewers: Sequence[str], batch: Batch
    ) -> CardView:
        """A DM keeps its buttons only while its reader is a reviewer of the current stage."""
        mine = [batch.targets[n] for n in reviewers if n in batch.targets]
        target = next((t for t in mine if t.slack_user_id == card.slack_user_id), None)
        if target is None:
            return replace(view, actionable=False)
        return replace(view, invite_to_link=not target.linked)

    def _observed_decision(self, obs: Observation) -> Decision:
        """A decision seen in Cflow (someone acted outside Slack), for the audit thread."""
        status = obs.request.status or "deleted"
        action = "moved" if obs.request.is_pending else status
        return Decision(
            workflow_id=obs.workflow.id,
            request_id=obs.request.id,
            stage=obs.previous.stage if obs.previous else None,
            action=action,
            cflow_username=None,
            at=self._clock(),
        )

    async def _dm_channel(self, slack_user_id: str) -> str:
        if slack_user_id not in self._dm_channels:
            answer = await self._slack.conversations_open(users=slack_user_id)
            self._dm_channels[slack_user_id] = answer["channel"]["id"]
        return self._dm_channels[slack_user_id]


def card_metadata(card: Card) -> dict[str, Any]:
    """Slack message metadata naming the request, so a card can be found in history."""
    payload = {"workflow_id": card.workflow_id, "request_id": card.request_id}
    return {"event_type": CARD_EVENT, "event_payload": payload}


def _shows(message: dict[str, Any], card: Card) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == CARD_EVENT
        and (
            str(payload.get("workflow_id")),
            str(payload.get("request_id")),
        )
        == card.key
    )


def _tagged(obs: Observation) -> contextlib.AbstractContextManager[None]:
    return request_context(f"{obs.workflow.id}/{obs.request.id}")


def _last(decisions: Sequence[Decision]) -> Decision | None:
    return decisions[-1] if decisions else None


def _reason(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown error"))
