"""Follow-ups that came due, run after each poll cycle from what it listed: hand-overs
of requests reaching someone who is away (bot.followups.handovers), digests
(bot.followups.digests), and reminders and escalations (bot.followups.reminders).

Only the polling instance runs it, in the background like a delivery, so the next
cycle starts on time, one run at a time; each piece claims what it sends in the store
first, so a second instance, or a run cut off and taken again, sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.cflow import Request, Workflow
from bot.followups.digests import Digests
from bot.followups.handovers import Handovers
from bot.followups.reminders import Reminders
from bot.outbound.pacing import URGENCY, Rank, Urgency
from bot.sync.publisher import Publisher

log = logging.getLogger(__name__)
Listed = Sequence[tuple[Workflow, Sequence[Request]]]


class AfterCycle:
    def __init__(
        self,
        publisher: Publisher,
        handovers: Handovers,
        digests: Digests,
        reminders: Reminders,
    ) -> None:
        self._publisher = publisher
        self._handovers = handovers
        self._digests = digests
        self._reminders = reminders
        self._running = False
        self._waiting: Listed | None = None

    def start(self, listed: Listed) -> None:
        """Start what is due now; while a run is under way, one more follows it, with
        the newest listing (a clock that moved on meanwhile is never missed)."""
        if self._running:
            self._waiting = listed
            return
        self._running = True
        self._publisher.start(self._run(listed))

    async def _run(self, listed: Listed) -> None:
        URGENCY.set(Urgency(Rank.REVIEWER_DM))
        try:
            await self._handovers.hand_over(listed)
            await self._digests.send_due(listed)
            await self._reminders.send_due(listed)
        finally:
            self._running = False
        # Not after a failure or at shutdown: the next cycle asks again then.
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.start(waiting)
