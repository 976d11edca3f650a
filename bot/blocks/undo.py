"""The undo window in Slack (pure): the Undo button, a card while its request's decision
waits (bot.domain.pending), and the Undo of a bulk approval on the Home tab."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

from bot.blocks.card_view import CardView
from bot.blocks.ids import Action
from bot.blocks.primitives import Block, button
from bot.domain.pending import waiting, window_line
from bot.store.records import PendingDecision

UNDO_BLOCK = "cflow_undo"
UndoKind = Literal["p", "b"]


def undo_value(*, pending_id: int | None = None, batch_id: str | None = None) -> str:
    """What an Undo button carries: one pending decision ("p:12") or a batch ("b:…")."""
    return f"b:{batch_id}" if batch_id is not None else f"p:{pending_id}"


def read_undo(value: str | None) -> tuple[UndoKind, str] | None:
    """An Undo button's value read back; None for anything we did not send."""
    kind, _, key = (value or "").partition(":")
    if kind == "b" and key:
        return "b", key
    if kind == "p" and key.isdigit():
        return "p", key
    return None


def undo_block(value: str) -> Block:
    """The Undo button on its own row (a card's busy line says what it undoes)."""
    return {
        "type": "actions",
        "block_id": UNDO_BLOCK,
        "elements": [button("Undo", Action.UNDO, value)],
    }


def pending_view(view: CardView, pending: Iterable[PendingDecision], now: datetime) -> CardView:
    """`view` while a decision waits out its window on this very version of the request:
    "Approving as alice in 10 s" and Undo in place of its buttons. A busy line already
    there (a decision under way) stands."""
    found = waiting(pending, view.request) if view.busy is None else None
    if found is None:
        return view
    return replace(view, busy=window_line(found, now), undo=undo_value(pending_id=found.id))


def with_undo(blocks: Sequence[Block], value: str, after_text: str) -> list[Block]:
    """A Home tab's blocks with the Undo button right after the block whose text starts
    with `after_text` (its notice), or at the top when there is none."""
    at = next(
        (
            i + 1
            for i, block in enumerate(blocks)
            if str((block.get("text") or {}).get("text", "")).startswith(after_text)
        ),
        1,
    )
    return [*blocks[:at], undo_block(value), *blocks[at:]]
