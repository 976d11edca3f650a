"""Everything the playground runs, wired as in production: Cflow, Slack, the bot.

The Cflow sandbox with its demo data, the Slack stand-in (bot.devtools.slack_standin) and the bot
itself, each on its own port on 127.0.0.1: the bot receives signed requests on
`/slack/events` and calls the stand-in's Web API, exactly as it would Slack's. The
demo people are linked already, and a second channel is subscribed to one workflow.
bob has four requests waiting, the oldest four days old and due a reminder; the
oldest purchase order is due an escalation; carol takes a daily digest instead of a DM
each, and alice has quiet hours (each person's settings are on their Home tab).
Purchase orders have a policy, set by alice: over 10,000 they are decided in Cflow
only, a submitter may not decide their own (carol's order waits on her), a rejection
needs a reason, and the undo window is 10 s. carol has asked in #approvals for
monitors, a message anyone can turn into a request ("Request approval" in its "…" menu).
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.devtools.cflow_standin.seed import add_policy_orders, demo_state
from bot.devtools.cflow_standin.server import start_sandbox
from bot.devtools.cflow_standin.state import SandboxState
from bot.devtools.slack_standin.payloads import message_text_as_sent
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.domain.hours import next_digest
from bot.domain.policy_edits import SETTINGS, is_default, shown
from bot.domain.request_links import link_host
from bot.runtime.server import RunningBot
from bot.settings import Settings, load_settings
from bot.store import open_store
from bot.store.contracts import Store
from bot.store.records import (
    Followup,
    Link,
    PolicyChange,
    Preference,
    StageVisit,
    Subscription,
    WorkflowPolicy,
    WorkflowRules,
)

# Slack's limits, shortened for a demo: pacing still runs, nobody waits for it.
RATE_SCALE = 20.0
POLL_INTERVAL = 2.0
PEOPLE = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0DAVE": "dave"}
APPROVALS = "C0APPROVALS"
PURCHASING = "C0PURCHASING"
CHANNELS = {APPROVALS: "approvals", PURCHASING: "purchasing"}
PURCHASE_ORDERS = "1002"  # the demo workflow whose cards go to #purchasing
SEEDED_DUE = timedelta(seconds=10)  # the seeded reminder and escalation, once cards are out
ZONE = "America/Los_Angeles"  # the stand-in's people's Slack time zone
DEMO_PREFERENCES = (
    Preference("U0CAROL", mode="digest", digest_at=9 * 60, tz=ZONE),
    Preference("U0ALICE", quiet_from=20 * 60, quiet_to=8 * 60, work_days="12345", tz=ZONE),
)
# As alice would type it: `/cflow policy Purchase Order web-only Amount > 10,000`, and so on.
DEMO_POLICY = WorkflowPolicy(
    PURCHASE_ORDERS,
    comment="reject",
    self_approval="block",
    web_only_field="Amount",
    web_only_op=">",
    web_only_value="10,000",
    undo_seconds=10,
)
POLICY_SET_AGO = timedelta(days=7)
# CFLOW_REQUEST_URL: the "Open in Cflow" buttons' links, which pasted in the composer
# unfurl (the stand-in unfurls its host, as the manifest's unfurl_domains has Slack do).
REQUEST_LINKS = "https://cflow.example.com/app/{workflow_id}/requests/{request_id}"


# carol's message in #approvals, as she typed it (Slack keeps @bob as <@U0BOB>).
DEMO_MESSAGE = '@bob could the design team get two 27" monitors from Dell? About $1,200 & tax.'


@dataclass
class World:
    """What the page shows and acts on; `errors` are a modal's field errors by view."""

    sandbox: SandboxState
    slack: SlackStandIn
    bot_url: str
    signing_secret: str
    people: dict[str, str] = field(default_factory=lambda: dict(PEOPLE))
    channels: dict[str, str] = field(default_factory=lambda: dict(CHANNELS))
    errors: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def events_url(self) -> str:
        return self.bot_url + "/slack/events"


@contextlib.asynccontextmanager
async def running_world(*, poll_interval: float = POLL_INTERVAL) -> AsyncIterator[World]:
    """Start everything on free loopback ports; stop it all on exit."""
    now = datetime.now(UTC)
    state = demo_state(now=now)
    add_policy_orders(state, now=now)
    runner, sandbox_url = await start_sandbox(state)
    try:
        async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
            _people_and_channels(slack)
            with tempfile.TemporaryDirectory(prefix="cflow-playground-") as folder:
                settings = _settings(sandbox_url, slack, Path(folder), poll_interval)
                await _prepare_store(settings, state)
                async with RunningBot(settings, host="127.0.0.1", port=0) as bot:
                    secret = settings.slack_signing_secret
                    assert secret is not None
                    yield World(state, slack, bot.url, secret.get_secret_value())
    finally:
        await runner.cleanup()


def _people_and_channels(slack: SlackStandIn) -> None:
    for user_id, name in PEOPLE.items():
        slack.add_user(user_id, f"{name}@example.com", name, is_admin=name == "alice")
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name, members=set(PEOPLE))
    slack.unfurls.set_domains([link_host(REQUEST_LINKS) or ""])
    slack.say("U0CAROL", APPROVALS, message_text_as_sent(DEMO_MESSAGE, slack))


def _settings(sandbox_url: str, slack: SlackStandIn, folder: Path, interval: float) -> Settings:
    options: dict[str, Any] = {
        "cflow_base_url": sandbox_url,
        "cflow_api_key": "sandbox-api-key",
        "cflow_username": "cflow-bot",
        "cflow_user_key": "cflow-bot-key",
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": secrets.token_hex(16),
        "slack_api_url": slack.api_url,
        "cflow_notify_channel": APPROVALS,
        "cflow_poll_interval": interval,
        "database_url": f"sqlite:///{folder / 'playground.db'}",
        "cflow_bot_secret_key": Fernet.generate_key().decode(),
        "cflow_bot_admins": "U0ALICE",
        "slack_rate_scale": RATE_SCALE,
        "cflow_request_url": REQUEST_LINKS,
    }
    return load_settings(None, **options)


async def _prepare_store(settings: Settings, state: SandboxState) -> None:
    """The demo people linked with their sandbox keys; #purchasing gets purchase orders."""
    store = await open_store(settings.database_url, settings.secret_keys)
    try:
        for user_id, name in PEOPLE.items():
            key = SecretStr(state.users[name].user_key)
            await store.save_link(Link(user_id, name, key))
        await store.subscribe(Subscription(PURCHASE_ORDERS, PURCHASING, "U0ALICE"))
        for preference in DEMO_PREFERENCES:
            due = (
                next_digest(preference, datetime.now(UTC)) if preference.mode == "digest" else None
            )
            await store.save_preference(replace(preference, next_run_at=due))
        await _seed_followups(store, state)
        await _seed_policy(store)
    finally:
        await store.close()


async def _seed_followups(store: Store, state: SandboxState) -> None:
    """As if the bot had been running all along: the demo's past decisions are in its
    record (so `/cflow stats` has figures), bob's oldest request is due a reminder, and
    the oldest purchase order is due an escalation that calls on alice."""
    await store.visits_entered(past_visits(state))
    await store.save_workflow_rules(
        WorkflowRules(PURCHASE_ORDERS, escalate_after=48, escalate_to=("<@U0ALICE>",))
    )
    soon = datetime.now(UTC) + SEEDED_DUE
    oldest = state.get_request("1001", "103")
    purchase = state.get_request(PURCHASE_ORDERS, "104")
    await store.add_followups(
        [
            Followup("1001", "103", 1, "reminder", "bob", oldest.created_at, soon),
            Followup(PURCHASE_ORDERS, "104", 1, "escalation", "", purchase.created_at, soon),
        ]
    )


async def _seed_policy(store: Store) -> None:
    """Purchase orders' policy, set by alice a week ago one setting at a time, as her
    change log shows (the comment rule is the default's, which `/cflow policy` logs no
    change for)."""
    start = datetime.now(UTC) - POLICY_SET_AGO
    settings = [s for s in SETTINGS if not is_default(DEMO_POLICY, s)]
    changes = [
        PolicyChange(PURCHASE_ORDERS, setting, shown(DEMO_POLICY, setting), "U0ALICE", at)
        for setting, at in ((s, start + timedelta(minutes=i)) for i, s in enumerate(settings))
    ]
    policy = replace(DEMO_POLICY, updated_by="U0ALICE", updated_at=changes[-1].at)
    await store.save_policy(policy, changes)


def past_visits(state: SandboxState) -> list[StageVisit]:
    """The stays at a stage that the sandbox's history shows ended with a decision."""
    visits: list[StageVisit] = []
    for workflow in state.workflows.values():
        stages = {stage.id: stage.name for stage in workflow.ordered_stages()}
        for request in state.requests.get(workflow.id, {}).values():
            arrived = None
            for entry in request.history:
                if entry.action == "submitted":
                    arrived = entry.at
                elif entry.action in ("approved", "rejected") and arrived is not None:
                    visits.append(
                        StageVisit(
                            workflow_id=workflow.id,
                            request_id=request.id,
                            visit=-2 - len(visits),  # numbers no event of the bot's takes
                            workflow_name=workflow.name,
                            stage=entry.stage,
                            stage_name=entry.stage_name or stages.get(entry.stage or ""),
                            reviewers=(entry.by,),
                            arrived_at=arrived,
                            submitted_by=request.submitted_by,
                            left_at=entry.at,
                            outcome=entry.action,
                            decided_by=entry.by,
                        )
                    )
                    arrived = entry.at
    return visits
