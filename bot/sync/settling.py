"""Settling: the last stage of publishing, what a delivered batch leaves in the store.

Each request is remembered as its effects left it: done, to be retried after a backoff,
or held until its readers' quiet hours end, its roundups' messages included. A request
that changed elsewhere while this batch was on its way (a decision on another instance)
is made due now, so that every card ends showing the newest state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.store.contracts import TrackingStore
from bot.store.records import TrackedRequest
from bot.sync.changes import Event, retry_later
from bot.sync.loading import Batch
from bot.sync.results import Result
from bot.sync.roundups import Shown

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class Settler:
    def __init__(self, store: TrackingStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def settle(
        self,
        events: Sequence[Event],
        remembered: Sequence[TrackedRequest | None],
        batch: Batch,
        shown: dict[str, Shown],
    ) -> None:
        """Store what each delivered event leaves (None: superseded, nothing to keep)."""
        by_key = {event.obs.key: event for event in events}
        await self._store.save_tracked(
            [
                self._with_roundups(by_key[tracked.key], tracked, batch, shown)
                for tracked in remembered
                if tracked is not None
            ]
        )
        await self._correct_overtaken(events)

    def _with_roundups(
        self, event: Event, tracked: TrackedRequest, batch: Batch, shown: dict[str, Shown]
    ) -> TrackedRequest:
        """A member of a roundup whose message is to be retried, or held for its reader's
        quiet hours, is looked at again then (its own effects may want that sooner)."""
        outcomes = [
            shown[m.group_id] for m in batch.roundups.get(tracked.key, []) if m.group_id in shown
        ]
        if any(o.result is Result.RETRY for o in outcomes) and tracked.retry_at is None:
            return retry_later(event, tracked, self._clock())
        held = [o.until for o in outcomes if o.result is Result.LATER and o.until is not None]
        if held:
            due = min([*held, *([tracked.retry_at] if tracked.retry_at else [])])
            return replace(tracked, retry_at=due)
        return tracked

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
