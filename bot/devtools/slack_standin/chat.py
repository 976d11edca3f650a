"""chat.* of the stand-in: posting, editing, deleting and linking to messages."""

from __future__ import annotations

from typing import Any

from bot.devtools.slack_standin.records import Handler, Params, StandInError, StoredMessage
from bot.devtools.slack_standin.workspace import Workspace


class Chat:
    """Messages in the workspace's channels and DMs, as the bot posts and edits them."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._records = workspace.records

    def handlers(self) -> dict[str, Handler]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.delete": self.delete,
            "chat.getPermalink": self.get_permalink,
        }

    def post_message(self, params: Params) -> Params:
        workspace = self._workspace
        channel = workspace.resolve_channel(params.get("channel"))
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            raise StandInError("no_text")
        if (
            workspace.strict_membership
            and channel[0] == "C"
            and channel not in workspace.bot_channels
        ):
            raise StandInError("not_in_channel")
        message = self._new_message(channel, params, metadata=params.get("metadata"))
        message.history.append(message.snapshot())
        self._records.messages[(channel, message.ts)] = message
        return {"channel": channel, "ts": message.ts, "message": workspace.message_json(message)}

    def update(self, params: Params) -> Params:
        message = self._workspace.get_message(params.get("channel"), params.get("ts"))
        if message.user != self._workspace.bot_user_id:
            raise StandInError("cant_update_message")  # a person's message is theirs
        message.edit(params)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._workspace.message_json(message),
        }

    def post_ephemeral(self, params: Params) -> Params:
        channel = self._workspace.resolve_channel(params.get("channel"))
        if not params.get("user"):
            raise StandInError("user_not_found")
        message = self._new_message(channel, params, visible_to=str(params["user"]))
        self._records.ephemerals[message.ts] = message
        return {"message_ts": message.ts}

    def delete(self, params: Params) -> Params:
        message = self._workspace.get_message(params.get("channel"), params.get("ts"))
        message.deleted = True
        return {"channel": message.channel, "ts": message.ts}

    def get_permalink(self, params: Params) -> Params:
        message = self._workspace.get_message(params.get("channel"), params.get("message_ts"))
        link = f"https://{self._workspace.team_domain}.slack.com/archives/{message.channel}"
        link += f"/p{message.ts.replace('.', '')}"
        if message.thread_ts:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return {"channel": message.channel, "permalink": link}

    def say(
        self, user_id: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> StoredMessage:
        """A message a person wrote (not the bot): for tests and the playground."""
        channel = self._workspace.resolve_channel(channel)
        params = {"text": text, "thread_ts": thread_ts}
        message = self._new_message(channel, params, user=user_id)
        message.history.append(message.snapshot())
        self._records.messages[(channel, message.ts)] = message
        self._workspace.changed()
        return message

    def _new_message(self, channel: str, params: Params, **extra: Any) -> StoredMessage:
        return StoredMessage(
            channel=channel,
            ts=self._workspace.next_ts(),
            text=params.get("text", ""),
            blocks=params.get("blocks"),
            attachments=params.get("attachments"),
            thread_ts=params.get("thread_ts"),
            **({"user": self._workspace.bot_user_id} | extra),
        )
