"""Bring Slack in line with what Cflow says: post, update and DM the cards of requests.

The poller and the listeners both end here, so "update every card of this request" is
written once, as one pipeline that runs one way, each stage in its module:

1. record (bot.sync.recording): number each change against the store and save it as
   due, its grouping (bot.sync.grouping) and stage visit with it, before anything is sent;
2. queue (bot.sync.outbox): per request the newest event only, one delivery at a time;
   a listener's `sync()` delivers at once, the poller's `enqueue()` in the background so
   that its cycle never waits for Slack;
3. load (bot.sync.loading): what the batch needs, in a constant number of queries;
4. send: each event's own messages (bot.sync.effects) and the roundups they are in
   (bot.sync.roundups), each message on its own (bot.sync.delivery);
5. settle (bot.sync.settling): what each request leaves to retry, and a request that
   changed elsewhere meanwhile looked at again.

The publisher only calls the stages in that order; none of them calls back into it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import Request, Workflow
from bot.outbound.directory import Directory
from bot.outbound.pacing import URGENCY, Pacer, Rank, Urgency
from bot.store.contracts import (
    CardStore,
    FollowupStore,
    LockStore,
    PendingStore,
    PolicyStore,
    PollRunStore,
    PreferenceStore,
    RoundupStore,
    RouteStore,
    RuleStore,
    StageVisitStore,
    ThreadStore,
    TrackingStore,
    UnfurlStore,
)
from bot.store.records import TrackedRequest
from bot.sync.changes import Change, Event, Observation
from bot.sync.delivery import Delivery
from bot.sync.effects import Effects
from bot.sync.grouping import current_items
from bot.sync.liveness import Liveness
from bot.sync.loading import Batch, Loader
from bot.sync.outbox import Outbox
from bot.sync.recording import Recorder
from bot.sync.roundups import Roundups
from bot.sync.routes import ChannelOf, channel_lookup
from bot.sync.settling import Settler
from bot.sync.stage_visits import StageVisits, Timing
from bot.sync.threads import ThreadReplies
from bot.sync.unfurls import Unfurls
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
SHUTDOWN_GRACE = 5.0


class PublisherStore(
    CardStore,
    FollowupStore,
    LockStore,
    PendingStore,
    PolicyStore,
    PollRunStore,
    PreferenceStore,
    RoundupStore,
    RouteStore,
    RuleStore,
    StageVisitStore,
    ThreadStore,
    TrackingStore,
    UnfurlStore,
    Protocol,
):
    """What the stages of publishing keep in the store, all together."""


class Publisher:
    def __init__(
        self,
        slack: AsyncWebClient,
        store: PublisherStore,
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
        (their reviewers, before and after, and the submitter): their Home tabs;
        `on_observed` hears requests as recorded now (the shared listing); `sleep` is how
        a delivery waits (a step test's is virtual, like its `clock`)."""
        self._on_people = on_people
        self._on_observed = on_observed
        self._store = store
        self._directory = directory
        self.request_url = request_url
        self.default_channel = default_channel
        self._pacer = pacer
        visits = StageVisits(store, timing or Timing(), clock)
        self._recorder = Recorder(
            store,
            visits,
            default_channel=default_channel,
            roundup_limit=burst_limit,
            clock=clock,
            liveness=liveness,
        )
        self._outbox = Outbox(store, metrics, on_superseded=self._drop_unwanted)
        self._loader = Loader(store, directory, default_channel)
        # Claims age in real time, whatever `clock` says (Slack's ts are real).
        self._delivery = Delivery(
            slack, store, metrics, lambda: datetime.now(UTC), liveness, sleep=sleep
        )
        # Replies in the threads of messages requests were made from (the shortcut).
        self.threads = ThreadReplies(slack, store, request_url=request_url, clock=clock)
        self._effects = Effects(
            self._delivery,
            request_url=request_url,
            default_channel=default_channel,
            is_current=self._outbox.is_current,
            clock=clock,
            unfurls=Unfurls(slack, store, metrics),
            threads=self.threads,
        )
        self._roundups = Roundups(store, self._delivery, clock)
        self._settler = Settler(store, clock)
        self.card_view = self._effects.card_view  # what a card of a request shows now

    @property
    def roundups(self) -> Roundups:
        """The roundups' messages (digests and reminders are roundups too)."""
        return self._roundups

    @property
    def delivery(self) -> Delivery:
        return self._delivery

    async def channel_of(self) -> ChannelOf:
        """Where each workflow's cards go now (bot.sync.routes)."""
        return await channel_lookup(self._store, self.default_channel)

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
            self._outbox.watch()
        return len(events)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background like a delivery: `delivered()` waits for it, and
        shutdown stops it at its next Slack call."""
        self._outbox.start(work)

    @property
    def queued(self) -> int:
        """Batches of changes still being delivered."""
        return self._outbox.depth

    async def delivered(self) -> None:
        """Wait until every change handed to the outbox so far is delivered."""
        await self._outbox.idle()

    async def close(self) -> None:
        await self._outbox.close(SHUTDOWN_GRACE)

    # The pipeline, stage by stage

    async def _record(self, observations: Sequence[Observation]) -> list[Event]:
        """Stages 1 and 2: recorded in the store, then queued (what is worth sending)."""
        self._on_observed(observations)
        accepted = self._outbox.accept(await self._recorder.record(observations))
        if any(e.change is not Change.NEW for e in accepted):
            self._drop_unwanted()  # what these supersede stops waiting for Slack
        return accepted

    async def _deliver_later(self, events: Sequence[Event]) -> None:
        URGENCY.set(Urgency(Rank.REVIEWER_DM))  # this task's own context: nobody clicked
        await self._deliver(events)

    async def _deliver(self, events: Sequence[Event]) -> None:
        """Stages 3 to 5: loaded, sent (each request in its turn, and its roundups),
        settled."""
        if not events:
            return
        try:
            batch = await self._loader.load([event.obs for event in events])
            await self._store.update_roundup_items(
                current_items(events, batch.roundups, batch.policies)
            )
        except BaseException:
            self._outbox.release(events)
            raise
        groups = {m.group_id for members in batch.roundups.values() for m in members}
        remembered, shown = await asyncio.gather(
            asyncio.gather(*(self._in_turn(event, batch) for event in events)),
            self._roundups.publish(groups, self._directory.targets),
        )
        self._on_people(_concerned(events, batch))
        await self._settler.settle(events, remembered, batch, shown)

    async def _in_turn(self, event: Event, batch: Batch) -> TrackedRequest | None:
        """Send `event` once the request's earlier events are out, unless superseded."""
        async with self._outbox.turn(event) as waited:
            if not self._outbox.is_current(event):
                return None
            if waited:  # what the earlier delivery posted is not in the batch
                batch = replace(
                    batch, cards=batch.cards | await self._store.cards_for([event.obs.key])
                )
            return await self._effects.publish(event, batch)

    def _drop_unwanted(self) -> None:
        if self._pacer is not None:
            self._pacer.drop_unwanted()

    async def unfurl_card(self, workflow: Workflow, request: Request) -> dict[str, Any]:
        """The request's card as a link preview shows it: its channel card, from the
        store's decisions, undo windows and the workflow's policy, as they are now."""
        obs = Observation(workflow, request, None)
        batch = await self._loader.load([obs])
        return self._effects.unfurl_card(Event(obs, Change.SAME, 0, 0), batch)

    async def refresh(
        self,
        workflow: Workflow,
        request: Request,
        *,
        notice: str | None = None,
        busy: str | None = None,
    ) -> None:
        """Re-render every card of a request as it is now (e.g. after a refused click);
        with `busy`, without buttons and with that line instead. Nothing is recorded."""
        obs = Observation(workflow, request, None)
        batch = await self._loader.load([obs])
        stored = await self._store.tracked_for([obs.key])
        visit = stored[obs.key].visit if obs.key in stored else 0
        # DMs of a visit may be posted before the cycle that posted them stores it.
        dms = [c.slot for c in batch.cards.get(obs.key, []) if c.kind == "dm"]
        posted = [int(slot) for slot in dms if slot.isdigit()]
        event = Event(obs, Change.SAME, 0, max([visit, *posted]))
        await self._effects.update_cards(event, batch, notice=notice, busy=busy)
        if batch.roundups.get(obs.key):  # a click in a grouped DM took its buttons off
            await self._store.update_roundup_items(
                current_items([event], batch.roundups, batch.policies)
            )
            groups = [m.group_id for m in batch.roundups[obs.key]]
            await self._roundups.publish(groups, self._directory.targets)


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
