"""Out of office: requests that reach someone who is away go to the person they chose.

While a reviewer is away with a delegate, each pending request waiting on them is
handed to the delegate in Cflow (`reassignTo`), with the away person's own link (they
set it up, so it is their act), through the same decision path as a click: the lock,
the stale check, every card and the thread updated. The delegate is followed while they
are away too, never back to someone already passed (A→B→A hands nothing) and never to
the bot's service account. Each hand-over is tried once per request, stage visit and
person, on one instance (a follow-up row claimed in the store). Without a delegate,
nothing is handed: their DMs and reminders wait (bot.hours) and the cards say so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from bot.cflow import Request, Workflow
from bot.decisions import Decider, Intent
from bot.errors import DecisionError
from bot.hours import is_away, zone
from bot.slack.ids import RequestRef, updated_mark
from bot.store.base import Followup, Link, Preference, Store

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Listed = Sequence[tuple[Workflow, Sequence[Request]]]


def final_delegate(person: Preference, away: Mapping[str, Preference], now: datetime) -> str | None:
    """Who `person`'s requests go to: their delegate, or that one's while they are away
    too, and so on; None when the chain comes back to someone already in it."""
    seen, chosen = {person.slack_user_id}, person.delegate
    while chosen is not None:
        if chosen in seen:
            return None
        theirs = away.get(chosen)
        if theirs is None or not is_away(theirs, now) or theirs.delegate is None:
            return chosen
        seen.add(chosen)
        chosen = theirs.delegate
    return None


class Delegations:
    def __init__(
        self, store: Store, decider: Decider, *, service_username: str, clock: Clock
    ) -> None:
        self._store = store
        self._decider = decider
        self._service = service_username
        self._clock = clock

    async def hand_over(self, listed: Listed) -> None:
        """Hand each request waiting on someone away to their delegate, in Cflow."""
        now = self._clock()
        away = {p.slack_user_id: p for p in await self._store.people_away(now)}
        if not away:
            return
        chains = {user: final_delegate(pref, away, now) for user, pref in away.items()}
        people = set(away) | {d for d in chains.values() if d}
        names = await self._store.cflow_users_for(people)
        to: dict[str, tuple[Preference, str]] = {}  # away Cflow username -> (them, delegate)
        for user, delegate in chains.items():
            name, their = names.get(user), names.get(delegate or "")
            if name and their and their not in (name, self._service):
                to[name] = (away[user], their)
        work = [
            (w, r, name)
            for w, requests in listed
            for r in requests
            if r.is_pending
            for name in r.reviewers(w)
            if name in to and to[name][1] not in r.reviewers(w)
        ]
        if work:
            tracked = await self._store.tracked_for((w.id, r.id) for w, r, _ in work)
            links: dict[str, Link | None] = {}  # one read per away person, not per request
            for workflow, request, name in work:
                known = tracked.get((workflow.id, request.id))
                visit = known.visit if known else 0
                person, delegate = to[name]
                if person.slack_user_id not in links:
                    links[person.slack_user_id] = await self._store.link_for(person.slack_user_id)
                link = links[person.slack_user_id]
                await self._one(workflow, request, name, visit, person, link, delegate, now)

    async def _one(
        self,
        workflow: Workflow,
        request: Request,
        name: str,
        visit: int,
        person: Preference,
        link: Link | None,
        delegate: str,
        now: datetime,
    ) -> None:
        if link is None or link.cflow_username != name:
            return
        mark = Followup(workflow.id, request.id, visit, "delegate", name, now, None, sent=1)
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
