"""The store's contract: domain records and the async interface every backend implements.

Handlers and the poller depend on `Store` only, never on a database driver, so SQLite
(the default) and PostgreSQL (production) are interchangeable behind `open_store()`.
Every method that the poller calls takes or returns whole batches: a cycle makes a
constant number of queries however many requests Cflow holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pydantic import SecretStr

RequestKey = tuple[str, str]  # (workflow id, request id)


def request_lock(key: RequestKey) -> str:
    """The lock a decision on this request holds while it is being made."""
    return f"request:{key[0]}:{key[1]}"


# "outcome": the one message telling a submitter how their request ended, and "audit":
# one line in the channel card's thread per event; both are posted once, never updated.
# "roundup" and "roundup_dm": a roundup's own message in a channel, or in a DM.
CardKind = Literal["channel", "dm", "outcome", "audit", "roundup", "roundup_dm"]
ONE_OFF_KINDS = frozenset({"outcome", "audit"})
# What releases before 0008 stored ("burst" named roundups then): read as the new words,
# since a message posted then carries them in its metadata for good, and an instance of
# such a release may still write them while a rolling deploy replaces it.
LEGACY_CARD_KINDS: dict[str, CardKind] = {"burst": "roundup", "burst_dm": "roundup_dm"}


@dataclass(frozen=True)
class Link:
    """A Slack user's Cflow identity; `user_key` is decrypted only in memory."""

    slack_user_id: str
    cflow_username: str
    user_key: SecretStr
    linked_by: str | None = None  # the admin who provisioned it, None when self-linked
    linked_at: datetime | None = None
    key_refused_at: datetime | None = None  # Cflow refused the key: DMs invite to relink


@dataclass(frozen=True)
class LinkInfo:
    """A link as an admin sees it: never the key, only whether it can still be read."""

    slack_user_id: str
    cflow_username: str
    linked_by: str | None
    linked_at: datetime
    key_refused_at: datetime | None
    readable: bool


@dataclass(frozen=True)
class LinkedUser:
    """The Slack user a Cflow user is linked to, and whether their key still works."""

    slack_user_id: str
    key_works: bool = True


@dataclass(frozen=True)
class Reencrypted:
    """What `reencrypt_links` did: rows rewrapped, and those no key can read."""

    rewrapped: int
    unreadable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Card:
    """One Slack message about a request. `ts` is None while the post is in flight, or
    for good once `failure` says why Slack refused it."""

    workflow_id: str
    request_id: str
    channel: str
    kind: CardKind
    ts: str | None = None
    slack_user_id: str | None = None  # the DM's recipient
    created_at: datetime | None = None
    slot: str = ""  # see bot.store.schema.cards
    payload: str | None = None  # a one-off line's text (JSON), to retry a failed post
    thread_ts: str | None = None
    failure: str | None = None
    failed_at: datetime | None = None
    claimed_by: str | None = None  # the instance that claimed it (None: before 0006)

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)

    @property
    def is_one_off(self) -> bool:
        return self.kind in ONE_OFF_KINDS


ROUNDUP = "~roundup"  # the workflow id of a roundup's own message in the cards
LEGACY_ROUNDUP = "~burst"  # the same, as releases before 0008 stored (and still label) it
# A roundup is one message that stands for many requests: a spike of new requests (a
# burst: a channel's summary, a reviewer's grouped DM), a digest of what waits (a
# person's daily DM, a channel's daily summary) or a reviewer's reminder of what has
# waited too long.
RoundupKind = Literal["channel", "dm", "digest", "channel_digest", "reminder"]
NotifyMode = Literal["each", "digest", "off"]
EVERY_DAY = "1234567"  # ISO weekdays, Monday = 1


@dataclass(frozen=True)
class RoundupMember:
    """A request shown in a roundup's one message instead of a card or DM of its own.

    A roundup is the rows sharing `group_id`: a channel's summary (`target` is the channel)
    or one reviewer's grouped DM (`target` is their Cflow username, for stage `visit`).
    `item` is what the message shows of the request (JSON), kept current as it changes.
    """

    group_id: str
    workflow_id: str
    request_id: str
    kind: RoundupKind
    target: str
    item: str
    visit: int = 0
    created_at: datetime | None = None

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)


@dataclass(frozen=True)
class Preference:
    """How and when one Slack user wants to be told (the defaults: a DM per request, any
    time). Times are minutes after midnight in their Slack time zone `tz`.

    `next_run_at` is their next digest (mode "digest"); `claimed_until` is set while one
    instance sends it, so that it goes out once however many instances run.
    """

    slack_user_id: str
    mode: NotifyMode = "each"
    digest_at: int = 9 * 60
    final_dms: bool = False  # on "digest": still a DM for a request at its last stage
    quiet_from: int | None = None
    quiet_to: int | None = None
    work_days: str = EVERY_DAY
    tz: str = "UTC"
    next_run_at: datetime | None = None
    claimed_until: datetime | None = None
    away_until: datetime | None = None  # out of office until then (nothing reaches them)
    delegate: str | None = None  # the Slack user their requests go to while away


@dataclass(frozen=True)
class ChannelDigest:
    """A channel's daily summary of what waits, at `at` (minutes) in zone `tz`."""

    channel_id: str
    at: int
    tz: str
    created_by: str | None = None
    next_run_at: datetime | None = None
    claimed_until: datetime | None = None


# A follow-up: a reviewer's reminder, the request's escalation, or its hand-over to an
# away reviewer's delegate (the nouns of the README's glossary).
FollowupKind = Literal["reminder", "escalation", "handover"]
# What releases before 0008 stored, read as the new words (an instance of such a release
# may still write them while a rolling deploy replaces it).
LEGACY_FOLLOWUP_KINDS: dict[str, FollowupKind] = {
    "remind": "reminder",
    "escalate": "escalation",
    "delegate": "handover",
}


@dataclass(frozen=True)
class StageVisit:
    """A request's stay at one stage, as the bot saw it: when it arrived, when and how it
    left (`outcome`: approved, rejected, moved, deleted …). Kept for `/cflow stats`."""

    workflow_id: str
    request_id: str
    visit: int  # the event that brought it there (TrackedRequest.visit)
    workflow_name: str
    stage: str | None
    stage_name: str | None
    reviewers: tuple[str, ...]
    arrived_at: datetime
    submitted_by: str | None = None
    title: str | None = None
    left_at: datetime | None = None
    outcome: str | None = None
    decided_by: str | None = None  # the Cflow user, when the bot knows

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)


@dataclass(frozen=True)
class Followup:
    """Something to do about a request that waits at a stage, when it is due: remind a
    reviewer, escalate, or hand it to an away reviewer's delegate. `sent` counts the
    reminders already sent; `due_at` None: nothing more to do."""

    workflow_id: str
    request_id: str
    visit: int
    kind: FollowupKind
    reviewer: str  # the Cflow username; "" for an escalation
    arrived_at: datetime
    due_at: datetime | None
    sent: int = 0
    claimed_until: datetime | None = None
    sent_at: datetime | None = None  # the last reminder (the next counts from it)

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)


@dataclass(frozen=True)
class WorkflowRules:
    """A workflow's own reminder and escalation times (hours; None: the settings', 0:
    never) and who an escalation calls on (Slack mentions: <@U…>, <!subteam^S…>)."""

    workflow_id: str
    remind_after: float | None = None
    escalate_after: float | None = None
    escalate_to: tuple[str, ...] = ()
    updated_by: str | None = None


@dataclass(frozen=True)
class TrackedRequest:
    """What the bot last published about a request; the poller diffs Cflow against it.

    `seq` counts the events published (each names its one-off messages); `visit` is the
    event that brought the request to its current stage (each visit DMs its reviewers
    anew); `retry_at` is set while some Slack effect of the last event failed for now.
    """

    workflow_id: str
    request_id: str
    status: str
    stage: str | None
    reviewers: tuple[str, ...] = ()
    updated_at: datetime | None = None
    seq: int = 0
    visit: int = 0
    retry_at: datetime | None = None
    attempts: int = 0
    owner: str | None = None  # the instance delivering its last event

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)


@dataclass(frozen=True)
class Decision:
    """Who did what to a request, as far as the bot knows (its own actions, and Cflow's)."""

    workflow_id: str
    request_id: str
    stage: str | None  # stage id or name the decision was made at
    action: str  # approved | rejected | reassigned | moved | final
    cflow_username: str | None
    at: datetime
    slack_user_id: str | None = None
    comment: str | None = None
    reassigned_to: str | None = None


@dataclass(frozen=True)
class Subscription:
    workflow_id: str
    channel_id: str
    created_by: str | None = None
    created_at: datetime | None = None


RouteKind = Literal["default", "channel", "dms", "pending"]


@dataclass(frozen=True)
class WorkflowRoute:
    """Where an admin chose a workflow's cards to go: `CFLOW_NOTIFY_CHANNEL` ("default"),
    the channel of its subscription ("channel"), no channel at all ("dms"), or not chosen
    yet ("pending": a workflow first seen after the bot's first cycle)."""

    workflow_id: str
    route: RouteKind
    name: str = ""  # the workflow's name when it was first seen (for the admins' DMs)
    first_seen_at: datetime | None = None
    set_by: str | None = None  # the admin who chose; None: adopted at the first cycle
    set_at: datetime | None = None


@dataclass(frozen=True)
class PollRun:
    """The poller's last cycle, for /healthz."""

    started_at: datetime
    duration: float
    workflows: int = 0
    pending: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)


class Store(Protocol):
    """Async storage for links, cards, tracked requests, decisions, subscriptions, locks."""

    async def init(self) -> None:
        """Connect, and create or migrate the schema (safe to run from two processes)."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the database answers (for /healthz)."""

    # Links (user keys are encrypted at rest)
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

    # Cards
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

    # Roundups: requests shown in one message (a summary, a grouped DM, a digest, a reminder)
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

    # How people are told, and the digests (sent once across instances)
    async def preferences_for(self, slack_user_ids: Iterable[str]) -> dict[str, Preference]:
        """The stored preferences of these people (one query); absent: the defaults."""
        ...

    async def save_preference(self, preference: Preference) -> None: ...
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

    # Home tabs: who has opened theirs, and what they ticked on it
    async def home_opened(self, slack_user_id: str, at: datetime) -> None: ...
    async def home_selection(self, slack_user_id: str, selected: Iterable[str]) -> None:
        """What they have ticked now (request refs); kept across refreshes of the tab."""
        ...

    async def home_tabs_for(
        self, slack_user_ids: Iterable[str], since: datetime | None = None
    ) -> dict[str, tuple[str, ...]]:
        """Those of these people who opened their tab since `since`, with their ticks."""
        ...

    # Stage visits (for stats), follow-ups (reminders, escalations, hand-overs), rules
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

    async def people_away(self, now: datetime) -> list[Preference]:
        """Everyone away at `now`."""
        ...

    async def add_hints(self, workflow_ids: Iterable[str]) -> None:
        """Workflows the polling instance should read now ("*": every one)."""
        ...

    async def take_hints(self) -> set[str]:
        """The hints left so far, taken (each by one caller)."""
        ...

    async def beat(self, instance_id: str, at: datetime) -> None:
        """This instance is alive at `at`."""
        ...

    async def live_instances(self, since: datetime) -> set[str]:
        """The instances that beat since `since`."""
        ...

    async def forget_instance(self, instance_id: str) -> None:
        """A clean stop: what it leaves is taken over at once, not when it would age."""
        ...

    async def workflow_routes(self) -> dict[str, WorkflowRoute]:
        """Every workflow's route (one query)."""
        ...

    async def add_workflow_routes(self, routes: Iterable[WorkflowRoute]) -> set[str]:
        """Add these unless a route is there: the workflow ids this caller added."""
        ...

    async def save_workflow_route(self, route: WorkflowRoute) -> None:
        """An admin's choice, replacing what was there."""
        ...

    async def workflow_rules(self) -> dict[str, WorkflowRules]: ...
    async def save_workflow_rules(self, rules: WorkflowRules) -> None: ...

    # Tracked requests (the poller's memory)
    async def tracked(self) -> dict[RequestKey, TrackedRequest]:
        """Pending requests, and others with a retry due (finished ones stay, unlisted)."""

    async def save_tracked(self, requests: Iterable[TrackedRequest]) -> None:
        """Upsert a batch."""

    async def tracked_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, TrackedRequest]:
        """What was last published about these requests (one query)."""

    async def forget(self, keys: Iterable[RequestKey]) -> None: ...

    # Decisions (the audit the card's stage path shows)
    async def record_decision(self, decision: Decision) -> None: ...
    async def decisions_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Decision]]:
        """Decisions of each request, oldest first (one query)."""

    # Subscriptions
    async def subscribe(self, subscription: Subscription) -> None: ...
    async def unsubscribe(self, workflow_id: str) -> bool: ...
    async def subscriptions(self) -> dict[str, Subscription]: ...

    # Cross-process locks (double clicks, the single poller)
    async def try_lock(self, name: str, holder: str, ttl: float) -> bool:
        """Take `name` for `ttl` seconds unless another holder has it and it has not expired."""

    async def held_locks(self, names: Iterable[str]) -> set[str]:
        """Which of `names` are held now (one query)."""

    async def lock_holder(self, name: str) -> str | None:
        """Who holds `name` now (None when free or expired)."""

    async def unlock(self, name: str, holder: str) -> None: ...

    # Poller state
    async def save_poll_run(self, run: PollRun) -> None: ...
    async def last_poll_run(self) -> PollRun | None: ...
