"""The App Home tab (pure)."""

from __future__ import annotations

from typing import Any

from bot.slack.messages import RELINK_TEXT
from bot.slack.names import person
from bot.slack.primitives import Block, link_button_block, plain_text, section


def home_view(link_username: str | None, *, key_works: bool = True) -> dict[str, Any]:
    """The App Home: who you are in Cflow, and how to use the bot."""
    if not key_works:
        blocks = [section(f"⚠️ {RELINK_TEXT}"), link_button_block()]
    elif link_username:
        status = f"✅ You're linked to Cflow as *{person(link_username)}*."
        blocks = [section(status)]
    else:
        status = "You haven't linked your Cflow account yet: link it to decide from Slack."
        blocks = [section(status), link_button_block()]
    header = {"type": "header", "text": plain_text("Cflow approvals")}
    return {"type": "home", "blocks": [header, *blocks, {"type": "divider"}, _usage_block()]}


def _usage_block() -> Block:
    return section(
        "*How to use it*\n"
        "• Request cards arrive here and in your workflows' channels: "
        "Approve, Reject, or ⋯ for more.\n"
        "• `/cflow pending` lists what is waiting on you.\n"
        "• `/cflow show 103` shows one request.\n"
        "• `/cflow link` links your Cflow account; `/cflow help` tells the rest."
    )
