"""A card's buttons, its busy line, and its invitations to (re)link (pure).

How a click names its request: every button carries `RequestRef.encode()` in `value`.
The overflow menu (Action.MORE) cannot (an option's value is limited to 150 characters
and holds the MoreOption), so the ref rides in the actions block's `block_id` instead;
the menu is left out when the ref is longer than a block_id allows (255), and Approve,
Reject and the menu are all left out when the ref is longer than a value allows (2,000).
`bot.blocks.ids.ref_from_action()` reads the ref back from either place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks.card_view import CardView
from bot.blocks.ids import Action, MoreOption
from bot.blocks.names import request_title
from bot.blocks.primitives import (
    LINK_LABEL,
    MAX_BLOCKS,
    MAX_ID,
    MAX_URL,
    Block,
    button,
    context,
    mention,
    plain_text,
    section,
)
from bot.blocks.text import escaped, plain
from bot.cflow.models import Request, Workflow
from bot.domain.policy import comment_required
from bot.domain.refs import MAX_VALUE, RequestRef, updated_mark
from bot.store.records import WorkflowPolicy

BUSY_BLOCK = "cflow_busy"


DECIDING = frozenset({Action.APPROVE, Action.REJECT, Action.MORE})


def card_ref(request: Request, workflow: Workflow) -> RequestRef:
    """What the card's buttons act on: this request at the stage the card shows."""
    return RequestRef(
        workflow_id=workflow.id,
        request_id=request.id,
        stage=request.current_stage,
        updated=updated_mark(request.updated_at),
    )


def can_decide(view: CardView, ref: RequestRef) -> bool:
    pending = view.request.is_pending and view.actionable and not view.invite_to_relink
    return pending and view.busy is None and not view.refused and ref.fits(MAX_VALUE)


def actions_block(view: CardView) -> Block | None:
    """Approve, Reject, More while the request waits; the Cflow link whenever known."""
    ref = card_ref(view.request, view.workflow)
    elements = _decision_elements(view, ref) if can_decide(view, ref) else []
    link = _open_button(view.cflow_url, ref)
    elements += [link] if link else []
    if not elements:
        return None
    block: Block = {"type": "actions", "elements": elements}
    if any(element["type"] == "overflow" for element in elements):
        block["block_id"] = ref.encode()
    return block


def _decision_elements(view: CardView, ref: RequestRef) -> list[dict[str, Any]]:
    value = ref.encode()
    title = request_title(view.request, view.workflow)
    elements = decision_buttons(value, title, view.policy)
    if len(value) <= MAX_ID:
        elements.append(_more_menu())
    return elements


def decision_buttons(value: str, title: str, policy: WorkflowPolicy | None) -> list[dict[str, Any]]:
    """Approve (asking first, unless a comment modal will) and Reject, on every surface."""
    asks_comment = policy is not None and comment_required(policy, "approve")
    confirm = None if asks_comment else approve_confirm(title)
    return [
        button("Approve", Action.APPROVE, value, style="primary", confirm=confirm),
        button("Reject", Action.REJECT, value, style="danger"),
    ]


def refused_note(refused: str) -> Block:
    """Why a request shows no decision buttons here (`refused` plain text, escaped)."""
    return context("🌐 " + escaped(refused, 500, single_line=True))


def approve_confirm(title: str) -> dict[str, Any]:
    """Approving cannot be undone from Slack, so it asks once (plain text: no markup)."""
    return {
        "title": plain_text("Approve this request?"),
        "text": plain_text(plain(f"Approve {title} in Cflow, as your linked Cflow user?", 300)),
        "confirm": plain_text("Approve"),
        "deny": plain_text("Cancel"),
    }


def _more_menu() -> dict[str, Any]:
    options = [
        (MoreOption.APPROVE_WITH_COMMENT, "Approve with comment…"),
        (MoreOption.REASSIGN, "Reassign…"),
    ]
    return {
        "type": "overflow",
        "action_id": str(Action.MORE),
        "options": [{"text": plain_text(text), "value": str(value)} for value, text in options],
    }


def _open_button(url: str | None, ref: RequestRef) -> dict[str, Any] | None:
    """A link button; Slack still sends the click, so listeners must ack OPEN_IN_CFLOW."""
    if not url or len(url) > MAX_URL:
        return None
    value = ref.encode() if ref.fits(MAX_VALUE) else None
    return button("Open in Cflow", Action.OPEN_IN_CFLOW, value, url=url)


def busy_block(busy: str, by: str | None = None) -> Block:
    """ "⏳ Approving as @bob" (`busy` escaped, `by` a Slack user id shown as a mention);
    its block_id lets a later update replace it."""
    line = "⏳ " + escaped(busy, 300, single_line=True)
    line += f" {mention(by)}" if by else ""
    return context(line) | {"block_id": BUSY_BLOCK}


def busy_blocks(blocks: Sequence[Block], busy: str, by: str | None = None) -> list[Block]:
    """A clicked card's own blocks, decision buttons removed and a busy line added.

    Shown the moment someone clicks, before Cflow answers: the listener has only the
    message Slack sent, not the request, so it edits that rather than rebuilding it.
    """
    kept = [b for b in map(_without_decisions, blocks) if b and b.get("block_id") != BUSY_BLOCK]
    kept = kept[: MAX_BLOCKS - 1]
    at = next((i for i, b in enumerate(kept) if b["type"] == "actions"), len(kept))
    return [*kept[:at], busy_block(busy, by), *kept[at:]]


def _without_decisions(block: Block) -> Block | None:
    """The block minus Approve, Reject and More; None when nothing else was in it."""
    if block.get("type") != "actions":
        return block
    elements = [e for e in block.get("elements", []) if e.get("action_id") not in DECIDING]
    return block | {"elements": elements} if elements else None


def invite_block() -> Block:
    text = (
        "You're a reviewer of this request. Link your Cflow account to approve or reject "
        "it right here in Slack, as yourself."
    )
    return section(text) | {"accessory": button(LINK_LABEL, Action.LINK, style="primary")}


def relink_block() -> Block:
    text = (
        "You're a reviewer of this request, but Cflow no longer accepts your linked user "
        "key. Link your Cflow account again to approve or reject it here."
    )
    return section(text) | {"accessory": button(LINK_LABEL, Action.LINK, style="primary")}
