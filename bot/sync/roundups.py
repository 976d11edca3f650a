"""Roundups: one message that stands for many requests, kept current as they change.

A burst of new requests (a first start on an account with a backlog, a bulk import)
would otherwise post a card per request into one channel (Slack takes about one a
second there) and a DM per request to each reviewer. When one cycle has more than the
burst limit for a channel or a reviewer, those requests become the members of a
roundup instead (bot.sync.grouping): their channel cards and DMs are left out, and one message
stands for them (a summary in the channel, a grouped DM), re-rendered from the members'
current state whenever one of them changes (`Roundups.publish`). The members stay
tracked like any request: decided in Cflow, their roundup says so and their submitter
is told. Digests and reminders are roundups too (bot.followups), of their own kinds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.blocks.roundup_items import RoundupItem
from bot.blocks.roundups import grouped_dm, summary_message
from bot.domain.hours import Reach, next_open, preference_for, reach
from bot.outbound.directory import SlackTarget
from bot.outbound.pacing import Rank, urgency
from bot.store.contracts import CardStore, PreferenceStore, RoundupStore
from bot.store.records import LEGACY_ROUNDUP, ROUNDUP, Card, Preference, RoundupMember
from bot.sync.delivery import Delivery, updatable
from bot.sync.results import Result, worst

log = logging.getLogger(__name__)
GONE = "deleted"
DIGESTS = frozenset({"digest", "channel_digest"})  # what waits, not what just arrived
CHANNEL_KINDS = frozenset({"channel", "channel_digest"})
Clock = Callable[[], datetime]


class RoundupsStore(CardStore, PreferenceStore, RoundupStore, Protocol):
    """What a roundup's message needs: its members, the cards posted for it, its readers'
    preferences."""


def _is_dm(member: RoundupMember) -> bool:
    return member.kind not in CHANNEL_KINDS


@dataclass(frozen=True)
class Readers:
    """The people a batch of grouped DMs goes to: their Slack, and their preferences."""

    targets: Mapping[str, SlackTarget]  # by Cflow username
    preferences: Mapping[str, Preference]  # by Slack user id


@dataclass(frozen=True)
class Shown:
    """How bringing one roundup's message in line went; LATER: held until `until`."""

    result: Result = Result.DONE
    until: datetime | None = None


class Roundups:
    """Posts and re-renders roundups' messages, one at a time per roundup."""

    def __init__(self, store: RoundupsStore, delivery: Delivery, clock: Clock) -> None:
        self._store = store
        self._delivery = delivery
        self._clock = clock
        self._turns: dict[str, asyncio.Lock] = {}
        self._queued: set[str] = set()

    async def publish(
        self, groups: Iterable[str], targets: Callable[[Iterable[str]], Any]
    ) -> dict[str, Shown]:
        """Bring each roundup's message in line with its members (posted if it is not yet);
        `targets` resolves Cflow usernames to Slack (`Directory.targets`)."""
        wanted = [g for g in dict.fromkeys(groups) if g not in self._queued]
        if not wanted:
            return {}
        # A later call finds these queued and leaves them: this one renders them last.
        self._queued.update(wanted)
        try:
            members = await self._store.roundup_members(wanted)
            names = {ms[0].target for ms in members.values() if ms and _is_dm(ms[0])}
            found = (await targets(names)).found if names else {}
            readers = Readers(found, await self._readers_preferences(found))
        except BaseException:
            self._queued.difference_update(wanted)
            raise
        results = await asyncio.gather(*(self._one(group, readers) for group in wanted))
        return dict(zip(wanted, results, strict=True))

    async def _readers_preferences(
        self, targets: Mapping[str, SlackTarget]
    ) -> dict[str, Preference]:
        if not targets:
            return {}
        return await self._store.preferences_for(t.slack_user_id for t in targets.values())

    async def _one(self, group: str, readers: Readers) -> Shown:
        lock = self._turns.setdefault(group, asyncio.Lock())
        async with lock:
            # Read once its turn has come (two queries a roundup, not a request): the newest
            # state is what gets shown, and a change from now on renders it again.
            self._queued.discard(group)
            members = (await self._store.roundup_members([group]))[group]
            known = await self._cards_of(group)
            shown = await self._show(group, members, known, readers) if members else Shown()
        if not lock.locked() and group not in self._queued:
            self._turns.pop(group, None)
        return shown

    async def _cards_of(self, group: str) -> list[Card]:
        """The roundup's message, under today's sentinel or (claimed by a release before
        0008 while a rolling deploy replaced it) the old one."""
        keys = [(ROUNDUP, group), (LEGACY_ROUNDUP, group)]
        found = await self._store.cards_for(keys)
        return [card for key in keys for card in found[key]]

    async def _show(
        self,
        group: str,
        members: list[RoundupMember],
        known: list[Card],
        readers: Readers,
    ) -> Shown:
        items = [RoundupItem.from_json(m.item) for m in members]
        first, now = members[0], self._clock()
        digest = first.kind in DIGESTS
        target = readers.targets.get(first.target)
        if first.kind in CHANNEL_KINDS:
            payload = summary_message(items, group_id=group, now=now, digest=digest)
            card = Card(ROUNDUP, group, first.target, "roundup")
        else:
            if target is None:
                return Shown()  # nobody in Slack to tell (as for a DM of their own)
            payload = grouped_dm(
                items,
                reader=first.target,
                group_id=group,
                now=now,
                linked=target.linked,
                key_works=target.key_works,
                digest=digest,
                reminder=first.kind == "reminder",
            )
            card = Card(ROUNDUP, group, "", "roundup_dm", slack_user_id=target.slack_user_id)
        posted = [c for c in known if updatable(c)]
        if posted:  # an edit notifies nobody: it goes at any hour
            with urgency(Rank.THREAD_LINE):
                return Shown(worst([await self._delivery.update(c, payload) for c in posted]))
        if card.kind == "roundup":
            with urgency(Rank.CHANNEL_CARD):
                return Shown(await self._delivery.post(card, payload, known))
        if target is not None and not digest:  # a digest comes when asked, or when open
            pref = preference_for(readers.preferences, target.slack_user_id)
            told = reach(pref, now, waiting=True)
            if told is Reach.NEVER:
                return Shown()  # their digest lists these, or they want no DMs
            if told is Reach.LATER:
                return Shown(Result.LATER, next_open(pref, now))
        with urgency(Rank.REVIEWER_DM):
            result, _ = await self._delivery.post_dm(card, payload, known)
        return Shown(result)
