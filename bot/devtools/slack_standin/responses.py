"""Response URLs of the stand-in: where the app answers a click or a command."""

from __future__ import annotations

from collections.abc import Callable

from bot.devtools.slack_standin.chat import Chat
from bot.devtools.slack_standin.records import Origin, Params, StoredMessage, truthy
from bot.devtools.slack_standin.workspace import Workspace


class Responses:
    """Each response_url the tests hand out, and what answering it does."""

    def __init__(self, workspace: Workspace, chat: Chat, base_url: Callable[[], str]) -> None:
        self._records = workspace.records
        self._chat = chat
        self._base_url = base_url

    def response_url(
        self,
        name: str = "default",
        *,
        channel: str | None = None,
        ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """A response_url for payloads. Bound to (channel, ts) it honours replace and
        delete of that message (or ephemeral); bound to `user` too, its plain answers
        are ephemeral messages that user sees in `channel`, as in Slack."""
        if channel is not None or user is not None:
            self._records.response_urls[name] = Origin(channel, ts, user)
        return f"{self._base_url()}/response/{name}"

    def answer(self, name: str | None, params: Params) -> Params:
        """As Slack does: replace or delete the message it came from, or answer anew (in
        the channel, or only to the person who clicked or typed)."""
        origin = self._records.response_urls.get(name or "")
        if origin is None:
            return {}
        message = self._origin_message(origin)
        if message is not None and truthy(params.get("delete_original")):
            message.deleted = True
        elif message is not None and truthy(params.get("replace_original")):
            message.edit(params)
        elif origin.channel and params.get("response_type") == "in_channel":
            self._chat.post_message(params | {"channel": origin.channel})
        elif origin.channel and origin.user:
            self._chat.post_ephemeral(params | {"channel": origin.channel, "user": origin.user})
        return {}

    def _origin_message(self, origin: Origin) -> StoredMessage | None:
        if origin.ts is None:
            return None
        if origin.ts in self._records.ephemerals:
            return self._records.ephemerals[origin.ts]
        return self._records.messages.get((origin.channel or "", origin.ts))
