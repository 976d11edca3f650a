"""Digests: what waits, once a day, instead of a message per request.

A person on "digest" gets one DM at their chosen local time listing every request that
waits on them, with the per-item buttons of a grouped DM; a channel given a daily
digest gets the summary of what waits per workflow. Both are roundups (bot.sync.roundups)
of kinds "digest" and "channel_digest": one message re-rendered as its requests change,
claimed like a card, so that a digest posted by a process that then died is found in
Slack rather than posted again.

The poller's instance sends them after a cycle, from what that cycle listed (no extra
Cflow call, however many people). The store hands each due digest to one instance
(`claim_digests`); its next run is set once it is out, and a failed or cut-off send is
taken again when the claim lapses. Its id comes from its due time, so a second try is
the same message, not another.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.blocks.roundup_items import RoundupItem
from bot.cflow import Request, Workflow
from bot.domain.hours import next_digest
from bot.outbound.directory import Directory
from bot.store.contracts import DigestStore, LinkStore, PolicyStore, RoundupStore
from bot.store.records import (
    ChannelDigest,
    Preference,
    RoundupKind,
    RoundupMember,
    WorkflowPolicy,
)
from bot.sync.results import Result
from bot.sync.roundups import Roundups, Shown
from bot.telemetry.metrics import Metrics

Policies = Mapping[str, WorkflowPolicy]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Listed = Sequence[tuple[Workflow, Sequence[Request]]]
HOLD = timedelta(minutes=5)  # how long one instance holds a digest it is sending
KEPT = timedelta(days=8)  # digests older than this are no longer re-rendered


class DigestsStore(DigestStore, LinkStore, RoundupStore, PolicyStore, Protocol):
    """What digests read and claim: who is linked, the digests due, the roundups they post."""


class Digests:
    def __init__(
        self,
        store: DigestsStore,
        roundups: Roundups,
        directory: Directory,
        *,
        channel_of: Callable[[], Awaitable[Callable[[str], str | None]]],
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._roundups = roundups
        self._directory = directory
        self._channel_of = channel_of
        self._clock = clock

    async def send_due(self, listed: Listed) -> int:
        """Send every digest due now, from `listed` (a cycle's pending requests); returns
        how many went out."""
        now = self._clock()
        people, channels = await self._store.claim_digests(now, now + HOLD)
        if not people and not channels:
            return 0
        pending = [(w, r) for w, requests in listed for r in requests if r.is_pending]
        policies = await self._store.policies_for({w.id for w, _ in pending})
        members = await self._people_members(people, pending, policies)
        members += await self._channel_members(channels, pending, policies)
        await self._store.add_roundup(members)
        shown = await self._roundups.publish({m.group_id for m in members}, self._directory.targets)
        sent = {m.group_id for m in members if _out(shown.get(m.group_id))}
        unsent = {m.group_id for m in members} - sent
        await self._store.digests_done(
            {p.slack_user_id: _next(p, now) for p in people if _group(p) not in unsent},
            {c.channel_id: _next_channel(c, now) for c in channels if _group(c) not in unsent},
        )
        log.info("Digests: %d sent, %d to try again", len(sent), len(unsent))
        self._metrics.digests.labels("sent").inc(len(sent))
        self._metrics.digests.labels("retry").inc(len(unsent))
        await self._store.forget_roundups(("digest", "channel_digest"), now - KEPT)
        return len(sent)

    async def send_now(self, reader: str, waiting: Iterable[tuple[Workflow, Request]]) -> Shown:
        """A digest of `waiting` for the Cflow user `reader`, asked for now."""
        group = f"digest-{reader}-{uuid.uuid4().hex[:8]}"
        waiting = list(waiting)
        policies = await self._store.policies_for({w.id for w, _ in waiting})
        members = [_member(group, "digest", reader, w, r, policies) for w, r in waiting]
        if not members:
            return Shown()
        await self._store.add_roundup(members)
        shown = await self._roundups.publish([group], self._directory.targets)
        return shown.get(group, Shown())

    async def _people_members(
        self,
        people: list[Preference],
        pending: list[tuple[Workflow, Request]],
        policies: Policies,
    ) -> list[RoundupMember]:
        waiting_on: dict[str, list[tuple[Workflow, Request]]] = defaultdict(list)
        for workflow, request in pending:
            for name in request.reviewers(workflow):
                waiting_on[name].append((workflow, request))
        linked = await self._store.slack_users_for_cflow_users(waiting_on)
        username = {user.slack_user_id: name for name, user in linked.items()}
        members = []
        for pref in people:
            reader = username.get(pref.slack_user_id)
            if pref.mode != "digest" or reader is None:
                continue  # no longer on digest, or nothing of theirs is pending
            group = _group(pref)
            members += [
                _member(group, "digest", reader, w, r, policies) for w, r in waiting_on[reader]
            ]
        return members

    async def _channel_members(
        self,
        channels: list[ChannelDigest],
        pending: list[tuple[Workflow, Request]],
        policies: Policies,
    ) -> list[RoundupMember]:
        """A channel's digest covers exactly the workflows whose cards go there: never
        another workflow's requests, even on a day when none of its own waits."""
        if not channels:
            return []
        channel_of = await self._channel_of()
        members = []
        for digest in channels:
            own = [(w, r) for w, r in pending if channel_of(w.id) == digest.channel_id]
            group = _group(digest)
            members += [
                _member(group, "channel_digest", digest.channel_id, w, r, policies) for w, r in own
            ]
        return members


def _member(
    group: str,
    kind: RoundupKind,
    target: str,
    workflow: Workflow,
    request: Request,
    policies: Policies,
) -> RoundupMember:
    item = RoundupItem.of(request, workflow, policies.get(workflow.id)).to_json()
    return RoundupMember(group, workflow.id, request.id, kind, target, item)


def _group(digest: Preference | ChannelDigest) -> str:
    """The same id for every try of one run: a second try finds the first one's post."""
    who = digest.slack_user_id if isinstance(digest, Preference) else digest.channel_id
    due = digest.next_run_at
    return f"digest-{who}-{due:%Y%m%dT%H%M}" if due else f"digest-{who}"


def _out(shown: Shown | None) -> bool:
    """Posted, or refused for good (not to be tried again): the run is over."""
    return shown is None or shown.result in (Result.DONE, Result.FAILED)


def _next(pref: Preference, now: datetime) -> datetime | None:
    return next_digest(pref, now) if pref.mode == "digest" else None


def _next_channel(digest: ChannelDigest, now: datetime) -> datetime:
    return next_digest(Preference(digest.channel_id, digest_at=digest.at, tz=digest.tz), now)
