"""Bring Slack in line with what Cflow says: post, update and DM the cards of requests.

The poller and the listeners both end here, so "update every card of this request" is
written once. `sync()` takes a batch of observations and loads what it needs in a
constant number of store queries. Each change is an *event* with a number (`seq`);
each of its Slack effects (the channel card, each reviewer's DM, the thread line, the
submitter's message) is delivered on its own (bot.delivery), so one that fails never
blocks or repeats another. The request is remembered whatever happened; when an effect
is to be retried, the request is looked at again after a backoff, and only what is
missing is done then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import Request, Workflow
from bot.changes import ANNOUNCED, Change, Event, Observation
from bot.delivery import Delivery, Result, in_flight, updatable, worst
from bot.directory import Directory, SlackTarget
from bot.logs import request_context
from bot.metrics import Metrics
from bot.slack.card import request_card
from bot.slack.card_view import CardView
from bot.slack.messages import audit_line, submitter_message
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
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 600.0


@dataclass
class Batch:
    """What one sync needs, loaded once for every request in it."""

    cards: dict[RequestKey, list[Card]]
    decisions: dict[RequestKey, list[Decision]]
    channels: dict[str, str]  # workflow id -> channel
    targets: dict[str, SlackTarget]  # cflow username -> Slack
    unreached: frozenset[str] = frozenset()  # their lookup failed for now: DM them later


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
        self._store = store
        self._directory = directory
        self.request_url = request_url
        self.default_channel = default_channel
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._delivery = Delivery(slack, store, metrics, clock)

    async def sync(self, observations: Sequence[Observation]) -> int:
        """Publish every change in `observations`; returns how many requests changed."""
        now = self._clock()
        changed = [(obs, obs.change(now)) for obs in observations]
        changed = [(obs, change) for obs, change in changed if change is not Change.SAME]
        events = await self._current(changed)
        if not events:
            return 0
        for event in events:
            if event.obs.decision is not None:
                await self._store.record_decision(event.obs.decision)
        batch = await self._load([event.obs for event in events])
        remembered = await asyncio.gather(*(self._publish(event, batch) for event in events))
        await self._store.save_tracked(remembered)
        return len(events)

    async def _current(self, changed: list[tuple[Observation, Change]]) -> list[Event]:
        """Number each change against what is stored now, and drop what others publish.

        The poller may list a request while someone's click is moving it: that click
        holds the request's lock, and afterwards has recorded what it published.
        """
        if not changed:
            return []
        keys = [obs.key for obs, _ in changed]
        polled = [obs.key for obs, _ in changed if obs.decision is None]
        locked = await self._store.held_locks(request_lock(key) for key in polled)
        stored = await self._store.tracked_for(keys)
        now, events = self._clock(), []
        for obs, change in changed:
            fresh = stored.get(obs.key)
            if obs.decision is not None:
                # The click compares with what it saw; the numbering is the store's.
                seen = obs.previous
                if seen is not None and fresh is not None:
                    obs = replace(obs, previous=replace(seen, seq=fresh.seq, visit=fresh.visit))
            elif request_lock(obs.key) in locked:
                continue
            else:
                obs = replace(obs, previous=fresh)
                change = obs.change(now)
                if change is Change.SAME:
                    continue
            events.append(Event.of(obs, change))
        return events

    async def refresh(
        self,
        workflow: Workflow,
        request: Request,
        *,
        notice: str | None = None,
        busy: str | None = None,
    ) -> None:
        """Re-render every card of a request as it is now (e.g. after a refused click);
        with `busy`, without buttons and with that line instead."""
        obs = Observation(workflow, request, None)
        batch = await self._load([obs])
        stored = await self._store.tracked_for([obs.key])
        visit = stored[obs.key].visit if obs.key in stored else 0
        # DMs of a visit may be posted before the cycle that posted them stores it.
        dms = [c.slot for c in batch.cards.get(obs.key, []) if c.kind == "dm"]
        posted = [int(slot) for slot in dms if slot.isdigit()]
        event = Event(obs, Change.SAME, 0, max([visit, *posted]))
        await self._update_cards(event, batch, notice=notice, busy=busy)

    def card_view(
        self,
        workflow: Workflow,
        request: Request,
        decisions: Sequence[Decision] = (),
        *,
        reader: str | None = None,
        notice: str | None = None,
        busy: str | None = None,
    ) -> CardView:
        """What a card of this request shows now; with `reader` (a Cflow username), with
        buttons only if they review its current stage."""
        return CardView(
            request=request,
            workflow=workflow,
            now=self._clock(),
            decisions=decisions,
            cflow_url=self.request_url(workflow.id, request.id),
            notice=notice,
            busy=busy,
            actionable=reader is None or reader in request.reviewers(workflow),
        )

    # Loading

    async def _load(self, observations: Sequence[Observation]) -> Batch:
        keys = [obs.key for obs in observations]
        people = {name for obs in observations for name in obs.request.reviewers(obs.workflow)}
        people |= {obs.request.submitted_by for obs in observations if obs.request.submitted_by}
        subscriptions = await self._store.subscriptions()
        channels = {wf: sub.channel_id for wf, sub in subscriptions.items()}
        reach = await self._directory.targets(people)
        return Batch(
            cards=await self._store.cards_for(keys),
            decisions=await self._store.decisions_for(keys),
            channels=channels,
            targets=reach.found,
            unreached=reach.unknown,
        )

    # Publishing one request

    async def _publish(self, event: Event, batch: Batch) -> TrackedRequest:
        """Every Slack effect of `event`, each on its own; what to remember afterwards."""
        async with self._slots:
            with _tagged(event.obs):
                results = await self._effects(event, batch)
        return self._remembered(event, worst(results))

    async def _effects(self, event: Event, batch: Batch) -> list[Result]:
        obs, change = event.obs, event.change
        known = batch.cards.get(obs.key, [])
        results = await self._update_cards(event, batch)
        if change is Change.RETRY:
            unsettled = [c for c in known if c.is_one_off and c.ts is None and c.payload]
            results += [await self._delivery.settle_one_off(c) for c in unsettled]
        if obs.request.is_pending:
            results.append(await self._post_channel_card(event, batch))
            results += await self._dm_reviewers(event, batch)
        if change in ANNOUNCED:
            results.append(await self._post_audit(event, batch))
        if change is Change.FINAL:
            results.append(await self._notify_submitter(event, batch))
        return results

    def _remembered(self, event: Event, result: Result) -> TrackedRequest:
        tracked = event.obs.tracked(event.seq, event.visit)
        if result is not Result.RETRY:
            return tracked
        attempts = (event.obs.previous.attempts if event.obs.previous else 0) + 1
        if event.change is not Change.RETRY:
            attempts = 1
        ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        log.info("Some Slack effects of %s will be retried in %.0f s", event.obs.key, delay)
        retry_at = self._clock() + timedelta(seconds=delay)
        return replace(tracked, retry_at=retry_at, attempts=attempts)

    async def _post_channel_card(self, event: Event, batch: Batch) -> Result:
        obs = event.obs
        channel = batch.channels.get(obs.workflow.id, self.default_channel)
        if not channel:
            return Result.DONE
        card = Card(obs.workflow.id, obs.request.id, channel, "channel")
        return await self._delivery.post(
            card, self._payload(event, batch, card), batch.cards.get(obs.key, [])
        )

    async def _dm_reviewers(self, event: Event, batch: Batch) -> list[Result]:
        obs, results = event.obs, []
        known = batch.cards.get(obs.key, [])
        for name in obs.request.reviewers(obs.workflow):
            target = batch.targets.get(name)
            if target is None:
                if name in batch.unreached:
                    results.append(Result.RETRY)  # a later try may find them
                continue
            card = Card(
                obs.workflow.id,
                obs.request.id,
                "",  # the DM channel, opened by the delivery
                "dm",
                slack_user_id=target.slack_user_id,
                slot=event.dm_slot,
            )
            payload = self._payload(event, batch, card)
            result, _ = await self._delivery.post_dm(card, payload, known)
            results.append(result)
        return results

    async def _update_cards(
        self,
        event: Event,
        batch: Batch,
        *,
        notice: str | None = None,
        busy: str | None = None,
    ) -> list[Result]:
        results = []
        for card in batch.cards.get(event.obs.key, []):
            if updatable(card):
                payload = self._payload(event, batch, card, notice=notice, busy=busy)
                results.append(await self._delivery.update(card, payload))
            elif in_flight(card):
                # Being posted (by the poller, as a click decides it): edit it once posted.
                results.append(Result.RETRY)
        return results

    async def _post_audit(self, event: Event, batch: Batch) -> Result:
        """The event's one line in the channel card's thread."""
        obs = event.obs
        known = batch.cards.get(obs.key, [])
        parent = next((c for c in known if c.kind == "channel" and c.ts), None)
        if parent is None:
            return Result.DONE  # no channel card, no thread
        decision = obs.decision or self._observed_decision(event)
        payload = {"text": audit_line(decision, decision.slack_user_id)}
        line = Card(
            obs.workflow.id,
            obs.request.id,
            parent.channel,
            "audit",
            slot=f"a{event.seq}",
            thread_ts=parent.ts,
            payload=json.dumps(payload),
        )
        return await self._delivery.post(line, payload, known)

    async def _notify_submitter(self, event: Event, batch: Batch) -> Result:
        obs = event.obs
        target = batch.targets.get(obs.request.submitted_by or "")
        if target is None:
            return Result.DONE
        known = batch.cards.get(obs.key, [])
        decision = obs.decision or _last(batch.decisions.get(obs.key, []))
        payload = submitter_message(obs.request, obs.workflow, decision)
        card = Card(
            obs.workflow.id,
            obs.request.id,
            "",
            "outcome",
            slack_user_id=target.slack_user_id,
            slot=f"o{event.seq}",
            payload=json.dumps(payload),
        )
        result, _ = await self._delivery.post_dm(card, payload, known)
        return result

    # Rendering

    def _payload(
        self,
        event: Event,
        batch: Batch,
        card: Card,
        *,
        notice: str | None = None,
        busy: str | None = None,
    ) -> dict[str, Any]:
        obs = event.obs
        decisions = batch.decisions.get(obs.key, [])
        view = self.card_view(obs.workflow, obs.request, decisions, notice=notice, busy=busy)
        if card.kind == "dm":
            view = self._dm_view(view, card, event, batch)
        return request_card(view)

    def _dm_view(self, view: CardView, card: Card, event: Event, batch: Batch) -> CardView:
        """A DM keeps its buttons only while its reader is a reviewer of the current stage,
        and only the DM of this visit: an older one points to the newer message."""
        reviewers = event.obs.request.reviewers(event.obs.workflow)
        mine = [batch.targets[n] for n in reviewers if n in batch.targets]
        target = next((t for t in mine if t.slack_user_id == card.slack_user_id), None)
        if target is None or card.slot != event.dm_slot:
            return replace(view, actionable=False)
        if target.linked and not target.key_works:
            return replace(view, invite_to_relink=True)
        return replace(view, invite_to_link=not target.linked)

    def _observed_decision(self, event: Event) -> Decision:
        """What happened, as seen in Cflow (someone acted outside Slack), for the thread."""
        obs = event.obs
        status = obs.request.status or "deleted"
        if event.change is Change.REOPENED:
            action = "reopened"
        else:
            action = "moved" if obs.request.is_pending else status
        return Decision(
            workflow_id=obs.workflow.id,
            request_id=obs.request.id,
            stage=obs.previous.stage if obs.previous else None,
            action=action,
            cflow_username=None,
            at=self._clock(),
        )


def _tagged(obs: Observation) -> contextlib.AbstractContextManager[None]:
    return request_context(f"{obs.workflow.id}/{obs.request.id}")


def _last(decisions: Sequence[Decision]) -> Decision | None:
    return decisions[-1] if decisions else None
