"""What the bot remembers of each request's way through its stages, and what that
schedules: a stage visit per arrival (for `/cflow stats`), and its follow-ups.

Recorded with the events, before anything is sent (bot.sync.publisher): a request that
arrives at a stage gets a visit and, per reviewer, a reminder due after the
workflow's reminder time, plus one escalation; a request that moves on or ends closes
its visit and cancels what was scheduled for it. The times are Cflow's own where it
gives them (a backlog found at first start has waited since it was submitted, so its
first follow-up waits an hour after the bot first told anyone of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.blocks.names import request_title
from bot.store.contracts import FollowupStore, PollRunStore, RuleStore, StageVisitStore
from bot.store.records import Followup, StageVisit, WorkflowRules
from bot.sync.changes import Change, Event, Observation

Clock = Callable[[], datetime]
OPEN = -1  # a visit number no visit has: closing "all but OPEN" closes every visit
# The backlog found at the bot's very first start has often waited long already: its
# reviewers hear of it first, and are not reminded of all of it in the same minute.
FIRST_FOLLOWUP = timedelta(hours=1)
NO_FLOOR = timedelta(0)


class StageVisitsStore(FollowupStore, PollRunStore, RuleStore, StageVisitStore, Protocol):
    """What a stage visit records: the visit itself, the follow-ups it schedules and their rules."""


@dataclass(frozen=True)
class Timing:
    """Reminder and escalation times (hours), from the settings; 0 turns one off."""

    remind_after: float = 24.0
    remind_every: float = 24.0
    remind_max: int = 3
    escalate_after: float = 72.0

    def for_workflow(self, rules: WorkflowRules | None) -> tuple[float, float]:
        """(remind after, escalate after) for a workflow with these rules."""
        remind = rules.remind_after if rules and rules.remind_after is not None else None
        escalate = rules.escalate_after if rules and rules.escalate_after is not None else None
        return (
            self.remind_after if remind is None else remind,
            self.escalate_after if escalate is None else escalate,
        )


class StageVisits:
    """Records each request's stage visits as events come, and schedules (or cancels) the
    follow-ups they bring."""

    def __init__(self, store: StageVisitsStore, timing: Timing, clock: Clock) -> None:
        self._store = store
        self._timing = timing
        self._clock = clock
        self._started = False  # a poll cycle is on record: nothing found now is a backlog

    async def record(self, events: Sequence[Event]) -> None:
        """Stage visits opened and closed by these events, and the follow-ups they schedule or
        cancel (a handful of queries, whatever the number of events)."""
        moving = [e for e in events if e.change not in (Change.SAME, Change.RETRY, Change.EDITED)]
        if not moving:
            return
        now, rules = self._clock(), await self._store.workflow_rules()
        floor = FIRST_FOLLOWUP if await self._first_start() else NO_FLOOR
        ended, entered, keep, added = [], [], {}, []
        for event in moving:
            obs = event.obs
            pending = obs.request.is_pending
            keep[obs.key] = event.visit if pending else None
            ended.append(_ended(event, now))
            arrived = event.visit == event.seq and pending
            if arrived:
                visit = _entered(event, _arrival(obs, now))
                entered.append(visit)
                added += self._scheduled(visit, rules.get(obs.workflow.id), floor)
            elif pending and event.change is Change.MOVED:  # handed to someone at the stage
                added += self._scheduled(_entered(event, now), rules.get(obs.workflow.id), floor)
        await self._store.visits_left(ended)
        await self._store.visits_entered(entered)
        await self._store.cancel_followups(keep)
        await self._store.add_followups(added)

    async def _first_start(self) -> bool:
        """Whether this is the bot's very first cycle on this account (no cycle on record
        in the store, whichever instance ran it): what it finds now is the backlog."""
        if not self._started:
            self._started = await self._store.last_poll_run() is not None
        return not self._started

    def _scheduled(
        self, visit: StageVisit, rules: WorkflowRules | None, floor: timedelta
    ) -> list[Followup]:
        remind, escalate = self._timing.for_workflow(rules)
        arrived, soonest = visit.arrived_at, self._clock() + floor
        found = [
            Followup(
                *visit.key, visit.visit, "reminder", name, arrived, _due(arrived, remind, soonest)
            )
            for name in visit.reviewers
            if remind > 0
        ]
        if escalate > 0:
            due = _due(arrived, escalate, soonest)
            found.append(Followup(*visit.key, visit.visit, "escalation", "", arrived, due))
        return found


def _due(arrived: datetime, hours: float, soonest: datetime) -> datetime:
    """The earliest it can be due: working hours are never fewer than hours on a clock
    (each reviewer's are counted when it comes due); and never before `soonest` (an hour
    after the bot saw it, for the backlog of its first start; now, for anything else)."""
    return max(arrived + timedelta(hours=hours), soonest)


def _arrival(obs: Observation, now: datetime) -> datetime:
    """When it reached its stage: Cflow's time when it gives one, never in the future."""
    request = obs.request
    given = request.created_at if obs.previous is None else request.updated_at
    if obs.decision is not None or given is None:
        return now
    return min(given, now)


def _entered(event: Event, arrived: datetime) -> StageVisit:
    obs = event.obs
    stage = obs.workflow.find_stage(obs.request.current_stage)
    return StageVisit(
        workflow_id=obs.workflow.id,
        request_id=obs.request.id,
        visit=event.visit,
        workflow_name=obs.workflow.label,
        stage=obs.request.current_stage,
        stage_name=stage.label if stage else obs.request.current_stage,
        reviewers=tuple(obs.request.reviewers(obs.workflow)),
        arrived_at=arrived,
        submitted_by=obs.request.submitted_by,
        title=request_title(obs.request, obs.workflow),
    )


def _ended(event: Event, now: datetime) -> StageVisit:
    """What closes the visits this event leaves: the stage was approved (moved on), or
    the request ended; by whom, when the bot itself acted."""
    obs = event.obs
    pending = obs.request.is_pending
    decision = obs.decision
    if decision is not None:
        outcome = decision.action
    elif pending:
        outcome = "moved"
    else:
        outcome = obs.request.status or "deleted"
    return StageVisit(
        workflow_id=obs.workflow.id,
        request_id=obs.request.id,
        visit=event.visit if pending else OPEN,
        workflow_name=obs.workflow.label,
        stage=None,
        stage_name=None,
        reviewers=(),
        arrived_at=now,
        left_at=now,
        outcome=outcome,
        decided_by=decision.cflow_username if decision else None,
    )
