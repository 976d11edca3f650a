"""`cflow-bot check`: tell, in plain words, whether each outside service works."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import CflowClient, CflowError, CflowUnauthorizedError, Credentials


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


async def check_cflow(cflow: CflowClient, creds: Credentials, base_url: str) -> CheckResult:
    """List workflows as the service account: proves the URL, the API key and the user key."""
    name = "Cflow"
    try:
        workflows = await cflow.list_workflows(creds)
    except CflowUnauthorizedError as error:
        detail = (
            f"{base_url} refused the service account {creds.username!r}: {error.message} "
            "Check CFLOW_API_KEY, CFLOW_USERNAME and CFLOW_USER_KEY."
        )
        return CheckResult(name, False, detail)
    except CflowError as error:
        return CheckResult(name, False, f"{base_url} did not work: {error.message}")
    active = sum(1 for workflow in workflows if workflow.is_active)
    detail = (
        f"{base_url} answers and the service account {creds.username!r} works "
        f"({len(workflows)} workflows, {active} active)."
    )
    return CheckResult(name, True, detail)


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
