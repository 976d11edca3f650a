"""Channel names to ids: Slack posts to `#name`, but edits (`chat.update`) need the id.

A card posted to `#approvals` could never be updated, so every name the bot is given
(`CFLOW_NOTIFY_CHANNEL`, `/cflow subscribe … #channel`) is resolved once, up front.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import is_channel_id

CHANNEL_HINT = "invite the bot there (`/invite @Cflow Approvals`) or use the channel's id (C…)"
LIST_PAGES = 50  # 1,000 channels a page: far beyond a workspace the bot can see


async def channel_id_for(slack: AsyncWebClient, name_or_id: str) -> str | None:
    """The id of a channel named `#name` (or `name`); an id is returned as it is."""
    value = name_or_id.strip()
    if is_channel_id(value):
        return value
    wanted = value.removeprefix("#").casefold()
    cursor: str | None = None
    for _ in range(LIST_PAGES):
        answer = await slack.conversations_list(
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=1000,
            cursor=cursor,
        )
        for channel in answer.get("channels") or []:
            if str(channel.get("name", "")).casefold() == wanted:
                return str(channel["id"])
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None
