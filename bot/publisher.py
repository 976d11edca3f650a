"""Bring Slack in line with what Cflow says: post, update and DM the cards of requests.

The poller and the listeners both end here, so "update every card of this request" is
written once. Each change is an *event* with a number (`seq`), recorded in the store
before anything is sent: a listener's `sync()` then delivers it at once, and the
poller's `enqueue()` hands it to the outbox (bot.outbox) so that its cycle never waits
for Slack. A batch of events loads what it needs in a constant number of store queries.
Each Slack effect (the channel card, each reviewer's DM, the thread line, the
submitter's message) is delivered on its own (bot.delivery), with the urgency that
Slack's pacing serves it by (bot.pacing), so one that fails never blocks or repeats
another. The request is remembered whatever happened; when an effect is to be retried,
the request is looked at again after a backoff, and only what is missing is done then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.bursts import Bursts, current_items, grouped_in_channel, grouped_reviewers, plan
from bot.cflow import Request, Workflow
from bot.changes import ANNOUNCED, Change, Event, Observation
from bot.delivery import Delivery, Result, in_flight, updatable, worst
from bot.directory import Directory, SlackTarget
from bot.logs import request_context
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.pacing import URGENCY, Pacer, Rank, Urgency, urgency
from bot.slack.card import request_card
from bot.slack.card_view import CardView
from bot.slack.messages import audit_line, submitter_message
from bot.store.base import (
    BurstMember,
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
# A change recorded but not yet delivered is due again after this (a process that stopped
# mid-delivery leaves it to the next cycle, here or on another instance).
DELIVERY_GRACE = timedelta(minutes=2)
SHUTDOWN_GRACE = 5.0


@dataclass
class Batch:
    """What one sync needs, loaded once for every request in it."""

    cards: dict[RequestKey, list[Card]]
    decisions: dict[RequestKey, list[Decision]]
    channels: dict[str, str]  # workflow id -> channel
    targets: dict[str, SlackTarget]  # cflow username -> Slack
    unreached: frozenset[str] = frozenset()  # their lookup failed for now: DM them later
    bursts: dict[RequestKey, list[BurstMember]] = field(default_factory=dict)


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
        burst_limit: int = 5,
        pacer: Pacer | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._directory = directory
        self.request_url = request_url
        self.default_channel = default_channel
        self._clock = clock
        self._burst_limit = burst_limit
        self._pacer = pacer
        self._delivery = Delivery(slack, store, metrics, clock)
        self._outbox = Outbox(metrics)
        self._bursts = Bursts(store, self._delivery, clock)

    async def sync(self, observations: Sequence[Observation]) -> int:
        """Publish every change in `observations` now; returns how many requests changed."""
        events = await self._record(observations)
        await self._deliver(events)
        return len(events)

    async def enqueue(self, observations: Sequence[Observation]) -> int:
        """Record every change and leave its delivery to the outbox; returns how many."""
        events = await self._record(observations)
        if events:
            self._outbox.start(self._deliver_later(events))
        return len(events)

    async def _deliver_later(self, events: Sequence[Event]) -> None:
        URGENCY.set(Urgency(Rank.REVIEWER_DM))  # this task's own context: nobody clicked
        await self._deliver(events)

    @property
    def queued(self) -> int:
        """Batches of changes still being delivered."""
        return self._outbox.depth

    async def delivered(self) -> None:
        """Wait until every change handed to the outbox so far is delivered."""
        await self._outbox.idle()

    async def close(self) -> None:
        self._outbox.closing()
        self._drop_unwanted()
        await self._outbox.close(SHUTDOWN_GRACE)

    def _drop_unwanted(self) -> None:
        if self._pacer is not None:
            self._pacer.drop_unwanted()

    async def _record(self, observations: Sequence[Observation]) -> list[Event]:
        """Number the changes and store them as due, before any of them is sent."""
        now = self._clock()
        changed = [(obs, obs.change(now)) for obs in observations]
        changed = [(obs, change) for obs, change in changed if change is not Change.SAME]
        events = await self._current(changed)
        for event in events:
            if event.obs.decision is not None:
                await self._store.record_decision(event.obs.decision)
        if len(events) > self._burst_limit:
            await self._store.add_burst(plan(events, await self._channel_of(), self._burst_limit))
        due = now + DELIVERY_GRACE
        fresh = [e for e in events if e.change is not Change.RETRY]
        await self._store.save_tracked(
            [replace(e.obs.tracked(e.seq, e.visit), retry_at=due) for e in fresh]
        )
        accepted = self._outbox.accept(events)
        if any(e.change is not Change.NEW for e in accepted):
            self._drop_unwanted()  # what these supersede stops waiting for Slack
        return accepted

    async def _channel_of(self) -> Callable[[str], str | None]:
        subscriptions = await self._store.subscriptions()
        return lambda workflow_id: (
            subscriptions[workflow_id].channel_id
            if workflow_id in subscriptions
            else self.default_channel
        )

    async def _deliver(self, events: Sequence[Event]) -> None:
        if not events:
            return
        try:
            batch = await self._load([event.obs for event in events])
            await self._store.update_burst_items(current_items(events, batch.bursts))
        except BaseException:
            self._outbox.release(events)
            raise
        groups = {m.group_id for members in batch.bursts.values() for m in members}
        remembered, shown = await asyncio.gather(
            asyncio.gather(*(self._in_turn(event, batch) for event in events)),
            self._bursts.publish(groups, self._directory.targets),
        )
        retry = {
            m.key
            for ms in batch.bursts.values()
            for m in ms
            if shown.get(m.group_id) is Result.RETRY
        }
        by_key = {event.obs.key: event for event in events}
        await self._store.save_tracked(
            [
                self._retry_later(by_key[r.key], r) if r.key in retry and r.retry_at is None else r
                for r in remembered
                if r is not None
            ]
        )

    async def _in_turn(self, event: Event, batch: Batch) -> TrackedRequest | None:
        """Publish `event` once the request's earlier events are out, unless superseded."""
        async with self._outbox.turn(event) as waited:
            if not self._outbox.is_current(event):
                return None
            if waited:  # what the earlier delivery posted is not in the batch
                batch = replace(
                    batch, cards=batch.cards | await self._store.cards_for([event.obs.key])
                )
            return await self._publish(event, batch)

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
        if batch.bursts.get(obs.key):  # a click in a grouped DM took its buttons off
            await self._store.update_burst_items(current_items([event], batch.bursts))
            groups = [m.group_id for m in batch.bursts[obs.key]]
            await self._bursts.publish(groups, self._directory.targets)

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
            bursts=await self._store.bursts_for(keys),
        )

    # Publishing one request

    async def _publish(self, event: Event, batch: Batch) -> TrackedRequest:
        """Every Slack effect of `event`, each on its own; what to remember afterwards."""
        # No bound here: Slack's pacing (bot.pacing) decides what goes when, and a slow
        # message of one request must not hold another's back.
        with _tagged(event.obs):
            results = await self._effects(event, batch)
        return self._remembered(event, worst(results))

    async def _effects(self, event: Event, batch: Batch) -> list[Result]:
        """Edits first, then the reviewers' DMs and the channel card side by side (Slack's
        pacing serves DMs first), then what hangs off the card: its thread line."""
        obs, change = event.obs, event.change
        known = batch.cards.get(obs.key, [])
        edit = Rank.BUTTONS_OFF if change in ANNOUNCED else Rank.CHANNEL_CARD
        results = await self._at(edit, event, self._update_cards(event, batch))
        if change is Change.RETRY:
            unsettled = [c for c in known if c.is_one_off and c.ts is None and c.payload]
            results += await self._at(Rank.THREAD_LINE, event, self._settle_all(unsettled))
        if obs.request.is_pending:
            card, dms = await asyncio.gather(
                self._at(Rank.CHANNEL_CARD, event, self._post_channel_card(event, batch)),
                self._at(Rank.REVIEWER_DM, event, self._dm_reviewers(event, batch)),
            )
            results += [card, *dms]
        if change in ANNOUNCED:
            results.append(await self._at(Rank.THREAD_LINE, event, self._post_audit(event, batch)))
        if change is Change.FINAL:
            notify = self._notify_submitter(event, batch)
            results.append(await self._at(Rank.THREAD_LINE, event, notify))
        return results

    async def _settle_all(self, cards: Sequence[Card]) -> list[Result]:
        return list(await asyncio.gather(*(self._delivery.settle_one_off(c) for c in cards)))

    async def _at(self, rank: Rank, event: Event, work: Awaitable[Any]) -> Any:
        """Await `work` (not started yet) with its Slack calls served at `rank`, oldest
        request first, and skipped once a newer change supersedes `event`."""
        created = event.obs.request.created_at
        order = created.timestamp() if created else 0.0
        with urgency(rank, order, wanted=lambda: self._outbox.is_current(event)):
            return await work

    def _remembered(self, event: Event, result: Result) -> TrackedRequest:
        tracked = event.obs.tracked(event.seq, event.visit)
        return self._retry_later(event, tracked) if result is Result.RETRY else tracked

    def _retry_later(self, event: Event, tracked: TrackedRequest) -> TrackedRequest:
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
        if not channel or grouped_in_channel(batch.bursts.get(obs.key, []), channel):
            return Result.DONE  # no channel, or its burst's summary stands for the card
        card = Card(obs.workflow.id, obs.request.id, channel, "channel")
        return await self._delivery.post(
            card, self._payload(event, batch, card), batch.cards.get(obs.key, [])
        )

    async def _dm_reviewers(self, event: Event, batch: Batch) -> list[Result]:
        obs, results = event.obs, []
        known = batch.cards.get(obs.key, [])
        grouped = grouped_reviewers(batch.bursts.get(obs.key, []), event.visit)
        for name in obs.request.reviewers(obs.workflow):
            if name in grouped:
                continue  # their grouped DM lists it
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
