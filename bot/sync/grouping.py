"""Grouping: which requests of a batch share one message (a roundup) rather than a card
and a DM each, and what that message shows of each of them. Pure: the recorder stores
the plan, the roundups module posts the messages.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from bot.blocks.roundup_items import RoundupItem
from bot.store.records import RequestKey, RoundupMember, WorkflowPolicy
from bot.sync.changes import Change, Event

GONE = "deleted"


def plan(
    events: Sequence[Event],
    channel_of: Callable[[str], str | None],
    limit: int,
    policies: Mapping[str, WorkflowPolicy],
) -> list[RoundupMember]:
    """The roundups of one cycle's burst: per channel its new requests, per reviewer the
    requests that reach them in this cycle, when they number more than `limit`."""
    by_channel: dict[str, list[Event]] = defaultdict(list)
    by_reviewer: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        obs = event.obs
        if not obs.request.is_pending or obs.decision is not None:
            continue
        if event.change is Change.RETRY:
            continue  # its event planned its roundups already: a retry finishes them
        channel = channel_of(obs.workflow.id)
        if event.change is Change.NEW and channel:
            by_channel[channel].append(event)
        if event.visit == event.seq:  # entered its stage now: its reviewers are told now
            for name in obs.request.reviewers(obs.workflow):
                by_reviewer[name].append(event)
    members = [
        _member(group, event, "channel", channel, policies)
        for channel, group_events in by_channel.items()
        if len(group_events) > limit
        for group in [uuid.uuid4().hex]
        for event in group_events
    ]
    members += [
        _member(group, event, "dm", name, policies)
        for name, group_events in by_reviewer.items()
        if len(group_events) > limit
        for group in [uuid.uuid4().hex]
        for event in group_events
    ]
    return members


def _member(
    group: str, event: Event, kind: str, target: str, policies: Mapping[str, WorkflowPolicy]
) -> RoundupMember:
    item = RoundupItem.of(
        event.obs.request, event.obs.workflow, policies.get(event.obs.workflow.id)
    )
    return RoundupMember(
        group_id=group,
        workflow_id=event.obs.workflow.id,
        request_id=event.obs.request.id,
        kind="channel" if kind == "channel" else "dm",
        target=target,
        item=item.to_json(),
        visit=event.visit,
    )


def grouped_in_channel(members: Iterable[RoundupMember], channel: str) -> bool:
    return any(m.kind == "channel" and m.target == channel for m in members)


def grouped_reviewers(members: Iterable[RoundupMember], visit: int) -> set[str]:
    """Reviewers whose DM for this visit of the stage is their roundup's."""
    return {m.target for m in members if m.kind == "dm" and m.visit == visit}


def current_items(
    events: Sequence[Event],
    roundups: Mapping[RequestKey, list[RoundupMember]],
    policies: Mapping[str, WorkflowPolicy],
) -> dict[RequestKey, str]:
    """What the roundups of these events' requests should now show of them."""
    items = {}
    for event in events:
        members = roundups.get(event.obs.key)
        if not members:
            continue
        obs = event.obs
        if obs.request.status == GONE:  # nothing left to read but the fact
            item = replace(RoundupItem.from_json(members[0].item), status=GONE)
        else:
            item = RoundupItem.of(obs.request, obs.workflow, policies.get(obs.workflow.id))
        items[obs.key] = item.to_json()
    return items
