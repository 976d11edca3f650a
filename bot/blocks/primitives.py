"""Block Kit building blocks and Slack's documented limits (pure)."""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import Action
from bot.blocks.text import escaped, plain, truncate

Block = dict[str, Any]


# Slack's documented limits.
MAX_BLOCKS = 50


MAX_TEXT = 3000  # section text, context text, a message's top-level text (our own cap)


MAX_FIELDS = 10


MAX_FIELD_TEXT = 2000


MAX_HEADER = 150


MAX_BUTTON_TEXT = 75


MAX_ID = 255


MAX_URL = 3000


PERSON_PREVIEW = 60


LINK_LABEL = "Link my Cflow account"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(truncate(text, MAX_TEXT))}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(truncate(text, MAX_TEXT))]}


def button(label: str, action_id: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    """A button; `extra` adds style, url or confirm as Block Kit names them."""
    element: dict[str, Any] = {"type": "button", "text": plain_text(plain(label, MAX_BUTTON_TEXT))}
    element |= {"action_id": str(action_id), "value": value, **extra}
    return {key: item for key, item in element.items() if item is not None}


def link_button_block() -> Block:
    """The "Link my Cflow account" button (Action.LINK) on its own row."""
    link = button(LINK_LABEL, Action.LINK, style="primary")
    return {"type": "actions", "elements": [link]}


def mention(slack_user_id: str) -> str:
    """A Slack mention; an id that is not a plain user id is shown escaped instead."""
    if slack_user_id.isalnum() and slack_user_id.isascii():
        return f"<@{slack_user_id}>"
    return escaped(slack_user_id, PERSON_PREVIEW, single_line=True)


def text_size(payload: Any) -> int:
    """Characters of every `text` in a JSON tree: what Slack's message budget counts."""
    if isinstance(payload, dict):
        own = len(payload["text"]) if isinstance(payload.get("text"), str) else 0
        return own + sum(text_size(item) for item in payload.values())
    if isinstance(payload, list):
        return sum(text_size(item) for item in payload)
    return 0
