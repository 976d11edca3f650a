"""The Undo button of a decision waiting out its undo window (bot.people.undo): on a
card, on the Home tab (one request, or a bulk approval's batch)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.blocks.ids import Action
from bot.inbound.common import Track, say_privately
from bot.inbound.subcommands import Tools
from bot.people.undo import UndoWindows


def register(app: AsyncApp, track: Track) -> None:
    app.action(Action.UNDO)(track(undo_decision))


async def undo_decision(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    undo: UndoWindows,
    tools: Tools,
) -> None:
    """Anyone may click it; only the clicker's works, and only before it is made. Either
    way the answer is private: the cards say what the decision is, for everyone."""
    await ack()
    user = body["user"]["id"]
    text, _ = await undo.cancel(user, action.get("value"))
    if (body.get("view") or {}).get("type") == "home":
        await tools.home.publish(user, notice=[text])
        return
    await say_privately(respond, {"text": text})
