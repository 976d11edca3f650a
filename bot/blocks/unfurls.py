"""Link previews of requests (pure): the card a channel would see, as an unfurl, and the
sharer's invitation to link their Cflow account first.

An unfurl is the request's channel card (bot.blocks.card, `in_channel`: only the fields
the workflow's policy lets a channel see), its blocks only: Slack shows an unfurl's
blocks under the person's message, which is its notification.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.messages import RELINK_TEXT
from bot.blocks.primitives import Block, link_button_block, section

LINK_FIRST = (
    "You shared a link to a Cflow request. Link your Cflow account to show everyone here "
    "a preview of it, read with your own Cflow access: nothing of it shows until you do."
)


def request_unfurl(card: dict[str, Any]) -> dict[str, Any]:
    """A rendered card (`request_card`) as the value of one URL in `chat.unfurl`'s
    `unfurls`."""
    return {"blocks": card["blocks"]}


def link_first_blocks() -> list[Block]:
    """The unlinked sharer's prompt (`user_auth_blocks`): its button opens the same
    `/cflow link` modal as everywhere else."""
    return [section(LINK_FIRST), link_button_block()]


def relink_first_blocks() -> list[Block]:
    """The prompt to a sharer whose linked key Cflow no longer accepts."""
    return [section(RELINK_TEXT), link_button_block()]
