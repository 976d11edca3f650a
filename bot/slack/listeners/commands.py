"""The `/cflow` slash command: link, unlink, whoami and help."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.slack.listeners.common import Ack, Respond, Track, open_link_modal, say_privately
from bot.slack.text import escape

USAGE = "\n".join(
    (
        "*/cflow* — approve Cflow requests from Slack",
        "`/cflow link` — link your Cflow account (needed to approve and reject)",
        "`/cflow unlink` — forget your Cflow account and its key",
        "`/cflow whoami` — which Cflow account you are linked to",
        "`/cflow help` — this list",
    )
)


def register(app: AsyncApp, track: Track) -> None:
    app.command("/cflow")(track(cflow))


async def cflow(
    ack: Ack, command: dict[str, Any], services: Services, client: AsyncWebClient, respond: Respond
) -> None:
    await ack()
    words = (command.get("text") or "").split()
    verb = words[0].lower() if words else "help"
    user = command["user_id"]
    if verb == "link":
        await open_link_modal(services, client, user, command["trigger_id"])
    elif verb == "unlink":
        removed = await services.store.delete_link(user)
        text = (
            "Your Cflow account is unlinked and its key deleted."
            if removed
            else "You had no Cflow account linked."
        )
        await say_privately(respond, {"text": text})
    elif verb == "whoami":
        await say_privately(respond, {"text": await whoami(services, user)})
    else:
        await say_privately(respond, {"text": USAGE})


async def whoami(services: Services, user: str) -> str:
    link = await services.store.link_for(user)
    if link is None:
        return "You have not linked a Cflow account yet: `/cflow link`."
    how = f", linked by <@{link.linked_by}>" if link.linked_by else ""
    return f"You act in Cflow as *{escape(link.cflow_username)}*{how}."
