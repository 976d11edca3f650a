"""An admin's answer to "where do this new workflow's cards go?" (bot.sync.routes)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import Action, Input, View
from bot.blocks.routes import route_modal
from bot.inbound.common import Track, say_privately, tell_in_dm
from bot.inbound.subcommands import Tools, membership_note
from bot.store.records import RouteKind
from bot.sync.routes import WorkflowRoutes

ADMINS_ONLY = "Only the bot's admins (CFLOW_BOT_ADMINS) choose where a workflow's cards go."


ROUTE_OF: dict[str, RouteKind] = {Action.ROUTE_DEFAULT: "default", Action.ROUTE_DMS: "dms"}


def register(app: AsyncApp, track: Track) -> None:
    app.action(Action.ROUTE_DEFAULT)(track(choose_route))
    app.action(Action.ROUTE_DMS)(track(choose_route))
    app.action(Action.ROUTE_CHOOSE)(track(open_route_modal))
    app.view(View.ROUTE)(track(save_route))


async def choose_route(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    tools: Tools,
    routes: WorkflowRoutes,
) -> None:
    """The default channel, or DMs only: every admin's DM about it then says so."""
    await ack()
    user = body["user"]["id"]
    if await _refused(tools, user, respond):
        return
    await routes.choose(action.get("value") or "", "", ROUTE_OF[action["action_id"]], user)


async def open_route_modal(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    tools: Tools,
) -> None:
    await ack()
    if await _refused(tools, body["user"]["id"], respond):
        return
    view = route_modal(action.get("value") or "", "")
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def save_route(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    tools: Tools,
    routes: WorkflowRoutes,
) -> None:
    values = (view.get("state") or {}).get("values") or {}
    picked = (values.get(Input.ROUTE_CHANNEL) or {}).get(Input.ROUTE_CHANNEL) or {}
    channel = picked.get("selected_conversation")
    if not channel:
        await ack(response_action="errors", errors={Input.ROUTE_CHANNEL: "Pick a channel."})
        return
    await ack()
    user = body["user"]["id"]
    if user not in tools.settings.cflow_bot_admins:
        await tell_in_dm(client, user, ADMINS_ONLY)
        return
    await routes.choose(view.get("private_metadata") or "", "", "channel", user, channel)
    note = await membership_note(client, channel)
    if note:
        await tell_in_dm(client, user, note.strip())


async def _refused(tools: Tools, user: str, respond: AsyncRespond) -> bool:
    """True, with a private answer, for anyone but the bot's admins."""
    if user in tools.settings.cflow_bot_admins:
        return False
    await say_privately(respond, {"text": ADMINS_ONLY})
    return True
