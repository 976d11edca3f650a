"""How the store is asked for what it keeps: one small protocol per kind of data, and
`Store`, all of them, which every backend implements (SQLite and PostgreSQL, behind
`open_store()`).

A consumer declares only the protocols it uses, so a reader sees what it touches and a
test can hand it a small fake. Handlers and the poller never see a database driver.
Every method the poller calls takes or returns whole batches: a cycle makes a constant
number of queries however many requests Cflow holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from bot.store.records import (
    Card,
    ChannelDigest,
    Decision,
    Followup,
    Link,
    LinkedUser,
    LinkInfo,
    PendingDecision,
    PolicyChange,
    PollRun,
    Preference,
    Reencrypted,
    RequestKey,
    RequestThread,
    RoundupMember,
    StageVisit,
    Subscription,
    TrackedRequest,
    Unfurl,
    WorkflowPolicy,
    WorkflowRoute,
    WorkflowRules,
    WorkflowStep,
)


class LinkStore(Protocol):
    """Links: who is linked, their keys encrypted at rest."""

    async def save_link(self, link: Link) -> None: ...

    async def link_for(self, slack_user_id: str) -> Link | None: ...

    async def slack_users_for_cflow_users(self, usernames: Iterable[str]) -> dict[str, LinkedUser]:
        """Linked Slack users by Cflow username (one query, no key decrypted)."""

    async def cflow_users_for(self, slack_user_ids: Iterable[str]) -> dict[str, str]:
        """Cflow usernames by linked Slack user id (one query, no key decrypted)."""
        ...

    async def mark_key_refused(self, slack_user_id: str) -> None:
        """Cflow refused this person's key, or it no longer decrypts: until they link
        again, DMs invite them to relink instead of offering buttons that cannot work."""

    async def delete_link(self, slack_user_id: str) -> bool: ...

    async def list_links(self) -> list[LinkInfo]: ...

    async def reencrypt_links(self) -> Reencrypted: ...


class CardStore(Protocol):
    """Cards: each message posted for a request, claimed before it is posted."""

    async def claim_card(self, card: Card) -> bool:
        """Reserve (request, channel) before posting; False when someone already has."""

    async def confirm_card(self, card: Card, ts: str, *, channel: str | None = None) -> None:
        """Record the posted message's ts on a claimed card (and, when it landed in
        another channel than claimed, that channel)."""

    async def release_card(self, card: Card) -> None:
        """Drop a claim whose post failed, so a later cycle tries again."""

    async def fail_card(self, card: Card, reason: str) -> None:
        """Record that Slack refused this message for good (the claim stays, unposted);
        on a posted card, that its updates are refused."""

    async def failed_cards(self) -> list[Card]:
        """Messages Slack refused for good, oldest failure first (for `check`)."""

    async def cards_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Card]]:
        """Every card of each request (one query)."""


class UnfurlStore(Protocol):
    """Link previews of requests on people's messages, kept current like cards."""

    async def record_unfurl(self, unfurl: Unfurl) -> None:
        """Keep (or, shared again, keep as now) the preview of one link in one message."""

    async def unfurls_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Unfurl]]:
        """Every preview of each request still kept current (one query)."""

    async def fail_unfurl(self, unfurl: Unfurl, reason: str) -> None:
        """Slack refused a refresh for good (the message is gone): never sent again."""


class RoundupStore(Protocol):
    """Roundups: requests shown in one message (a summary, a grouped DM, a digest, a reminder)."""

    async def add_roundup(self, members: Iterable[RoundupMember]) -> None: ...

    async def roundups_for(
        self, keys: Iterable[RequestKey]
    ) -> dict[RequestKey, list[RoundupMember]]:
        """Every roundup these requests are in; every key present, [] when in none."""
        ...

    async def roundup_members(self, group_ids: Iterable[str]) -> dict[str, list[RoundupMember]]:
        """The members of these roundups, oldest request first."""
        ...

    async def update_roundup_items(self, items: dict[RequestKey, str]) -> None:
        """What each of these requests' roundups show of it now."""
        ...

    async def forget_roundups(self, kinds: Iterable[str], before: datetime) -> None:
        """Drop the members of roundups of these kinds made before `before`."""
        ...


class PreferenceStore(Protocol):
    """How and when each person is told."""

    async def preferences_for(self, slack_user_ids: Iterable[str]) -> dict[str, Preference]:
        """The stored preferences of these people (one query); absent: the defaults."""
        ...

    async def save_preference(self, preference: Preference) -> None: ...

    async def people_away(self, now: datetime) -> list[Preference]:
        """Everyone away at `now`."""
        ...


class DigestStore(Protocol):
    """Digests, each sent once across instances."""

    async def save_channel_digest(self, digest: ChannelDigest) -> None: ...

    async def drop_channel_digest(self, channel_id: str) -> bool: ...

    async def channel_digests(self) -> dict[str, ChannelDigest]: ...

    async def claim_digests(
        self, now: datetime, until: datetime
    ) -> tuple[list[Preference], list[ChannelDigest]]:
        """Take every digest due by `now` that nobody holds, until `until`: a digest
        taken here is taken by no other instance before it is done or `until` passes."""
        ...

    async def digests_done(
        self, people: dict[str, datetime | None], channels: dict[str, datetime | None]
    ) -> None:
        """Each digest's next run (None: no more), and its claim released."""
        ...


class HomeStore(Protocol):
    """Home tabs: who has opened theirs, and what they ticked on it."""

    async def home_opened(self, slack_user_id: str, at: datetime) -> None: ...

    async def home_selection(self, slack_user_id: str, selected: Iterable[str]) -> None:
        """What they have ticked now (request refs); kept across refreshes of the tab."""
        ...

    async def home_tabs_for(
        self, slack_user_ids: Iterable[str], since: datetime | None = None
    ) -> dict[str, tuple[str, ...]]:
        """Those of these people who opened their tab since `since`, with their ticks."""
        ...


class StageVisitStore(Protocol):
    """Stage visits: each request's stay at a stage (for stats and follow-ups)."""

    async def visits_entered(self, visits: Iterable[StageVisit]) -> None:
        """Record arrivals (a visit already recorded is left as it is)."""
        ...

    async def visits_left(self, ends: Iterable[StageVisit]) -> None:
        """Close each request's open visits other than `visit`, with its left_at,
        outcome and decided_by."""
        ...

    async def stage_visits(
        self, since: datetime, workflow_id: str | None = None
    ) -> list[StageVisit]:
        """Visits that ended since `since`, and every visit still open."""
        ...


class FollowupStore(Protocol):
    """Follow-ups of a stage visit: reminders, escalations, hand-overs, each sent once."""

    async def add_followups(self, followups: Iterable[Followup]) -> None:
        """Add these (one already there is left as it is)."""
        ...

    async def cancel_followups(self, keep: dict[RequestKey, int | None]) -> None:
        """Drop each request's follow-ups of visits other than its `keep` (None: all)."""
        ...

    async def claim_followups(self, now: datetime, until: datetime) -> list[Followup]:
        """Take every follow-up due by `now` that nobody holds, until `until`."""
        ...

    async def followups_done(self, followups: Iterable[Followup]) -> None:
        """Store each one's `sent` and `due_at`, and release its claim."""
        ...

    async def snooze_followups(
        self, keys: Iterable[RequestKey], reviewer: str, until: datetime
    ) -> int:
        """`reviewer`'s reminder of these requests comes again at `until` (the last one
        they had, put off); how many were put off."""
        ...

    async def followups_due(self, reviewer: str, now: datetime) -> None:
        """`reviewer`'s reminders put off past `now` are looked at again at `now`."""
        ...

    async def first_followup(self, followup: Followup) -> bool:
        """Add it unless it is there: True for the one caller that added it."""
        ...


class RuleStore(Protocol):
    """Per-workflow rules for follow-ups."""

    async def workflow_rules(self) -> dict[str, WorkflowRules]: ...

    async def save_workflow_rules(self, rules: WorkflowRules) -> None: ...


class PolicyStore(Protocol):
    """Each workflow's decision policy (bot.domain.policy), and the log of its changes."""

    async def policies_for(self, workflow_ids: Iterable[str]) -> dict[str, WorkflowPolicy]:
        """The stored policies of these workflows; a missing one has the defaults."""

    async def save_policy(self, policy: WorkflowPolicy, changes: Iterable[PolicyChange]) -> None:
        """Replace the workflow's policy and log `changes`, in one transaction."""

    async def policy_changes(
        self, workflow_id: str | None = None, since: datetime | None = None
    ) -> list[PolicyChange]:
        """The changes, oldest first (of one workflow, or of all; since a time)."""


class PendingStore(Protocol):
    """Decisions waiting out their undo window (bot.people.undo), each made once."""

    async def add_pending(self, pending: PendingDecision) -> PendingDecision:
        """Store it; as stored, with its id."""

    async def pending_for(
        self, keys: Iterable[RequestKey]
    ) -> dict[RequestKey, list[PendingDecision]]:
        """The pending decisions of these requests, claimed or not (one query)."""

    async def find_pending(
        self, *, pending_id: int | None = None, batch_id: str | None = None
    ) -> list[PendingDecision]:
        """The one of that id, or those of that batch."""

    async def cancel_pending(
        self, slack_user_id: str, *, pending_id: int | None = None, batch_id: str | None = None
    ) -> list[PendingDecision]:
        """Delete the one of that id (or those of that batch) that `slack_user_id` made
        and no instance has claimed yet: what was undone."""

    async def claim_pending(
        self, instance_id: str, now: datetime, alive_since: datetime
    ) -> list[PendingDecision]:
        """Take every pending decision due by `now` that nobody takes care of: unclaimed,
        claimed by `instance_id` itself, or by an instance with no beat since
        `alive_since`. A decision taken here is taken by no other live instance."""

    async def pending_done(self, pending_ids: Iterable[int]) -> None:
        """Made, refused or dropped: gone."""

    async def next_pending_due(self) -> datetime | None:
        """When the next unclaimed pending decision comes due (None: none waits)."""


class StepStore(Protocol):
    """Workflow Builder steps waiting for their request's outcome, each completed once."""

    async def add_step(self, step: WorkflowStep) -> WorkflowStep | None:
        """Store it (its token encrypted): as stored, with its id; None when that
        execution is stored already (Slack delivered its event twice)."""

    async def attach_request(self, step_id: int, request_id: str) -> None:
        """The request Cflow created for it."""

    async def step_for(self, function_execution_id: str) -> WorkflowStep | None: ...

    async def open_steps(self) -> list[WorkflowStep]:
        """Steps not completed yet, oldest first (a bounded number)."""

    async def open_steps_for(self, keys: Iterable[RequestKey]) -> list[WorkflowStep]:
        """The steps of these requests not completed yet (one query a chunk)."""

    async def claim_step(
        self, step_id: int, instance_id: str, now: datetime, alive_since: datetime
    ) -> WorkflowStep | None:
        """Take this open step unless a live instance (one that beat since `alive_since`)
        other than `instance_id` holds it: taken here, by no other live instance."""

    async def finish_step(self, step_id: int, outcome: str, at: datetime) -> None:
        """Completed, failed, or refused by Slack for good: never taken again."""

    async def release_steps(self, step_ids: Iterable[int], instance_id: str) -> None:
        """Slack could not be told for now: the next cycle takes them again."""

    async def reencrypt_steps(self) -> int:
        """Rewrap the open steps' tokens with the newest secret key: how many."""


class RouteStore(Protocol):
    """Where each workflow's cards go, and the channels subscribed to it."""

    async def workflow_routes(self) -> dict[str, WorkflowRoute]:
        """Every workflow's route (one query)."""
        ...

    async def add_workflow_routes(self, routes: Iterable[WorkflowRoute]) -> set[str]:
        """Add these unless a route is there: the workflow ids this caller added."""
        ...

    async def save_workflow_route(self, route: WorkflowRoute) -> None:
        """An admin's choice, replacing what was there."""
        ...

    async def subscribe(self, subscription: Subscription) -> None: ...

    async def unsubscribe(self, workflow_id: str) -> bool: ...

    async def subscriptions(self) -> dict[str, Subscription]: ...


class ThreadStore(Protocol):
    """Replies in the threads of the messages requests were made from (the shortcut)."""

    async def claim_thread(self, thread: RequestThread) -> bool:
        """Record it before it is posted: False when it was there already."""
        ...

    async def thread_posted(self, key: RequestKey, ts: str) -> None: ...

    async def thread_settled(self, key: RequestKey, outcome: str) -> None:
        """The reply shows how the request ended: it is not edited again."""

    async def drop_thread(self, key: RequestKey) -> None:
        """Slack refused the reply: nothing is left to keep current."""

    async def threads_for(
        self, keys: Iterable[RequestKey]
    ) -> dict[RequestKey, list[RequestThread]]:
        """The replies of these requests, every key present (one query per 500)."""
        ...


class HintStore(Protocol):
    """The hook's hints, for the polling instance."""

    async def add_hints(self, workflow_ids: Iterable[str]) -> None:
        """Workflows the polling instance should read now ("*": every one)."""
        ...

    async def take_hints(self) -> set[str]:
        """The hints left so far, taken (each by one caller)."""
        ...


class InstanceStore(Protocol):
    """Heartbeats: which instances are alive."""

    async def beat(self, instance_id: str, at: datetime) -> None:
        """This instance is alive at `at`."""
        ...

    async def live_instances(self, since: datetime) -> set[str]:
        """The instances that beat since `since`."""
        ...

    async def forget_instance(self, instance_id: str) -> None:
        """A clean stop: what it leaves is taken over at once, not when it would age."""
        ...


class TrackingStore(Protocol):
    """Tracked requests (the poller's memory) and the decisions made on them."""

    async def tracked(self) -> dict[RequestKey, TrackedRequest]:
        """Pending requests, and others with a retry due (finished ones stay, unlisted)."""

    async def save_tracked(self, requests: Iterable[TrackedRequest]) -> None:
        """Upsert a batch."""

    async def tracked_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, TrackedRequest]:
        """What was last published about these requests (one query)."""

    async def forget(self, keys: Iterable[RequestKey]) -> None: ...

    async def record_decision(self, decision: Decision) -> None: ...

    async def decisions_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Decision]]:
        """Decisions of each request, oldest first (one query)."""


class LockStore(Protocol):
    """Cross-process locks (double clicks, the single poller)."""

    async def try_lock(self, name: str, holder: str, ttl: float) -> bool:
        """Take `name` for `ttl` seconds unless another holder has it and it has not expired."""

    async def held_locks(self, names: Iterable[str]) -> set[str]:
        """Which of `names` are held now (one query)."""

    async def lock_holder(self, name: str) -> str | None:
        """Who holds `name` now (None when free or expired)."""

    async def unlock(self, name: str, holder: str) -> None: ...


class PollRunStore(Protocol):
    """The poller's last cycle, for /healthz."""

    async def save_poll_run(self, run: PollRun) -> None: ...

    async def last_poll_run(self) -> PollRun | None: ...


class Store(
    LinkStore,
    CardStore,
    UnfurlStore,
    RoundupStore,
    PreferenceStore,
    DigestStore,
    HomeStore,
    StageVisitStore,
    FollowupStore,
    RuleStore,
    PolicyStore,
    PendingStore,
    StepStore,
    RouteStore,
    ThreadStore,
    HintStore,
    InstanceStore,
    TrackingStore,
    LockStore,
    PollRunStore,
    Protocol,
):
    """Everything the store keeps, as one backend implements it."""

    async def init(self) -> None:
        """Connect, and create or migrate the schema (safe to run from two processes)."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the database answers (for /healthz)."""
