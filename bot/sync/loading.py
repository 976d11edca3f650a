"""Loading: everything one batch of events needs from the store and the directory, in a
constant number of queries however many requests it holds, before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.outbound.directory import Directory, SlackTarget
from bot.store.contracts import (
    CardStore,
    PendingStore,
    PolicyStore,
    PreferenceStore,
    RoundupStore,
    RouteStore,
    ThreadStore,
    TrackingStore,
    UnfurlStore,
)
from bot.store.records import (
    Card,
    Decision,
    PendingDecision,
    Preference,
    RequestKey,
    RequestThread,
    RoundupMember,
    Unfurl,
    WorkflowPolicy,
)
from bot.sync.changes import Observation
from bot.sync.routes import channel_lookup


class LoadingStore(
    CardStore,
    TrackingStore,
    RoundupStore,
    PreferenceStore,
    RouteStore,
    PolicyStore,
    PendingStore,
    UnfurlStore,
    ThreadStore,
    Protocol,
):
    """What a batch reads: cards, decisions, roundups, preferences, routes, policies, and
    the decisions waiting out their undo window."""


@dataclass
class Batch:
    """What one sync needs, loaded once for every request in it."""

    cards: dict[RequestKey, list[Card]]
    decisions: dict[RequestKey, list[Decision]]
    channels: dict[str, str | None]  # workflow id -> its channel (None: none)
    targets: dict[str, SlackTarget]  # cflow username -> Slack
    unreached: frozenset[str] = frozenset()  # their lookup failed for now: DM them later
    roundups: dict[RequestKey, list[RoundupMember]] = field(default_factory=dict)
    preferences: dict[str, Preference] = field(default_factory=dict)  # by Slack user id
    policies: dict[str, WorkflowPolicy] = field(default_factory=dict)  # by workflow id
    # Decisions in their undo window: their cards show it (bot.blocks.undo.pending_view)
    pending: dict[RequestKey, list[PendingDecision]] = field(default_factory=dict)
    # Link previews of the requests on people's messages, kept current like cards
    unfurls: dict[RequestKey, list[Unfurl]] = field(default_factory=dict)
    # Replies in the threads of messages requests were made from (bot.sync.threads)
    threads: dict[RequestKey, list[RequestThread]] = field(default_factory=dict)


class Loader:
    def __init__(
        self, store: LoadingStore, directory: Directory, default_channel: str | None
    ) -> None:
        self._store = store
        self._directory = directory
        self._default_channel = default_channel

    async def load(self, observations: Sequence[Observation]) -> Batch:
        keys = [obs.key for obs in observations]
        people = {name for obs in observations for name in obs.request.reviewers(obs.workflow)}
        people |= {obs.request.submitted_by for obs in observations if obs.request.submitted_by}
        # Those a change takes a request from: their Home tabs change too.
        people |= {n for obs in observations if obs.previous for n in obs.previous.reviewers}
        channel_of = await channel_lookup(self._store, self._default_channel)
        channels = {obs.workflow.id: channel_of(obs.workflow.id) for obs in observations}
        reach = await self._directory.targets(people)
        readers = [target.slack_user_id for target in reach.found.values()]
        return Batch(
            cards=await self._store.cards_for(keys),
            decisions=await self._store.decisions_for(keys),
            channels=channels,
            targets=reach.found,
            unreached=reach.unknown,
            roundups=await self._store.roundups_for(keys),
            preferences=await self._store.preferences_for(readers),
            policies=await self._store.policies_for(channels.keys()),  # by workflow id
            pending=await self._store.pending_for(keys),
            unfurls=await self._store.unfurls_for(keys),
            threads=await self._store.threads_for(keys),
        )
