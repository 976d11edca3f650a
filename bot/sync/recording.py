"""Recording: each change becomes a numbered event in the store before Slack hears of it.

The first stage of publishing. Each observed change is numbered against what is stored
now (what a click holds is left to that click), its decision written to the audit, its
grouping planned (bot.sync.grouping), its stage visit and follow-ups recorded
(bot.sync.stage_visits), and the request saved as due again after a grace: a process
that stops mid-delivery leaves it to the next cycle, here or on another instance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.store.contracts import LockStore, PolicyStore, RoundupStore, RouteStore, TrackingStore
from bot.store.records import TrackedRequest, request_lock
from bot.sync.changes import Change, Event, Observation
from bot.sync.grouping import plan
from bot.sync.liveness import Liveness
from bot.sync.routes import channel_lookup
from bot.sync.stage_visits import StageVisits

Clock = Callable[[], datetime]
# A change recorded but not yet delivered is due again after this (a process that stopped
# mid-delivery leaves it to the next cycle, here or on another instance).
DELIVERY_GRACE = timedelta(minutes=2)


class RecordingStore(LockStore, RoundupStore, RouteStore, TrackingStore, PolicyStore, Protocol):
    """What recording reads and writes: the locks clicks hold, the tracked requests and
    their decisions, the roundups planned, the routes that plan them."""


class Recorder:
    def __init__(
        self,
        store: RecordingStore,
        visits: StageVisits,
        *,
        default_channel: str | None,
        roundup_limit: int,
        clock: Clock,
        liveness: Liveness | None,
    ) -> None:
        self._store = store
        self._visits = visits
        self._default_channel = default_channel
        self._roundup_limit = roundup_limit
        self._clock = clock
        self._liveness = liveness

    async def record(self, observations: Sequence[Observation]) -> list[Event]:
        """Number the changes and store them as due, before any of them is sent."""
        now = self._clock()
        changed = [(obs, obs.change(now)) for obs in observations]
        changed = [(obs, change) for obs, change in changed if change is not Change.SAME]
        events = await self._numbered(changed)
        for event in events:
            if event.obs.decision is not None:
                await self._store.record_decision(event.obs.decision)
        if len(events) > self._roundup_limit:
            channel_of = await channel_lookup(self._store, self._default_channel)
            policies = await self._store.policies_for({e.obs.workflow.id for e in events})
            planned = plan(events, channel_of, self._roundup_limit, policies)
            await self._store.add_roundup(planned)
        await self._visits.record(events)
        due = now + DELIVERY_GRACE
        fresh = [e for e in events if e.change is not Change.RETRY]
        owner = self._liveness.instance_id if self._liveness is not None else None
        await self._store.save_tracked(
            [replace(e.obs.tracked(e.seq, e.visit), retry_at=due, owner=owner) for e in fresh]
        )
        return events

    async def _numbered(self, changed: list[tuple[Observation, Change]]) -> list[Event]:
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
