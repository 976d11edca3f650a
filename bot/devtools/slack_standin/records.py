"""What the Slack stand-in holds: the calls it received, the messages, channels, users,
views and response URLs of its workspace (plain data; the method families change it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Params = dict[str, Any]
Handler = Callable[[Params], Params]
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")  # names are lower case: never taken for an id
TS_BASE_MICROS = 1_700_000_000_000_000


class StandInError(Exception):
    """Raised by a handler to answer `{"ok": false, "error": error}` and leave state alone."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []  # Slack's response_metadata.messages


@dataclass
class SlackCall:
    """One request the fake received, with what it answered (for assertions and traces)."""

    method: str
    params: Params
    token: str | None
    time: float
    failed: bool = False
    error: str | None = None
    response: Params | None = None

    @property
    def name(self) -> str:
        """The method called, as the shared call log names calls."""
        return self.method

    @property
    def landed_in(self) -> str | None:
        """The channel a post landed in: a DM posted to a user id lands in its D… id."""
        answered = (self.response or {}).get("channel")
        return str(answered) if answered else self.params.get("channel")


@dataclass
class StoredMessage:
    """A message the bot posted; `history` holds every version, oldest first."""

    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    attachments: list[Any] | None
    thread_ts: str | None
    user: str
    history: list[Params] = field(default_factory=list)
    deleted: bool = False
    metadata: Params | None = None
    visible_to: str | None = None  # an ephemeral message: only this user sees it

    def snapshot(self) -> Params:
        """The editable content, as kept in `history`."""
        return {"text": self.text, "blocks": self.blocks, "attachments": self.attachments}

    def edit(self, params: Params) -> None:
        """Patch semantics: omitted fields keep their value, an empty list clears."""
        self.text = params.get("text", self.text)
        self.blocks = params.get("blocks", self.blocks)
        self.attachments = params.get("attachments", self.attachments)
        self.history.append(self.snapshot())


@dataclass
class Channel:
    """What conversations.info/members need to know about a conversation."""

    id: str
    name: str | None
    is_private: bool
    is_im: bool = False
    user: str | None = None
    members: set[str] = field(default_factory=set)
    is_archived: bool = False


@dataclass(frozen=True)
class Origin:
    """Where a response_url answers: the message it came from, and who clicked."""

    channel: str | None
    ts: str | None
    user: str | None


@dataclass
class Records:
    """The workspace's contents, by the keys Slack looks them up by."""

    messages: dict[tuple[str, str], StoredMessage] = field(default_factory=dict)
    ephemerals: dict[str, StoredMessage] = field(default_factory=dict)  # by ts
    channels: dict[str, Channel] = field(default_factory=dict)
    dms: dict[str, str] = field(default_factory=dict)  # user (or sorted users) -> channel
    users: dict[str, Params] = field(default_factory=dict)
    user_groups: dict[str, str] = field(default_factory=dict)  # handle -> S… id
    views: dict[str, Params] = field(default_factory=dict)
    home_views: dict[str, str] = field(default_factory=dict)  # user -> view id
    triggers: dict[str, str] = field(default_factory=dict)  # trigger_id -> who caused it
    stacks: dict[str, list[str]] = field(default_factory=dict)  # user -> open modals, root first
    response_urls: dict[str, Origin] = field(default_factory=dict)  # by name

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        """A posted message (deleted ones too, flagged), or None."""
        return self.messages.get((channel, ts))

    def live_messages(self, channel: str | None = None) -> list[StoredMessage]:
        """Live (not deleted) messages, ordered by ts."""
        found = [m for m in self.messages.values() if not m.deleted]
        return sorted((m for m in found if channel in (None, m.channel)), key=lambda m: m.ts)

    def ephemerals_of(self, channel: str, user_id: str) -> list[StoredMessage]:
        """What only `user_id` sees in `channel` (chat.postEphemeral, response_url)."""
        found = [
            m
            for m in self.ephemerals.values()
            if m.channel == channel and m.visible_to == user_id and not m.deleted
        ]
        return sorted(found, key=lambda m: m.ts)


def truthy(value: Any) -> bool:
    """A flag as Slack reads it from a form or JSON."""
    return value in (True, "true", "1", 1)
