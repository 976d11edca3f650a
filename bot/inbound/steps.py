"""The Workflow Builder step "Send for Cflow approval" (manifest.yml's `functions`).

Bolt acknowledges Slack's `function_executed` event at once; the listener then sends the
request as the step's submitter (bot.followups.steps) and tells them in the bot's DM.
The step ends later, once, when the request is decided.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.steps import CALLBACK_ID, submitted_text
from bot.followups.steps import WorkflowSteps
from bot.inbound.common import Track, tell_in_dm
from bot.sync.publisher import Publisher


def register(app: AsyncApp, track: Track) -> None:
    app.function(CALLBACK_ID)(track(send_for_approval))


async def send_for_approval(
    event: dict[str, Any], steps: WorkflowSteps, publisher: Publisher, client: AsyncWebClient
) -> None:
    """Slack's event carries the step's own token (`bot_access_token`): the step is
    ended with it, never with the bot's."""
    token = SecretStr(str(event.get("bot_access_token") or ""))
    began = await steps.begin(event["function_execution_id"], token, event.get("inputs") or {})
    if began is not None:
        url = publisher.request_url(began.workflow.id, began.request.id)
        text = submitted_text(began.request.id, began.workflow.label, url)
        await tell_in_dm(client, began.submitter, text)
