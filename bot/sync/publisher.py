"""Bring Slack in line with what Cflow says: post, update and DM the cards of requests.

The poller and the listeners both end here, so "update every card of this request" is
written once. Each change is an *event* with a number (`seq`), recorded in the store
before anything is sent: a listener's `sync()` then delivers it at once, and the
poller's `enqueue()` hands it to the outbox (bot.sync.outbox) so that its cycle never waits
for Slack. A batch of events loads what it needs in a constant number of store queries;
each event's Slack effects are bot.sync.effects', and the bursts among them bot.sync.bursts'. The
request is remembered whatever happened; when an effect is to be retried, the request
is looked at again after a backoff, and only what is missing is done then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import Request, Workflow
from bot.domain.access import channel_for
from bot.outbound.directory import Directory
from bot.outbound.pacing import URGENCY, Pacer, Rank, Urgency
from bot.store.base import (
    Store,
    TrackedRequest,
    request_lock,
)
from bot.sync.bursts import Bursts, Shown, current_items, plan
from bot.sync.changes import Change, Event, Observation
from bot.sync.delivery import Delivery
from bot.sync.effects import Batch, Effects
from bot.sync.liveness import Liveness
from bot.sync.outbox import Outbox
from bot.sync.results import Result
from bot.sync.stage_visits import Timing, Visits
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# A change recorded but not yet delivered is due again after this (a process that stopped
# mid-delivery leaves it to the next cycle, here or on another instance).
DELIVERY_GRACE = timedelta(minutes=2)
SHUTDOWN_GRACE = 5.0
WATCH_EVERY = 1.0  # seconds between looks for events recorded elsewhere, while delivering


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
        on_people: Callable[[set[str]], None] = lambda people: None,
        on_observed: Callable[[Sequence[Observation]], None] = lambda observations: None,
        timing: Timing | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        liveness: Liveness | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`on_people` hears the Slack users whose view of the requests a batch changed
        (their reviewers, before and after, and the submitter): their Home tabs. `sleep`
        is how a delivery waits (a step test's is virtual, like its `clock`)."""
        self._on_people = on_people
        self._on_observed = on_observed  # the shared listing: requests as recorded now
        self._store = store
        self._directory = directory
        self.request_url = request_url
        self.default_channel = default_channel
        self._clock = clock
        self._burst_limit = burst_limit
        self._pacer = pacer
        # Claims age in real time, whatever `clock` says (Slack's ts are real).
        self._liveness = liveness
        self._delivery = Delivery(
            slack, store, metrics, lambda: datetime.now(UTC), liveness, sleep=sleep
        )
        self._outbox = Outbox(metrics)
        self._watching: asyncio.Task[None] | None = None
        self._bursts = Bursts(store, self._delivery, clock)
        self._effects = Effects(
            self._delivery,
            request_url=request_url,
            default_channel=default_channel,
            is_current=self._outbox.is_current,
            clock=clock,
        )
        self.card_view = self._effects.card_view  # what a card of a request shows now
        self._visits = Visits(store, timing or Timing(), clock)

    @property
    def bursts(self) -> Bursts:
        """The bursts' messages (digests and reminders are bursts too)."""
        return self._bursts

    @property
    def delivery(self) -> Delivery:
        return self._delivery

    async def sync(
        self,
        observations: Sequence[Observation],
        *,
        recorded: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Publish every change in `observations` now; returns how many requests changed.
        `recorded` runs once they are in the store, before Slack hears of them: a click
        releases its request there, so that no one waits for Slack's pace."""
        events = await self._record(observations)
        if recorded is not None:
            try:
                await recorded()
            except BaseException:
                self._outbox.release(events)
                raise
        await self._deliver(events)
        return len(events)

    async def enqueue(self, observations: Sequence[Observation]) -> int:
        """Record every change and leave its delivery to the outbox; returns how many."""
        events = await self._record(observations)
        if events:
            self._outbox.start(self._deliver_later(events))
            self._watch()
        return len(events)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background like a delivery: `delivered()` waits for it, and
        shutdown stops it at its next Slack call."""
        self._outbox.start(work)

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
        if self._watching is not None:
            self._watching.cancel()
        self._outbox.closing()
        self._drop_unwanted()
        await self._outbox.close(SHUTDOWN_GRACE)

    def _drop_unwanted(self) -> None:
        if self._pacer is not None:
            self._pacer.drop_unwanted()

    async def _record(self, observations: Sequence[Observation]) -> list[Event]:
        """Number the changes and store them as due, before any of them is sent."""
        self._on_observed(observations)
        now = self._clock()
        changed = [(obs, obs.change(now)) for obs in observations]
        changed = [(obs, change) for obs, change in changed if change is not Change.SAME]
        events = await self._current(changed)
        for event in events:
            if event.obs.decision is not None:
                await self._store.record_decision(event.obs.decision)
        if len(events) > self._burst_limit:
            await self._store.add_burst(plan(events, await self.channel_of(), self._burst_limit))
        await self._visits.record(events)
        due = now + DELIVERY_GRACE
        fresh = [e for e in events if e.change is not Change.RETRY]
        owner = self._liveness.instance_id if self._liveness is not None else None
        await self._store.save_tracked(
            [replace(e.obs.tracked(e.seq, e.visit), retry_at=due, owner=owner) for e in fresh]
        )
        accepted = self._outbox.accept(events)
        if any(e.change is not Change.NEW for e in accepted):
            self._drop_unwanted()  # what these supersede stops waiting for Slack
        return accepted

    async def channel_of(self) -> Callable[[str], str | None]:
        """Where each workflow's cards go: only where an admin routed it (bot.domain.access)."""
        subscriptions = await self._store.subscriptions()
        routes = await self._store.workflow_routes()
        return lambda workflow_id: channel_for(
            workflow_id, subscriptions, routes, self.default_channel
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
        self._on_people(_concerned(events, batch))
        by_key = {event.obs.key: event for event in events}
        await self._store.save_tracked(
            [self._burst_due(by_key[r.key], r, batch, shown) for r in remembered if r is not None]
        )
        await self._correct_overtaken(events)

    async def _correct_overtaken(self, events: Sequence[Event]) -> None:
        """A newer event recorded elsewhere while these were delivered (a decision on
        another instance) may have loaded the cards before these posted theirs: such a
        request is looked at again now, so that every card, the new ones too, shows the
        newest state (and a decided request keeps no live button)."""
        delivered = {event.obs.key: event.seq for event in events}
        stored = await self._store.tracked_for(delivered)
        now = self._clock()
        overtaken = [
            replace(row, retry_at=now)
            for key, row in stored.items()
            if row.seq > delivered[key] and (row.retry_at is None or row.retry_at > now)
        ]
        if overtaken:
            log.info("%d requests changed elsewhere during their delivery", len(overtaken))
            await self._store.save_tracked(overtaken)

    def _burst_due(
        self, event: Event, tracked: TrackedRequest, batch: Batch, shown: dict[str, Shown]
    ) -> TrackedRequest:
        """A member of a burst whose message is to be retried, or held for its reader's
        quiet hours, is looked at again then (its own effects may want that sooner)."""
        outcomes = [
            shown[m.group_id] for m in batch.bursts.get(tracked.key, []) if m.group_id in shown
        ]
        if any(o.result is Result.RETRY for o in outcomes) and tracked.retry_at is None:
            return self._effects.retry_later(event, tracked)
        held = [o.until for o in outcomes if o.result is Result.LATER and o.until is not None]
        if held:
            due = min([*held, *([tracked.retry_at] if tracked.retry_at else [])])
            return replace(tracked, retry_at=due)
        return tracked

    async def _in_turn(self, event: Event, batch: Batch) -> TrackedRequest | None:
        """Publish `event` once the request's earlier events are out, unless superseded."""
        async with self._outbox.turn(event) as waited:
            if not self._outbox.is_current(event):
                return None
            if waited:  # what the earlier delivery posted is not in the batch
                batch = replace(
                    batch, cards=batch.cards | await self._store.cards_for([event.obs.key])
                )
            return await self._effects.publish(event, batch)

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
        stored = {k: self._due(t) for k, t in (await self._store.tracked_for(keys)).items()}
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

    def _due(self, tracked: TrackedRequest) -> TrackedRequest:
        """Due now when the instance delivering it has stopped (bot.sync.liveness)."""
        return self._liveness.due(tracked) if self._liveness is not None else tracked

    def _watch(self) -> None:
        """While deliveries are on their way, the store is asked now and then whether a
        newer event of their requests was recorded anywhere (a decision on another
        instance): what it supersedes is then skipped when its turn comes."""
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._watch_store())

    async def _watch_store(self) -> None:
        while self._outbox.depth:
            await asyncio.sleep(WATCH_EVERY)
            keys = self._outbox.open_keys()
            try:
                stored = await self._store.tracked_for(keys)
            except Exception as error:  # the next look, or the next cycle, will do
                log.info("Could not look for newer events (%s)", type(error).__name__)
                continue
            if self._outbox.supersede({key: row.seq for key, row in stored.items()}):
                self._drop_unwanted()

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
        await self._effects.update_cards(event, batch, notice=notice, busy=busy)
        if batch.bursts.get(obs.key):  # a click in a grouped DM took its buttons off
            await self._store.update_burst_items(current_items([event], batch.bursts))
            groups = [m.group_id for m in batch.bursts[obs.key]]
            await self._bursts.publish(groups, self._directory.targets)

    # Loading

    async def _load(self, observations: Sequence[Observation]) -> Batch:
        keys = [obs.key for obs in observations]
        people = {name for obs in observations for name in obs.request.reviewers(obs.workflow)}
        people |= {obs.request.submitted_by for obs in observations if obs.request.submitted_by}
        # Those a change takes a request from: their Home tabs change too.
        people |= {n for obs in observations if obs.previous for n in obs.previous.reviewers}
        channel_of = await self.channel_of()
        channels = {obs.workflow.id: channel_of(obs.workflow.id) for obs in observations}
        reach = await self._directory.targets(people)
        readers = [target.slack_user_id for target in reach.found.values()]
        return Batch(
            cards=await self._store.cards_for(keys),
            decisions=await self._store.decisions_for(keys),
            channels=channels,
            targets=reach.found,
            unreached=reach.unknown,
            bursts=await self._store.bursts_for(keys),
            preferences=await self._store.preferences_for(readers),
        )


def _concerned(events: Sequence[Event], batch: Batch) -> set[str]:
    """The linked people whose desk these events change."""
    names: set[str] = set()
    for event in events:
        obs = event.obs
        names.update(obs.request.reviewers(obs.workflow))
        names.update(obs.previous.reviewers if obs.previous else ())
        names.add(obs.request.submitted_by or "")
    targets = (batch.targets.get(name) for name in names)
    return {t.slack_user_id for t in targets if t is not None and t.linked}
