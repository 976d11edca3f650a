"""PURE: the admins' DM about a workflow no channel shows yet, and the channel picker."""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import Action, Input, View
from bot.blocks.modals import ViewPayload, modal
from bot.blocks.names import NAME_PREVIEW
from bot.blocks.primitives import button, context, plain_text, section
from bot.blocks.text import escaped

Message = dict[str, Any]


def route_question(workflow_id: str, name: str, default_channel: str | None) -> Message:
    """Asks the admins where a new workflow's cards go; until one answers, none does."""
    label = escaped(name or workflow_id, NAME_PREVIEW, single_line=True)
    text = f"New in Cflow: *{label}*. No channel shows its requests until an admin chooses."
    choices = []
    if default_channel:
        choices.append(button("Post in the default channel", Action.ROUTE_DEFAULT, workflow_id))
    choices += [
        button("Choose a channel…", Action.ROUTE_CHOOSE, workflow_id),
        button("Keep to DMs", Action.ROUTE_DMS, workflow_id),
    ]
    where = f" (<#{default_channel}>)" if default_channel else ""
    blocks = [
        section(text),
        context(
            f"Its reviewers get their DMs meanwhile. The default channel{where} is"
            " `CFLOW_NOTIFY_CHANNEL`; `/cflow subscribe` routes it too."
        ),
        {"type": "actions", "elements": choices},
    ]
    return {"text": f"New in Cflow: {label}: where should its cards go?", "blocks": blocks}


def route_answered(workflow_id: str, name: str, where: str, by: str | None) -> Message:
    """The same DM once an admin has chosen: no buttons left to press."""
    label = escaped(name or workflow_id, NAME_PREVIEW, single_line=True)
    who = f" (chosen by <@{by}>)" if by else ""
    text = f"*{label}*: {where}{who}."
    return {"text": text, "blocks": [section(text)]}


def route_modal(workflow_id: str, name: str) -> ViewPayload:
    """A channel for the workflow's cards (Slack's own channel picker)."""
    label = escaped(name or workflow_id, NAME_PREVIEW, single_line=True)
    picker: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": str(Input.ROUTE_CHANNEL),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    blocks = [
        section(f"Where should the cards of *{label}* go?"),
        {
            "type": "input",
            "block_id": str(Input.ROUTE_CHANNEL),
            "label": plain_text("Channel"),
            "element": picker,
        },
    ]
    return modal(
        View.ROUTE, "Route a workflow", blocks, submit="Route", private_metadata=workflow_id
    )


def where_text(route: str, channel: str | None) -> str:
    if route == "dms" or not channel:
        return "its cards go to no channel, only to its reviewers' DMs"
    return f"its cards go to <#{channel}>"
