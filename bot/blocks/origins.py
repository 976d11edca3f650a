"""Where a request came from when it was made from a Slack message (pure).

The "Request approval" shortcut carries the message's place through the modals in
`private_metadata`; its link goes to Cflow with the request as the field `LINK_FIELD`
(Cflow's requests have no description, only fields), and its text is shown in the
form's first field as the person wrote it, not as Slack's markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from bot.blocks.command_text import readable
from bot.blocks.ids import USER_ID
from bot.blocks.primitives import context
from bot.blocks.text import clean, truncate

LINK_FIELD = "Slack message"  # the field that keeps the message's link with the request
TEXT_FIELD = "Message"  # where the text goes when a workflow's form names no field yet
# A mention as a message's text carries it: an id, with no name (`<@U123>`).
BARE_MENTION = re.compile(rf"<@({USER_ID.pattern})>")
MAX_MENTIONS = 10  # the people of a message whose names are looked up


class MessageOrigin(BaseModel):
    """A message's place: its channel, its ts, the thread it is in, and its permalink."""

    channel: str = Field(alias="c")
    ts: str = Field(alias="s")
    thread_ts: str | None = Field(default=None, alias="t")
    permalink: str = Field(alias="p")

    model_config = {"populate_by_name": True}

    @property
    def thread(self) -> str:
        """Where a reply to it goes: the thread it is in, or its own."""
        return self.thread_ts or self.ts


def mentioned_users(text: str) -> list[str]:
    """The people a message's text mentions by id alone, first ones first."""
    found = dict.fromkeys(BARE_MENTION.findall(text))
    return list(found)[:MAX_MENTIONS]


def message_text(text: str, names: Mapping[str, str], limit: int) -> str:
    """A message's text as its author wrote it: `<@U123>` as `@name` (from `names`,
    else the id), links as written, `&amp;` as `&`; cleaned and cut to `limit`."""
    named = BARE_MENTION.sub(lambda m: f"<@{m.group(1)}|{names.get(m.group(1), '')}>", text)
    return truncate(clean(readable(named)).strip(), limit)


def origin_note(origin: MessageOrigin) -> dict[str, Any]:
    """Where the request comes from, and that its link goes with it."""
    return context(
        f"From <{origin.permalink}|a message> in <#{origin.channel}>: its link goes with "
        f"the request as the field *{LINK_FIELD}*, and I reply in its thread."
    )
