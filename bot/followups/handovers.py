"""Out of office: requests that reach someone who is away go to the person they chose.

While a reviewer is away with a delegate, each pending request waiting on them is
handed to that delegate in Cflow (`reassignTo`), with the away person's own link (they
set it up, so it is their act), through the same decision path as a click: the lock,
the stale check, every card and the thread updated. Only the delegate they named, and
only as things stand when the hand-over is made: linked, not the bot's service account,
not the request's submitter, and not away themselves. Chains are never followed (a
delegate's own delegate is someone the first person never chose). A request that cannot
be handed waits for its reviewer like one without a delegate (bot.domain.hours), and the away
person's DM says why, once per stage visit. Each hand-over is tried once per request,
stage visit and person, on one instance (a follow-up row claimed in the store).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.blocks.text import escape
from bot.cflow import Request, Workflow
from bot.domain.access import among, same_user
from bot.domain.errors import DecisionError
from bot.domain.hours import is_away, zone
from bot.domain.refs import RequestRef, updated_mark
from bot.outbound.pacing import Rank, urgency
from bot.people.decisions import Decider, Intent
from bot.store.contracts import CardStore, FollowupStore, LinkStore, PreferenceStore, TrackingStore
from bot.store.records import Card, Followup, Link, Preference
from bot.sync.delivery import Delivery
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Listed = Sequence[tuple[Workflow, Sequence[Request]]]


class HandoversStore(CardStore, FollowupStore, LinkStore, PreferenceStore, TrackingStore, Protocol):
    """What a hand-over reads and records: the away reviewer's link and preferences, the
    request's cards and follow-ups."""


@dataclass(frozen=True)
class Chosen:
    """An away reviewer and the delegate they named, as things stand now. `blocked` says
    why that delegate cannot take anything now (None: they can)."""

    person: Preference
    name: str  # the away person's Cflow username
    delegate: str | None  # the delegate's Cflow username, when they are linked
    blocked: str | None


def delegate_problem(
    person: Preference,
    names: Mapping[str, str],
    away: Mapping[str, Preference],
    service_username: str,
    now: datetime,
) -> str | None:
    """Why `person`'s delegate cannot take their requests now; None when they can."""
    chosen = person.delegate or ""
    mention = f"<@{chosen}>"
    theirs = away.get(chosen)
    if chosen not in names:
        return f"{mention} has no linked Cflow account"
    if same_user(names[chosen], service_username) or chosen == person.slack_user_id:
        return f"{mention} cannot take requests"
    if theirs is not None and is_away(theirs, now) and theirs.away_until is not None:
        back = theirs.away_until.astimezone(zone(theirs.tz))
        return f"{mention} is away too (back {back:%a %d %b})"
    return None


def hand_over_problem(chosen: Chosen, request: Request) -> str | None:
    """Why this request cannot go to the delegate; None when it can."""
    if chosen.blocked is not None:
        return chosen.blocked
    if same_user(chosen.delegate, request.submitted_by):
        return f"<@{chosen.person.delegate}> submitted it, and nobody decides their own request"
    return None


def held_line(workflow: Workflow, request: Request, why: str) -> str:
    name = f"*{escape(workflow.label)} #{escape(request.id)}*"
    return (
        f"🕓 {name} waits for you: it was not handed on because {why}. Name someone else "
        "with `/cflow away until YYYY-MM-DD to @person`, or it waits until you are back."
    )


class Handovers:
    def __init__(
        self,
        store: HandoversStore,
        decider: Decider,
        delivery: Delivery,
        *,
        service_username: str,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._store = store
        self._decider = decider
        self._delivery = delivery
        self._service = service_username
        self._metrics = metrics
        self._clock = clock

    async def hand_over(self, listed: Listed) -> None:
        """Hand each request waiting on someone away to the delegate they named, in
        Cflow; tell them of each that cannot be."""
        now = self._clock()
        away = {p.slack_user_id: p for p in await self._store.people_away(now)}
        named = [p for p in away.values() if p.delegate]
        if not named:
            return
        people = {p.slack_user_id for p in named} | {p.delegate or "" for p in named}
        names = await self._store.cflow_users_for(people)
        chosen = {
            names[p.slack_user_id]: Chosen(
                p,
                names[p.slack_user_id],
                names.get(p.delegate or ""),
                delegate_problem(p, names, away, self._service, now),
            )
            for p in named
            if p.slack_user_id in names
        }
        work = [
            (w, r, chosen[name])
            for w, requests in listed
            for r in requests
            if r.is_pending
            for name in r.reviewers(w)
            if name in chosen and not among(chosen[name].delegate, r.reviewers(w))
        ]
        if not work:
            return
        tracked = await self._store.tracked_for((w.id, r.id) for w, r, _ in work)
        held: list[tuple[Workflow, Request, Chosen, int, str]] = []
        links: dict[str, Link | None] = {}  # one read per away person, not per request
        for workflow, request, one in work:
            known = tracked.get((workflow.id, request.id))
            visit = known.visit if known else 0
            problem = hand_over_problem(one, request)
            if problem is not None:
                held.append((workflow, request, one, visit, problem))
                continue
            user = one.person.slack_user_id
            if user not in links:
                links[user] = await self._store.link_for(user)
            await self._one(workflow, request, visit, one, links[user], now)
        await self._tell_held(held)

    async def _one(
        self,
        workflow: Workflow,
        request: Request,
        visit: int,
        chosen: Chosen,
        link: Link | None,
        now: datetime,
    ) -> None:
        name, person, delegate = chosen.name, chosen.person, chosen.delegate
        if link is None or link.cflow_username != name or delegate is None:
            return
        mark = Followup(workflow.id, request.id, visit, "handover", name, now, None, sent=1)
        if not await self._store.first_followup(mark):
            return  # tried already, here or on another instance
        assert person.away_until is not None
        last_day = (person.away_until.astimezone(zone(person.tz)) - timedelta(days=1)).date()
        ref = RequestRef(
            workflow_id=workflow.id,
            request_id=request.id,
            stage=request.current_stage,
            updated=updated_mark(request.updated_at),
        )
        why = f"Handed to {delegate} for {name} (away until {last_day:%a %d %b})"
        intent = Intent(ref, "approve", comment=why, reassign_to=delegate)
        try:
            await self._decider.decide(person.slack_user_id, link, intent)
        except DecisionError as error:
            log.warning("Could not hand %s/%s to %s: %s", workflow.id, request.id, delegate, error)
        else:
            self._metrics.followups.labels("handover", "handed").inc()

    async def _tell_held(self, held: Sequence[tuple[Workflow, Request, Chosen, int, str]]) -> None:
        """One DM line per request and stage visit that waits (a card claimed in the
        store, so a second run, here or elsewhere, finds it instead of posting again)."""
        if not held:
            return
        known = await self._store.cards_for((w.id, r.id) for w, r, *_ in held)
        for workflow, request, chosen, visit, why in held:
            payload = {"text": held_line(workflow, request, why)}
            card = Card(
                workflow.id,
                request.id,
                "",
                "outcome",
                slack_user_id=chosen.person.slack_user_id,
                slot=f"h{visit}",
                payload=json.dumps(payload),
            )
            with urgency(Rank.THREAD_LINE):
                await self._delivery.post_dm(card, payload, known.get(card.key, []))
