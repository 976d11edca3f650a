"""Table layout, shared by SQLite and PostgreSQL.

Only SQLAlchemy Core: the store maps rows to the frozen records of `bot.store.records`
itself, so no ORM identity map or session state sits between the handlers and the rows.
A change here comes with an Alembic revision in bot/store/migrations/versions, which is
what brings databases to this layout (a test compares a migrated database with it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends: SQLite keeps no zone, so it stores naive UTC.

    A naive datetime is taken as UTC rather than refused: Cflow's own timestamps (a request's
    updatedAt) may come without an offset, and refusing them would stall the poller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonList(TypeDecorator[tuple[str, ...]]):
    """A tuple of strings as JSON text: portable, and small enough not to need JSONB."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[str, ...]:
        return tuple(json.loads(value)) if value else ()


class OptionalJsonList(TypeDecorator[tuple[str, ...] | None]):
    """Like JsonList, but None (NULL) stays apart from an empty tuple ("[]")."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[str, ...] | None:
        return None if value is None else tuple(json.loads(value))


metadata = MetaData()

ID = String(255)

links = Table(
    "links",
    metadata,
    Column("slack_user_id", ID, primary_key=True),
    Column("cflow_username", ID, nullable=False, index=True),
    Column("user_key_encrypted", Text, nullable=False),
    Column("linked_by", ID),
    Column("linked_at", UtcDateTime, nullable=False),
    # When Cflow last refused this key (401) or it stopped decrypting; cleared by linking.
    Column("key_refused_at", UtcDateTime),
)

# One row per message the bot posts about a request, claimed before it is posted: a card
# (updated as the request changes) or a one-off line (audit, outcome). `slot` tells two
# messages of one request in one channel apart: "" for the channel card, the visit for a
# reviewer's DM, "a<seq>"/"o<seq>" for the audit line and outcome of event <seq>.
cards = Table(
    "cards",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("channel", ID, primary_key=True),
    Column("slot", String(32), primary_key=True, server_default=""),
    Column("kind", String(16), nullable=False),  # bot.store.records.CardKind
    Column("ts", String(64)),
    Column("slack_user_id", ID),
    Column("created_at", UtcDateTime, nullable=False),
    Column("payload", Text),  # a one-off line's text, kept so a failed post can be retried
    Column("thread_ts", String(64)),
    Column("failure", String(64)),  # Slack's reason, when it refused this message for good
    Column("failed_at", UtcDateTime),
    Column("claimed_by", ID),  # the instance that claimed it (its heartbeat: instances)
)

# The requests of a roundup: shown in one message (a summary, a grouped DM, a digest, a
# reminder) instead of a card (or DM) each. The roundup's own message is a card of
# workflow "~roundup" (bot.store.records.ROUNDUP), request group_id.
roundup_members = Table(
    "roundup_members",
    metadata,
    Column("group_id", ID, primary_key=True),
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    # channel | dm | digest | channel_digest | reminder
    Column("kind", String(16), nullable=False),
    Column("target", ID, nullable=False),  # the channel, or the reviewer's Cflow username
    Column("visit", Integer, nullable=False, server_default="0"),
    Column("item", Text, nullable=False),  # what the message shows of it (JSON)
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_roundup_members_request", "workflow_id", "request_id"),
)

# How each person wants to be told (a missing row: the defaults), and when their digest
# is next due; `claimed_until` is the hold of the one instance sending it.
preferences = Table(
    "preferences",
    metadata,
    Column("slack_user_id", ID, primary_key=True),
    Column("mode", String(8), nullable=False),  # each | digest | off
    Column("digest_at", Integer, nullable=False),  # minutes after local midnight
    Column("final_dms", Boolean, nullable=False),
    Column("quiet_from", Integer),
    Column("quiet_to", Integer),
    Column("work_days", String(7), nullable=False),  # ISO weekdays, "12345" for Mon-Fri
    Column("tz", String(64), nullable=False),
    Column("next_run_at", UtcDateTime, index=True),
    Column("claimed_until", UtcDateTime),
    Column("away_until", UtcDateTime),
    Column("delegate", ID),
)

# Who has opened their Home tab (it is kept current for them, from any instance), and
# what they have ticked on it for bulk approval (kept when the tab is refreshed).
home_tabs = Table(
    "home_tabs",
    metadata,
    Column("slack_user_id", ID, primary_key=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("selected", JsonList, nullable=False),
)

# Channels that get a daily summary of what waits.
channel_digests = Table(
    "channel_digests",
    metadata,
    Column("channel_id", ID, primary_key=True),
    Column("at", Integer, nullable=False),
    Column("tz", String(64), nullable=False),
    Column("created_by", ID),
    Column("next_run_at", UtcDateTime, index=True),
    Column("claimed_until", UtcDateTime),
)

# Hints from Cflow's hook, for the polling instance: a workflow to read now ("*": all).
refresh_hints = Table(
    "refresh_hints",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
)

# Each request's stay at each stage, as the bot saw it (what `/cflow stats` measures).
stage_visits = Table(
    "stage_visits",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("visit", Integer, primary_key=True),
    Column("workflow_name", Text, nullable=False),
    Column("stage", Text),
    Column("stage_name", Text),
    Column("reviewers", JsonList, nullable=False),
    Column("submitted_by", ID),
    Column("title", Text),
    Column("arrived_at", UtcDateTime, nullable=False),
    Column("left_at", UtcDateTime, index=True),
    Column("outcome", String(32)),
    Column("decided_by", ID),
)

# What is due about a waiting request: a reminder per reviewer, an escalation, a hand-over
# to an away reviewer's delegate; claimed by one instance while it is done.
followups = Table(
    "followups",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("visit", Integer, primary_key=True),
    Column("kind", String(16), primary_key=True),  # reminder | escalation | handover
    Column("reviewer", ID, primary_key=True),  # "" for an escalation
    Column("arrived_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, index=True),
    Column("sent", Integer, nullable=False, server_default="0"),
    Column("claimed_until", UtcDateTime),
    Column("sent_at", UtcDateTime),
)

# A workflow's own reminder and escalation times, and its escalation contacts.
workflow_rules = Table(
    "workflow_rules",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("remind_after", Float),
    Column("escalate_after", Float),
    Column("escalate_to", JsonList, nullable=False),
    Column("updated_by", ID),
)

# A workflow's decision policy, as an admin set it (bot.store.records.WorkflowPolicy),
# and every change of it, with who made it and when (shown, and in the export).
workflow_policies = Table(
    "workflow_policies",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("comment", String(8), nullable=False),  # reject | approve | both | off
    Column("self_approval", String(8), nullable=False),  # allow | block
    Column("web_only_field", Text),
    Column("web_only_op", String(2)),
    Column("web_only_value", String(64)),
    Column("undo_seconds", Integer, nullable=False),
    Column("channel_fields", OptionalJsonList),  # NULL: every field
    Column("updated_by", ID),
    Column("updated_at", UtcDateTime),
)

policy_changes = Table(
    "policy_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", ID, nullable=False, index=True),
    Column("setting", String(32), nullable=False),
    Column("value", Text, nullable=False),
    Column("changed_by", ID, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Decisions waiting out their workflow's undo window (bot.people.undo): made once when
# due unless undone; claimed by the instance making them (its heartbeat: instances).
pending_decisions = Table(
    "pending_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", ID, nullable=False),
    Column("request_id", ID, nullable=False),
    Column("ref", Text, nullable=False),  # the clicked RequestRef, encoded
    Column("verb", String(8), nullable=False),  # approve | reject
    Column("comment", Text),
    Column("slack_user_id", ID, nullable=False),
    Column("cflow_username", ID),
    Column("batch_id", String(64), index=True),
    Column("due_at", UtcDateTime, nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("claimed_by", ID),
    Column("claimed_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index("ix_pending_decisions_request", "workflow_id", "request_id"),
)

# Workflow Builder steps waiting for their request's outcome (bot.followups.steps): each
# completed once, by the instance that claims it (its heartbeat: instances); the step's
# own short-lived Slack token is kept encrypted, like a user key.
workflow_steps = Table(
    "workflow_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("function_execution_id", ID, nullable=False, unique=True),
    Column("token_encrypted", Text, nullable=False),
    Column("workflow_id", ID, nullable=False),
    Column("request_id", ID),  # NULL until Cflow has created it
    Column("submitter", ID, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("claimed_by", ID),
    Column("claimed_at", UtcDateTime),
    Column("completed_at", UtcDateTime, index=True),
    Column("outcome", String(64)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index("ix_workflow_steps_request", "workflow_id", "request_id"),
)

# Where each workflow's cards go, as an admin chose (see bot.store.records.WorkflowRoute).
workflow_routes = Table(
    "workflow_routes",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("route", String(16), nullable=False),  # default | channel | dms | pending
    Column("name", Text, nullable=False, server_default=""),
    Column("first_seen_at", UtcDateTime),
    Column("set_by", ID),
    Column("set_at", UtcDateTime),
)

tracked_requests = Table(
    "tracked_requests",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("status", String(64), nullable=False),
    Column("stage", Text),
    Column("reviewers", JsonList, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("seq", Integer, nullable=False, server_default="0"),  # events published so far
    Column("visit", Integer, nullable=False, server_default="0"),  # seq that entered the stage
    Column("retry_at", UtcDateTime),  # some Slack effect failed for now: look again then
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("owner", ID),  # the instance delivering its last event (taken over once it stops)
)

# Each running instance's heartbeat: work an instance left (claims, changes it was
# delivering) is taken over as soon as it stops beating, or deletes its row at a stop.
instances = Table(
    "instances",
    metadata,
    Column("instance_id", ID, primary_key=True),
    Column("beat_at", UtcDateTime, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", ID, nullable=False),
    Column("request_id", ID, nullable=False),
    Column("stage", Text),
    Column("action", String(64), nullable=False),
    Column("cflow_username", ID),
    Column("slack_user_id", ID),
    Column("comment", Text),
    Column("reassigned_to", ID),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_decisions_request", "workflow_id", "request_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("channel_id", ID, nullable=False),
    Column("created_by", ID),
    Column("created_at", UtcDateTime, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("name", ID, primary_key=True),
    Column("holder", ID, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

POLL_RUN_ID = 1  # poll_runs keeps one row: only the last cycle matters to /healthz

poll_runs = Table(
    "poll_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration", Float, nullable=False),
    Column("workflows", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("errors", JsonList, nullable=False),
)

# Slack's limits, shared by every instance: per bucket (a method, or a method in one
# channel), the theoretical arrival time of the next call (GCRA), in seconds since the
# epoch by the database's clock, so that instances on several hosts read one clock.
slack_pace = Table(
    "slack_pace",
    metadata,
    Column("bucket", ID, primary_key=True),
    Column("tat", Float, nullable=False),
)

# Link previews of requests on people's messages (bot.people.unfurls): one row per link
# in a message, re-sent with chat.unfurl as the request changes, like a card.
unfurls = Table(
    "unfurls",
    metadata,
    Column("channel", ID, primary_key=True),
    Column("message_ts", String(64), primary_key=True),
    Column("url", String(2048), primary_key=True),  # longer links are not unfurled
    Column("workflow_id", ID, nullable=False),
    Column("request_id", ID, nullable=False),
    Column("shared_by", ID, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("failure", String(64)),  # Slack's reason, when it refused a refresh for good
    Index("ix_unfurls_request", "workflow_id", "request_id"),
)

# The bot's reply in the thread of the message a request was made from (the "Request
# approval" shortcut, bot.inbound.shortcuts): claimed before it is posted (ts NULL),
# edited once to show the request's outcome (outcome set).
request_threads = Table(
    "request_threads",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("channel", ID, nullable=False),
    Column("thread_ts", ID, nullable=False),
    Column("requested_by", ID, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ts", ID),
    Column("outcome", String(64)),
)

# Slack's OAuth installs (issue 25), in the tables slack-sdk's SQLAlchemy stores read and
# write (bot.store.installations); created by migration 0014, not by the stores.
slack_installations = SQLAlchemyInstallationStore.build_installations_table(
    metadata, "slack_installations"
)
slack_bots = SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots")
slack_oauth_states = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    metadata, "slack_oauth_states"
)
# Tokens are stored encrypted (bot.store.installations): a Fernet token outgrows
# slack-sdk's VARCHAR(200) for a refresh token of token rotation, so they are TEXT here.
SLACK_TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
for _table in (slack_installations, slack_bots):
    for _name in SLACK_TOKEN_COLUMNS:
        if _name in _table.c:
            _table.c[_name].type = Text()
