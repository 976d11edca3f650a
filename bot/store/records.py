"""What the store keeps: the records every backend reads and writes (bot.store.contracts
says how they are asked for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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


CommentRule = Literal["reject", "approve", "both", "off"]
SelfApproval = Literal["allow", "block"]
WebOnlyOp = Literal[">", ">=", "<", "<=", "="]


@dataclass(frozen=True)
class WorkflowPolicy:
    """The rules a workflow's decisions follow, as an admin set them with `/cflow policy`
    (bot.domain.policy says what each means); a workflow without a row has the defaults,
    which are the bot's behaviour before policies existed.

    `web_only_value` is kept as the admin wrote the number (compared as a Decimal), and
    `channel_fields` is None for every field, () for none.
    """

    workflow_id: str
    comment: CommentRule = "reject"
    self_approval: SelfApproval = "allow"
    web_only_field: str | None = None
    web_only_op: WebOnlyOp | None = None
    web_only_value: str | None = None
    undo_seconds: int = 0
    channel_fields: tuple[str, ...] | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PolicyChange:
    """One change of a workflow's policy: which setting, to what (as shown), by whom."""

    workflow_id: str
    setting: str
    value: str
    changed_by: str
    at: datetime


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


@dataclass(frozen=True)
class PendingDecision:
    """A decision waiting out its workflow's undo window (bot.people.undo): made once
    when `due_at` comes unless its clicker undoes it first. `ref` is the clicked
    `RequestRef.encode()` (its `updated` mark is what the decision is checked against
    then); `batch_id` ties the requests of one bulk approval together, one window and one
    Undo for all. `claimed_by` is the instance making it (from `claimed_at`), `attempts`
    how often it was claimed."""

    workflow_id: str
    request_id: str
    ref: str
    verb: str  # approve | reject
    slack_user_id: str
    due_at: datetime
    created_at: datetime
    comment: str | None = None
    cflow_username: str | None = None  # the clicker's, shown on the cards
    batch_id: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    attempts: int = 0
    id: int | None = None  # the store's


@dataclass(frozen=True)
class WorkflowStep:
    """A Workflow Builder step waiting for its request's outcome (bot.followups.steps):
    completed once, by whichever instance claims it when the request is decided. `token`
    is the short-lived token Slack sent with the step (encrypted at rest); `outcome` is
    how it ended: "completed", "failed", or Slack's reason for refusing it for good."""

    function_execution_id: str
    token: SecretStr
    workflow_id: str
    submitter: str  # the Slack user the request is sent as
    created_at: datetime
    request_id: str | None = None  # None until Cflow has created it
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    completed_at: datetime | None = None
    outcome: str | None = None
    attempts: int = 0
    id: int | None = None  # the store's


@dataclass(frozen=True)
class Unfurl:
    """A request's link preview on someone's message (chat.unfurl): re-sent as the
    request changes, like a card. `url` is the link exactly as Slack sent it (the key of
    `unfurls`); `shared_by` the Slack user whose own link first read the request."""

    channel: str
    message_ts: str
    url: str
    workflow_id: str
    request_id: str
    shared_by: str
    created_at: datetime | None = None
    failure: str | None = None  # Slack refused a refresh for good (the message is gone …)

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)


@dataclass(frozen=True)
class RequestThread:
    """The bot's reply in the thread of a Slack message a request was made from (the
    "Request approval" shortcut): where it is, and the outcome it was last brought to.
    `ts` is None while the reply is being posted (claimed, so it is never posted twice);
    `outcome` is set once the reply shows how the request ended, so it is edited once."""

    workflow_id: str
    request_id: str
    channel: str
    thread_ts: str  # the message's thread: its own ts, or the thread it is in
    requested_by: str  # the Slack user who made the request from the message
    created_at: datetime
    ts: str | None = None  # the reply's own ts
    outcome: str | None = None  # approved | rejected | … once the reply shows it

    @property
    def key(self) -> RequestKey:
        return (self.workflow_id, self.request_id)
