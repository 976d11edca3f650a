"""`cflow-bot check`: tell, in plain words, whether each outside service works."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import CflowClient, CflowError, CflowUnauthorizedError, Credentials, Workflow
from bot.domain.access import channel_for
from bot.outbound.channels import CHANNEL_HINT, channel_id_for
from bot.store.contracts import Store
from bot.sync.delivery import is_failed_for_good
from bot.sync.routes import ADOPTED

MAX_LISTED = 10


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


async def check_cflow(
    cflow: CflowClient, creds: Credentials, base_url: str
) -> tuple[CheckResult, list[Workflow]]:
    """List workflows as the service account: proves the URL, the API key and the user
    key; the workflows listed (none when it failed)."""
    name = "Cflow"
    try:
        workflows = await cflow.list_workflows(creds)
    except CflowUnauthorizedError as error:
        detail = (
            f"{base_url} refused the service account {creds.username!r}: {error.message} "
            "Check CFLOW_API_KEY, CFLOW_USERNAME and CFLOW_USER_KEY."
        )
        return CheckResult(name, False, detail), []
    except CflowError as error:
        return CheckResult(name, False, f"{base_url} did not work: {error.message}"), []
    active = sum(1 for workflow in workflows if workflow.is_active)
    detail = (
        f"{base_url} answers and the service account {creds.username!r} works "
        f"({len(workflows)} workflows, {active} active)."
    )
    return CheckResult(name, True, detail), workflows


async def check_slack(slack: AsyncWebClient) -> CheckResult:
    """`auth.test` proves the API URL is reachable and the bot token is accepted."""
    name = "Slack"
    try:
        answer = await slack.auth_test()
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        return CheckResult(name, False, f"Slack refused SLACK_BOT_TOKEN ({reason}).")
    except (aiohttp.ClientError, TimeoutError) as error:
        detail = f"could not reach {slack.base_url} ({type(error).__name__}). Check SLACK_API_URL."
        return CheckResult(name, False, detail)
    detail = f"the bot token works: bot @{answer.get('user')} in workspace {answer.get('team')}."
    return CheckResult(name, True, detail)


async def check_database(
    store_opener: Callable[[], Awaitable[Store]], shown_url: str
) -> tuple[CheckResult, Store | None]:
    """Open the store (which migrates it) and ask it something."""
    name = "Database"
    try:
        store = await store_opener()
    except Exception as error:  # any driver error: the message is what helps
        detail = f"{shown_url} did not open: {type(error).__name__}: {_first_line(error)}"
        return CheckResult(name, False, detail), None
    if not await store.ping():
        await store.close()
        return CheckResult(name, False, f"{shown_url} does not answer."), None
    return CheckResult(name, True, f"{shown_url} answers and its schema is up to date."), store


async def check_channels(slack: AsyncWebClient, channels: dict[str, str]) -> list[CheckResult]:
    """The bot must be a member of every channel it posts cards to."""
    results = []
    for channel, why in channels.items():
        results.append(await _check_channel(slack, channel, why))
    return results


async def _check_channel(slack: AsyncWebClient, channel: str, why: str) -> CheckResult:
    name = f"Channel {channel}"
    try:
        found = await channel_id_for(slack, channel)
        if found is None:
            return CheckResult(name, False, f"{why}: no channel by that name; {CHANNEL_HINT}.")
        answer = await slack.conversations_info(channel=found)
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        return CheckResult(name, False, f"{why}: Slack cannot show it ({reason}); use its id (C…).")
    info = answer.get("channel") or {}
    label = f"#{info.get('name', channel)}"
    if not info.get("is_member"):
        detail = f"{why}: the bot is not in {label}. Type `/invite @Cflow Approvals` there."
        return CheckResult(name, False, detail)
    return CheckResult(name, True, f"{why}: the bot is in {label}.")


async def check_deliveries(store: Store) -> CheckResult:
    """Messages Slack refused for good, by reason, with where and since when.

    A refused DM (a deactivated account, a person who blocked the bot) is reported but is
    no fault of the setup; a channel card Slack refuses (archived, bot removed) is.
    """
    name = "Slack deliveries"
    failed = [card for card in await store.failed_cards() if is_failed_for_good(card)]
    if not failed:
        return CheckResult(name, True, "every message the bot tried to post was delivered.")
    lines = []
    for card in failed[:MAX_LISTED]:
        since = card.failed_at.strftime("%Y-%m-%d %H:%M UTC") if card.failed_at else "?"
        where = f"DM to {card.slack_user_id}" if card.slack_user_id else f"channel {card.channel}"
        what = f"request {card.workflow_id}/{card.request_id}"
        lines.append(f"{card.failure}: {card.kind} of {what}, {where}, since {since}")
    more = f" (and {len(failed) - MAX_LISTED} more)" if len(failed) > MAX_LISTED else ""
    channel_failed = any(card.slack_user_id is None for card in failed)
    detail = f"{len(failed)} refused by Slack{more}: " + "; ".join(lines)
    return CheckResult(name, not channel_failed, detail)


async def check_routes(
    listed: list[Workflow], store: Store, default_channel: str | None, admins: list[str]
) -> list[CheckResult]:
    """Every active workflow, and where its cards go (an admin's choice, bot.sync.routes). One
    waiting for an admin when there are none fails: nobody could ever route it."""
    workflows = [w for w in listed if w.is_active]
    subscriptions, routes = await store.subscriptions(), await store.workflow_routes()
    adopted = ADOPTED in routes
    results = []
    for workflow in workflows:
        route = routes.get(workflow.id)
        channel = channel_for(workflow.id, subscriptions, routes, default_channel)
        if route is None and not adopted and workflow.id not in subscriptions:
            channel = default_channel  # the first cycle adopts it as configured
        if channel is not None:
            where = f"cards go to {channel}"
        elif route is not None and route.route == "pending":
            where = "waits for an admin to route it; its reviewers get DMs meanwhile"
            if not admins:
                where += ". Set CFLOW_BOT_ADMINS: with no admins nobody can route it"
        else:
            where = "no channel; its reviewers get DMs"
        name = f"Workflow {workflow.label} ({workflow.id})"
        stuck = channel is None and route is not None and route.route == "pending"
        results.append(CheckResult(name, not (stuck and not admins), where))
    return results


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:200]
