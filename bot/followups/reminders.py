"""Nothing waits forever: reminders and escalations of requests that wait at a stage.

What bot.sync.stage_visits scheduled comes due here, after a poll cycle, on the polling instance,
claimed in the store by one instance at a time. A reminder goes to a reviewer once
they have had the workflow's reminder time in *their* working hours (their quiet hours
and days off do not count, and nothing reaches them then), again every
`remind_every` hours, `remind_max` times at most. Each reviewer gets one grouped DM
for everything due (a roundup of kind "reminder", with Approve and Reject per item and
"remind me later"); someone who takes no DMs is mentioned in the card's thread
instead, and someone on a digest finds it in their digest. An escalation is one line
in the card's thread that mentions the reviewers and the workflow's contacts. What
moved or ended since it was scheduled is dropped, not sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.blocks.messages import Reviewer, escalation_line, reminder_line
from bot.blocks.roundup_items import RoundupItem
from bot.cflow import Request, Workflow
from bot.domain.hours import after_working, is_open, next_open, preference_for
from bot.outbound.directory import Directory, SlackTarget
from bot.outbound.pacing import Rank, urgency
from bot.store.contracts import (
    CardStore,
    FollowupStore,
    PolicyStore,
    PreferenceStore,
    RoundupStore,
    RuleStore,
    TrackingStore,
)
from bot.store.records import (
    Card,
    Followup,
    Preference,
    RequestKey,
    RoundupMember,
    WorkflowPolicy,
    WorkflowRules,
)
from bot.sync.delivery import Delivery
from bot.sync.results import Result
from bot.sync.roundups import Roundups
from bot.sync.stage_visits import Timing
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Listed = Sequence[tuple[Workflow, Sequence[Request]]]
HOLD = timedelta(minutes=5)  # how long one instance holds the follow-ups it is sending
UNREAD = timedelta(minutes=10)  # when the request could not be read: look again then


class RemindersStore(
    CardStore,
    FollowupStore,
    PreferenceStore,
    RoundupStore,
    RuleStore,
    TrackingStore,
    PolicyStore,
    Protocol,
):
    """What reminders and escalations read and claim: the follow-ups due, the rules, the cards
    and roundups they post."""


@dataclass(frozen=True)
class Due:
    """One run's follow-ups, with what they are about and who is who."""

    pending: Mapping[RequestKey, tuple[Workflow, Request]]
    targets: Mapping[str, SlackTarget]  # by Cflow username
    preferences: Mapping[str, Preference]  # by Slack user id
    rules: Mapping[str, WorkflowRules]
    policies: Mapping[str, WorkflowPolicy] = field(default_factory=dict)

    def preference(self, name: str) -> Preference | None:
        target = self.targets.get(name)
        return preference_for(self.preferences, target.slack_user_id) if target else None

    def reviewers(self, key: RequestKey) -> list[Reviewer]:
        workflow, request = self.pending[key]
        names = request.reviewers(workflow)
        return [(t.slack_user_id if (t := self.targets.get(n)) else None, n) for n in names]


class Reminders:
    def __init__(
        self,
        store: RemindersStore,
        roundups: Roundups,
        delivery: Delivery,
        directory: Directory,
        timing: Timing,
        *,
        channel_of: Callable[[], Awaitable[Callable[[str], str | None]]],
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._channel_of = channel_of
        self._store = store
        self._roundups = roundups
        self._delivery = delivery
        self._directory = directory
        self._timing = timing
        self._metrics = metrics
        self._clock = clock

    async def send_due(self, listed: Listed) -> None:
        """Send what is due now, from what a cycle listed (`listed`)."""
        now = self._clock()
        claimed = await self._store.claim_followups(now, now + HOLD)
        if not claimed:
            return
        pending = {(w.id, r.id): (w, r) for w, rs in listed for r in rs if r.is_pending}
        read = {w.id for w, _ in listed}
        live, settled = await self._still_wanted(claimed, pending, read, now)
        due = await self._due(live, pending)
        reminders = [f for f in live if f.kind == "reminder"]
        escalations = [f for f in live if f.kind == "escalation"]
        settled += await self._remind(reminders, due, now)
        settled += await self._escalate(escalations, due, now)
        await self._store.followups_done(settled)

    async def _still_wanted(
        self,
        claimed: list[Followup],
        pending: Mapping[RequestKey, tuple[Workflow, Request]],
        read: set[str],
        now: datetime,
    ) -> tuple[list[Followup], list[Followup]]:
        """Those still about a request waiting at the same stage visit (on the same
        reviewer); the others are dropped, or looked at later when unread just now."""
        tracked = await self._store.tracked_for(f.key for f in claimed)
        live, settled = [], []
        for followup in claimed:
            found, known = pending.get(followup.key), tracked.get(followup.key)
            if found is None and followup.workflow_id not in read:
                settled.append(replace(followup, due_at=now + UNREAD))
            elif found is None or known is None or known.visit != followup.visit:
                settled.append(replace(followup, due_at=None))
            elif followup.kind == "reminder" and followup.reviewer not in found[1].reviewers(
                found[0]
            ):
                settled.append(replace(followup, due_at=None))  # handed to someone else
            else:
                live.append(followup)
        return live, settled

    async def _due(
        self, live: list[Followup], pending: Mapping[RequestKey, tuple[Workflow, Request]]
    ) -> Due:
        names = {f.reviewer for f in live if f.reviewer}
        names |= {n for f in live if f.kind == "escalation" for n in _names(pending[f.key])}
        found = (await self._directory.targets(names)).found if names else {}
        preferences = await self._store.preferences_for(t.slack_user_id for t in found.values())
        policies = await self._store.policies_for({w.id for w, _ in pending.values()})
        return Due(pending, found, preferences, await self._store.workflow_rules(), policies)

    # Reminders

    async def _remind(self, reminders: list[Followup], due: Due, now: datetime) -> list[Followup]:
        settled, by_dm, by_thread = [], defaultdict(list), defaultdict(list)
        for followup in reminders:
            pref = due.preference(followup.reviewer)
            remind_after, _ = self._timing.for_workflow(due.rules.get(followup.workflow_id))
            if pref is None or remind_after <= 0:
                # Nobody in Slack to remind, or its workflow's reminders were turned off.
                settled.append(replace(followup, due_at=None))
                continue
            ready = self._ready_at(followup, pref, remind_after)
            if ready > now:
                settled.append(replace(followup, due_at=ready))
            elif not is_open(pref, now):
                settled.append(replace(followup, due_at=next_open(pref, now)))
            elif pref.mode == "digest":
                settled.append(self._next(followup, now))  # their digest lists it
            elif pref.mode == "off":
                by_thread[followup.key].append(followup)
            else:
                by_dm[followup.reviewer].append(followup)
        settled += await self._send_dms(by_dm, due, now)
        settled += await self._send_thread_lines(by_thread, due, now)
        return settled

    def _ready_at(self, followup: Followup, pref: Preference, remind_after: float) -> datetime:
        """The first after the workflow's time at the stage, each next one
        `remind_every` after the last (in their working hours, both)."""
        if followup.sent == 0 or followup.sent_at is None:
            return after_working(pref, followup.arrived_at, remind_after)
        return after_working(pref, followup.sent_at, self._timing.remind_every)

    def _next(self, followup: Followup, now: datetime) -> Followup:
        """After a reminder: the next one, or none once `remind_max` were sent."""
        sent = followup.sent + 1
        if sent >= self._timing.remind_max:
            return replace(followup, sent=sent, sent_at=now, due_at=None)
        due = now + timedelta(hours=self._timing.remind_every)  # at the soonest
        return replace(followup, sent=sent, sent_at=now, due_at=due)

    async def _send_dms(
        self, by_reviewer: Mapping[str, list[Followup]], due: Due, now: datetime
    ) -> list[Followup]:
        groups = {name: _group(name, rows) for name, rows in by_reviewer.items()}
        members = [
            RoundupMember(groups[name], *f.key, "reminder", name, _item(due, f.key), f.visit)
            for name, rows in by_reviewer.items()
            for f in rows
        ]
        if not members:
            return []
        await self._store.add_roundup(members)
        shown = await self._roundups.publish(set(groups.values()), self._directory.targets)
        settled = []
        for name, rows in by_reviewer.items():
            outcome = shown.get(groups[name])
            if outcome is None or outcome.result in (Result.DONE, Result.FAILED):
                settled += [self._next(f, now) for f in rows]
                self._metrics.followups.labels("reminder", "dm").inc(len(rows))
            elif outcome.result is Result.LATER and outcome.until is not None:
                settled += [replace(f, due_at=outcome.until) for f in rows]
            # RETRY: their claim lapses and the same DM (the same group) is tried again
        return settled

    async def _send_thread_lines(
        self, by_request: Mapping[RequestKey, list[Followup]], due: Due, now: datetime
    ) -> list[Followup]:
        settled = []
        cards = await self._store.cards_for(by_request)
        for key, rows in by_request.items():
            waited = (now - min(f.arrived_at for f in rows)).total_seconds()
            people = [who for who in due.reviewers(key) if who[1] in {f.reviewer for f in rows}]
            slot = "r" + _digest(f"{f.reviewer}/{f.visit}/{f.sent}/{f.due_at}" for f in rows)
            result = await self._thread_line(cards[key], key, slot, reminder_line(waited, people))
            if result is not Result.RETRY:
                settled += [self._next(f, now) for f in rows]
                self._metrics.followups.labels("reminder", "thread").inc(len(rows))
        return settled

    # Escalations

    async def _escalate(
        self, escalations: list[Followup], due: Due, now: datetime
    ) -> list[Followup]:
        settled = []
        cards = await self._store.cards_for(f.key for f in escalations)
        for followup in escalations:
            _, escalate_after = self._timing.for_workflow(due.rules.get(followup.workflow_id))
            if escalate_after <= 0:  # turned off for its workflow since
                settled.append(replace(followup, due_at=None))
                continue
            workflow, request = due.pending[followup.key]
            stage = workflow.find_stage(request.current_stage)
            rules = due.rules.get(followup.workflow_id)
            contacts = rules.escalate_to if rules else ()
            waited = (now - followup.arrived_at).total_seconds()
            line = escalation_line(
                stage.label if stage else None, waited, due.reviewers(followup.key), contacts
            )
            slot = f"e{followup.visit}"
            result = await self._thread_line(cards[followup.key], followup.key, slot, line)
            if result is not Result.RETRY:
                settled.append(replace(followup, sent=1, due_at=None))
                self._metrics.followups.labels("escalation", "thread").inc()
        return settled

    async def _thread_line(
        self, known: list[Card], key: RequestKey, slot: str, text: str
    ) -> Result:
        """A one-off line in the request's channel card's thread (none: nowhere to say it)."""
        parent = next((c for c in known if c.kind == "channel" and c.ts), None)
        if parent is None:
            if (await self._channel_of())(key[0]) is None:
                log.info("No channel card of %s/%s to follow up in", *key)
                return Result.DONE
            return Result.RETRY  # its card is still on its way: the claim lapses, then again
        payload = {"text": text}
        line = Card(
            *key,
            parent.channel,
            "audit",
            slot=slot[:32],
            thread_ts=parent.ts,
            payload=json.dumps(payload),
        )
        with urgency(Rank.THREAD_LINE):
            return await self._delivery.post(line, payload, known)


def _names(found: tuple[Workflow, Request]) -> list[str]:
    workflow, request = found
    return request.reviewers(workflow)


def _item(due: Due, key: RequestKey) -> str:
    workflow, request = due.pending[key]
    return RoundupItem.of(request, workflow, due.policies.get(workflow.id)).to_json()


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:12]


def _group(reviewer: str, rows: Sequence[Followup]) -> str:
    """The same id for every try of the same reminders (a second try finds the first),
    another for the next reminder or one put off (their count or due time differ)."""
    parts = (f"{f.key}/{f.visit}/{f.sent}/{f.due_at}" for f in rows)
    return f"remind-{reviewer[:100]}-" + _digest(parts)
