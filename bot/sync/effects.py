"""What one change of a request does in Slack: each of its messages, on its own.

An `Event` (bot.sync.changes) becomes its Slack effects: the edits of the request's cards,
the reviewers' DMs and the channel card, the thread line, the submitter's outcome.
Each is delivered on its own (bot.sync.delivery), so one that fails never blocks or repeats
another, and each is served by Slack's pacing at its rank (bot.outbound.pacing): edits that take
buttons off first, then DMs, channel cards, thread lines. What the event leaves to
remember (`TrackedRequest`) says when a failed effect is to be tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.blocks.card import request_card
from bot.blocks.card_view import CardView
from bot.blocks.messages import audit_line, submitter_message
from bot.blocks.undo import pending_view
from bot.cflow import Request, Workflow
from bot.domain.hours import Reach, is_away, next_open, preference_for, reach, zone
from bot.domain.policy import channel_sees_reasons
from bot.outbound.pacing import Rank, urgency
from bot.store.records import Card, Decision, TrackedRequest, WorkflowPolicy
from bot.sync.changes import ANNOUNCED, Change, Event, Observation, retry_later
from bot.sync.delivery import Delivery, in_flight, updatable
from bot.sync.grouping import grouped_in_channel, grouped_reviewers
from bot.sync.loading import Batch
from bot.sync.results import Result, worst
from bot.sync.threads import ThreadReplies
from bot.sync.unfurls import MAX_KEPT_CURRENT, Unfurls
from bot.telemetry.logs import request_context

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class Held:
    """The DMs of one event held for their readers' quiet hours: when to look again."""

    def __init__(self) -> None:
        self.until: datetime | None = None

    def add(self, at: datetime) -> Result:
        self.until = at if self.until is None else min(self.until, at)
        return Result.LATER


class Effects:
    def __init__(
        self,
        delivery: Delivery,
        *,
        request_url: Callable[[str, str], str],
        default_channel: str | None,
        is_current: Callable[[Event], bool],
        clock: Clock,
        unfurls: Unfurls | None = None,
        threads: ThreadReplies | None = None,
    ) -> None:
        self._delivery = delivery
        self._unfurls = unfurls
        self._threads = threads
        self.request_url = request_url
        self.default_channel = default_channel
        self._is_current = is_current
        self._clock = clock

    def card_view(
        self,
        workflow: Workflow,
        request: Request,
        decisions: Sequence[Decision] = (),
        *,
        reader: str | None = None,
        notice: str | None = None,
        busy: str | None = None,
        policy: WorkflowPolicy | None = None,
        in_channel: bool = False,
    ) -> CardView:
        """What a card of this request shows now, under its workflow's `policy`; with
        `reader` (a Cflow username), with buttons only if they review its current stage
        (and the policy lets them decide it); `in_channel`, only what a channel may see."""
        return CardView(
            request=request,
            workflow=workflow,
            now=self._clock(),
            decisions=decisions,
            cflow_url=self.request_url(workflow.id, request.id),
            notice=notice,
            busy=busy,
            actionable=reader is None or reader in request.reviewers(workflow),
            policy=policy,
            reader=reader,
            in_channel=in_channel,
        )

    # Publishing one request

    async def publish(self, event: Event, batch: Batch) -> TrackedRequest:
        """Every Slack effect of `event`, each on its own; what to remember afterwards."""
        # No bound here: Slack's pacing (bot.outbound.pacing) decides what goes when, and a slow
        # message of one request must not hold another's back.
        held = Held()
        with _tagged(event.obs):
            results = await self._effects(event, batch, held)
        return self._remembered(event, worst(results), held)

    async def _effects(self, event: Event, batch: Batch, held: Held) -> list[Result]:
        """Edits first, then the reviewers' DMs and the channel card side by side (Slack's
        pacing serves DMs first), then what hangs off the card: its thread line."""
        obs, change = event.obs, event.change
        known = batch.cards.get(obs.key, [])
        edit = Rank.BUTTONS_OFF if change in ANNOUNCED else Rank.CHANNEL_CARD
        results = await self._at(edit, event, self.update_cards(event, batch))
        if change is Change.RETRY:
            unsettled = [c for c in known if c.is_one_off and c.ts is None and c.payload]
            results += await self._at(Rank.THREAD_LINE, event, self._settle_all(unsettled))
        if obs.request.is_pending:
            card, dms = await asyncio.gather(
                self._at(Rank.CHANNEL_CARD, event, self._post_channel_card(event, batch)),
                self._at(Rank.REVIEWER_DM, event, self._dm_reviewers(event, batch, held)),
            )
            results += [card, *dms]
        if change in ANNOUNCED:
            results.append(await self._at(Rank.THREAD_LINE, event, self._post_audit(event, batch)))
        # A retry of an ended request whose outcome DM waited for quiet hours (one that
        # was claimed is settled above, with the other one-off lines).
        waited = change is Change.RETRY and not obs.request.is_pending
        if waited:
            waited = not any(c.kind == "outcome" and c.slot == f"o{event.seq}" for c in known)
        if change is Change.FINAL or waited:
            notify = self._notify_submitter(event, batch, held)
            results.append(await self._at(Rank.THREAD_LINE, event, notify))
        if change in (Change.FINAL, Change.RETRY) and not obs.request.is_pending:
            results += await self._at(Rank.THREAD_LINE, event, self._settle_threads(event, batch))
        return results

    async def _settle_threads(self, event: Event, batch: Batch) -> list[Result]:
        """The replies in the threads of messages the request was made from, brought to
        its outcome (and who decided it, when that is known for certain)."""
        obs = event.obs
        threads = batch.threads.get(obs.key, [])
        if self._threads is None or not threads:
            return []
        decision = obs.decision or _deciding(batch.decisions.get(obs.key, []), obs)
        return await self._threads.settle(obs.workflow, obs.request, threads, decision)

    async def _settle_all(self, cards: Sequence[Card]) -> list[Result]:
        return list(await asyncio.gather(*(self._delivery.settle_one_off(c) for c in cards)))

    async def _at(self, rank: Rank, event: Event, work: Awaitable[Any]) -> Any:
        """Await `work` (not started yet) with its Slack calls served at `rank`, oldest
        request first, and skipped once a newer change supersedes `event`."""
        created = event.obs.request.created_at
        order = created.timestamp() if created else 0.0
        with urgency(rank, order, wanted=lambda: self._is_current(event)):
            return await work

    def _remembered(self, event: Event, result: Result, held: Held) -> TrackedRequest:
        tracked = event.obs.tracked(event.seq, event.visit)
        if result is Result.RETRY:
            return retry_later(event, tracked, self._clock())
        if result is Result.LATER and held.until is not None:
            log.info("DMs of %s wait for their readers until %s", event.obs.key, held.until)
            return replace(tracked, retry_at=held.until, attempts=0)
        return tracked

    async def _post_channel_card(self, event: Event, batch: Batch) -> Result:
        obs = event.obs
        channel = batch.channels.get(obs.workflow.id)  # None: not routed to a channel
        if not channel or grouped_in_channel(batch.roundups.get(obs.key, []), channel):
            return Result.DONE  # no channel, or its roundup's summary stands for the card
        card = Card(obs.workflow.id, obs.request.id, channel, "channel")
        return await self._delivery.post(
            card, self._payload(event, batch, card), batch.cards.get(obs.key, [])
        )

    async def _dm_reviewers(self, event: Event, batch: Batch, held: Held) -> list[Result]:
        obs, results, now = event.obs, [], self._clock()
        known = batch.cards.get(obs.key, [])
        grouped = grouped_reviewers(batch.roundups.get(obs.key, []), event.visit)
        final = obs.workflow.is_last_stage(obs.request.current_stage)
        for name in obs.request.reviewers(obs.workflow):
            if name in grouped:
                continue  # their grouped DM lists it
            target = batch.targets.get(name)
            if target is None:
                if name in batch.unreached:
                    results.append(Result.RETRY)  # a later try may find them
                continue
            pref = preference_for(batch.preferences, target.slack_user_id)
            told = reach(pref, now, waiting=True, final_stage=final)
            if told is Reach.NEVER:
                continue  # their digest lists it, or they want no DMs
            if told is Reach.LATER:
                results.append(held.add(next_open(pref, now)))
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

    async def update_cards(
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
            elif in_flight(card) and _posted_again(card, event):
                # Being posted (by the poller, as a click decides it): edit it once posted.
                results.append(Result.RETRY)
            elif in_flight(card):
                # Its request moved on: found in Slack and brought in line, never re-posted.
                payload = self._payload(event, batch, card, notice=notice, busy=busy)
                results.append(await self._delivery.settle_claim(card, payload))
        return results + await self._refresh_unfurls(event, batch, notice=notice, busy=busy)

    async def _refresh_unfurls(
        self, event: Event, batch: Batch, *, notice: str | None, busy: str | None
    ) -> list[Result]:
        """Each link preview of the request, re-sent as its channel card shows it now."""
        unfurls = batch.unfurls.get(event.obs.key, [])[-MAX_KEPT_CURRENT:]  # oldest first
        if self._unfurls is None or not unfurls:
            return []
        card = self.unfurl_card(event, batch, notice=notice, busy=busy)
        return [await self._unfurls.refresh(unfurl, card) for unfurl in unfurls]

    def unfurl_card(
        self, event: Event, batch: Batch, *, notice: str | None = None, busy: str | None = None
    ) -> dict[str, Any]:
        """What a link preview of the request shows: what its channel card shows."""
        obs = event.obs
        shown_as = Card(obs.workflow.id, obs.request.id, "", "channel")
        return self._payload(event, batch, shown_as, notice=notice, busy=busy)

    async def _post_audit(self, event: Event, batch: Batch) -> Result:
        """The event's one line in the channel card's thread."""
        obs = event.obs
        known = batch.cards.get(obs.key, [])
        parent = next((c for c in known if c.kind == "channel" and c.ts), None)
        if parent is None:
            return Result.DONE  # no channel card, no thread
        decision = obs.decision or self._observed_decision(event)
        policy = batch.policies.get(obs.workflow.id)
        shown = policy is None or channel_sees_reasons(policy)
        payload = {"text": audit_line(decision, decision.slack_user_id, with_comment=shown)}
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

    async def _notify_submitter(self, event: Event, batch: Batch, held: Held) -> Result:
        obs, now = event.obs, self._clock()
        target = batch.targets.get(obs.request.submitted_by or "")
        if target is None:
            return Result.DONE
        pref = preference_for(batch.preferences, target.slack_user_id)
        told = reach(pref, now, waiting=False)
        if told is Reach.NEVER:
            return Result.DONE
        if told is Reach.LATER:
            return held.add(next_open(pref, now))
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
        view = self.card_view(
            obs.workflow,
            obs.request,
            decisions,
            notice=notice,
            busy=busy,
            policy=batch.policies.get(obs.workflow.id),
            in_channel=card.kind == "channel",
        )
        view = replace(view, away=self._away(obs, batch))
        view = pending_view(view, batch.pending.get(obs.key, ()), self._clock())
        if card.kind == "dm":
            view = self._dm_view(view, card, event, batch)
        return request_card(view)

    def _away(self, obs: Observation, batch: Batch) -> tuple[tuple[str, str], ...]:
        """The reviewers of its stage who are away (whose requests wait for them)."""
        now, found = self._clock(), []
        for name in obs.request.reviewers(obs.workflow):
            target = batch.targets.get(name)
            pref = preference_for(batch.preferences, target.slack_user_id) if target else None
            if pref is not None and is_away(pref, now) and pref.away_until is not None:
                back = pref.away_until.astimezone(zone(pref.tz))
                found.append((name, f"{back - timedelta(days=1):%a %d %b}"))
        return tuple(found)

    def _dm_view(self, view: CardView, card: Card, event: Event, batch: Batch) -> CardView:
        """A DM keeps its buttons only while its reader is a reviewer of the current stage,
        and only the DM of this visit: an older one points to the newer message."""
        reviewers = event.obs.request.reviewers(event.obs.workflow)
        mine = [batch.targets[n] for n in reviewers if n in batch.targets]
        target = next((t for t in mine if t.slack_user_id == card.slack_user_id), None)
        if target is None or card.slot != event.dm_slot:
            return replace(view, actionable=False)
        view = replace(view, reader=target.cflow_username)
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


def _posted_again(card: Card, event: Event) -> bool:
    """Whether this event's own posts will settle `card` (the card of a pending request,
    or the DM of its current visit); any other claim is left to `settle_claim`."""
    if not event.obs.request.is_pending:
        return False
    return card.kind == "channel" or (card.kind == "dm" and card.slot == event.dm_slot)


def _tagged(obs: Observation) -> contextlib.AbstractContextManager[None]:
    return request_context(f"{obs.workflow.id}/{obs.request.id}")


def _deciding(decisions: Sequence[Decision], obs: Observation) -> Decision | None:
    """The decision the bot made that ended the request: of its outcome, at the stage
    it was last seen at; None when it ended otherwise (in Cflow's own app)."""
    stage = obs.previous.stage if obs.previous is not None else None
    last = _last(decisions)
    if last is None or last.action != obs.request.status or last.stage != stage:
        return None
    return last


def _last(decisions: Sequence[Decision]) -> Decision | None:
    return decisions[-1] if decisions else None
