"""conversations.* of the stand-in: opening DMs, reading channels, history and threads."""

from __future__ import annotations

from bot.devtools.slack_standin.records import (
    Handler,
    Params,
    StandInError,
    StoredMessage,
    truthy,
)
from bot.devtools.slack_standin.workspace import Workspace


class Conversations:
    """The workspace's channels, DMs and group DMs, and what was said in them."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._records = workspace.records

    def handlers(self) -> dict[str, Handler]:
        return {
            "conversations.open": self.open,
            "conversations.info": self.info,
            "conversations.members": self.members,
            "conversations.list": self.list_channels,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
        }

    def open(self, params: Params) -> Params:
        workspace = self._workspace
        if params.get("channel"):
            return {"channel": {"id": workspace.get_channel(params["channel"]).id}}
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if not users:
            raise StandInError("users_list_not_supplied")
        key = ",".join(sorted(users))
        dms = self._records.dms
        already = key in dms
        if len(users) == 1:
            channel_id = workspace.dm_channel(users[0])
        else:
            channel_id = dms.setdefault(key, f"G{len(dms) + 1:08d}")
            workspace.add_channel(channel_id, f"mpdm-{'--'.join(users)}-1", users, is_private=True)
        return {"no_op": already, "already_open": already, "channel": {"id": channel_id}}

    def info(self, params: Params) -> Params:
        channel = self._workspace.get_channel(params.get("channel"))
        return {"channel": self._workspace.channel_json(channel)}

    def history(self, params: Params) -> Params:
        """Top-level messages, newest first, from `oldest` on; metadata only when asked."""
        channel = self._workspace.resolve_channel(params.get("channel"))
        oldest = float(params.get("oldest") or 0)
        found = [
            m
            for m in self._records.live_messages(channel)
            if not m.thread_ts or m.thread_ts == m.ts
            if float(m.ts) >= oldest
        ]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return self._page_of(found, params)

    def replies(self, params: Params) -> Params:
        """A thread: its parent first, then the replies from `oldest` on, oldest first."""
        parent = self._workspace.get_message(params.get("channel"), params.get("ts"))
        oldest = float(params.get("oldest") or 0)
        replies = [
            m
            for m in self._records.live_messages(parent.channel)
            if m.thread_ts == parent.ts and m.ts != parent.ts and float(m.ts) >= oldest
        ]
        replies.sort(key=lambda m: float(m.ts))
        return self._page_of([parent, *replies], params)

    def _page_of(self, found: list[StoredMessage], params: Params) -> Params:
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        with_metadata = truthy(params.get("include_all_metadata"))
        messages = [self._workspace.message_json(m) for m in page]
        if not with_metadata:
            for message in messages:
                message.pop("metadata", None)
        cursor = str(start + limit) if more else ""
        return {
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": cursor},
        }

    def list_channels(self, params: Params) -> Params:
        """Channels of the asked types, paged; private ones only where the bot is a member."""
        types = set(str(params.get("types") or "public_channel").split(","))
        bot_channels = self._workspace.bot_channels
        found = [
            c
            for c in self._records.channels.values()
            if not c.is_im
            if ("private_channel" if c.is_private else "public_channel") in types
            if not c.is_private or c.id in bot_channels
            if not (c.is_archived and truthy(params.get("exclude_archived")))
        ]
        limit = min(int(params.get("limit") or 100), 1000)
        start = int(params.get("cursor") or 0)
        page = found[start : start + limit]
        cursor = str(start + limit) if start + limit < len(found) else ""
        return {
            "channels": [self._workspace.channel_json(c) for c in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def members(self, params: Params) -> Params:
        channel = self._workspace.get_channel(params.get("channel"))
        bot = {self._workspace.bot_user_id} if channel.id in self._workspace.bot_channels else set()
        members = sorted(channel.members | bot)
        return {"members": members, "response_metadata": {"next_cursor": ""}}
