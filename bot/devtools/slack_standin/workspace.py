"""The stand-in's workspace: who the app is in which team, its channels and DMs, and the
lookups and JSON shapes every method family shares."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.devtools.slack_standin.records import (
    CHANNEL_ID,
    TS_BASE_MICROS,
    Channel,
    Params,
    Records,
    StandInError,
    StoredMessage,
)


class Workspace:
    """One team with the app installed: its identity, its records, and who is told of
    what a person would see change."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        *,
        app_token: str = "xapp-test-token",
        team_id: str = "T0TEST",
        team_name: str = "Test Team",
        team_domain: str = "test-team",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "cflow",
        app_id: str = "ATEST",
        bot_channels: set[str] | None = None,
        strict_membership: bool = False,
    ) -> None:
        self.bot_token, self.app_token = bot_token, app_token
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.bot_user_id, self.bot_id = bot_user_id, bot_id
        self.bot_name, self.app_id = bot_name, app_id
        self.bot_channels: set[str] = set(bot_channels or ())
        self.strict_membership = strict_membership
        self.records = Records()
        self._listeners: list[Callable[[], None]] = []
        self._seq = 0
        self._last_ts_micros = 0

    # -- configuration -----------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        members: set[str] | list[str] | tuple[str, ...] = (),
        *,
        is_private: bool | None = None,
        bot_member: bool = True,
    ) -> Channel:
        """Register a channel; `bot_member` decides `is_member` and strict postMessage."""
        private = channel_id.startswith("G") if is_private is None else is_private
        channel = Channel(channel_id, name or channel_id.lower(), private, members=set(members))
        self.records.channels[channel_id] = channel
        if bot_member:
            self.bot_channels.add(channel_id)
        else:
            self.bot_channels.discard(channel_id)
        return channel

    def channel_named(self, name: str) -> Channel | None:
        """The channel a typed `#name` picks (never a DM)."""
        channels = self.records.channels.values()
        return next((c for c in channels if not c.is_im and c.name == name), None)

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel id ("D…") the fake uses for `user_id`."""
        dms = self.records.dms
        if user_id not in dms:
            dm = f"D{len(dms) + 1:08d}"
            dms[user_id] = dm
            self.records.channels[dm] = Channel(dm, None, True, True, user_id, {user_id})
            self.bot_channels.add(dm)
        return dms[user_id]

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever what a person would see changes (messages, views);
        returns what stops that."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- shared by the method families -------------------------------------------------

    def next_seq(self) -> int:
        """One running number for view, trigger and envelope ids."""
        self._seq += 1
        return self._seq

    def next_ts(self) -> str:
        """Unique, increasing ts strings from the clock, as Slack's are ("1764441600.000100")."""
        micros = max(time.time_ns() // 1000, self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def resolve_channel(self, channel: str | None) -> str:
        """A user id means "DM this user": Slack answers with the D… channel id.

        Posting also takes a channel's name (`#approvals`) and answers with its id;
        every other method needs the id, as in Slack.
        """
        if not channel:
            raise StandInError("channel_not_found")
        if channel[0] in "UW":
            return self.dm_channel(channel)
        if CHANNEL_ID.fullmatch(channel):
            return channel
        wanted = channel.removeprefix("#")
        named = next((c for c in self.records.channels.values() if c.name == wanted), None)
        if named is None:
            raise StandInError("channel_not_found")
        return named.id

    def get_message(self, channel: str | None, ts: str | None) -> StoredMessage:
        if not CHANNEL_ID.fullmatch(channel or ""):
            raise StandInError("channel_not_found")
        message = self.records.messages.get((channel or "", ts or ""))
        if message is None or message.deleted:
            raise StandInError("message_not_found")
        return message

    def get_channel(self, channel_id: str | None) -> Channel:
        channel = self.records.channels.get(channel_id or "")
        if channel is None:
            raise StandInError("channel_not_found")
        return channel

    def message_json(self, message: StoredMessage) -> Params:
        body: Params = {
            "type": "message",
            "text": message.text,
            "user": message.user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": message.ts,
        }
        extras = {
            "blocks": message.blocks,
            "attachments": message.attachments,
            "thread_ts": message.thread_ts,
            "metadata": message.metadata,
        }
        return body | {k: v for k, v in extras.items() if v is not None}

    def channel_json(self, channel: Channel) -> Params:
        body: Params = {
            "id": channel.id,
            "created": TS_BASE_MICROS // 1_000_000,
            "is_im": channel.is_im,
            "is_channel": not channel.is_im and not channel.is_private,
            "is_group": not channel.is_im and channel.is_private,
            "is_private": channel.is_private,
            "is_archived": channel.is_archived,
            "is_member": channel.id in self.bot_channels,
        }
        if channel.is_im:
            return body | {"user": channel.user}
        return body | {"name": channel.name, "context_team_id": self.team_id}

    # -- methods -----------------------------------------------------------------------

    def auth_test(self, params: Params) -> Params:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
