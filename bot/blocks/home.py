"""The App Home tab: each person's approvals desk (pure).

What waits on them, oldest first, each with Approve, Reject and a checkbox for bulk
approval; what they submitted, with where it stands; who they are in Cflow. A checkbox
click re-renders the same blocks with the selection and its count (`with_selection`),
so the bulk button's confirm dialog can say how many, without asking Cflow again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.blocks.card_actions import card_ref, decision_buttons, refused_note
from bot.blocks.ids import Action
from bot.blocks.messages import RELINK_TEXT
from bot.blocks.names import person, request_title, status_word
from bot.blocks.preferences import settings_blocks
from bot.blocks.primitives import Block, button, context, link_button_block, plain_text, section
from bot.blocks.text import age, escaped, format_value
from bot.cflow.models import Request, Workflow
from bot.domain.policy import refusal
from bot.domain.refs import RequestRef
from bot.store.records import Preference, WorkflowPolicy

HOME_ITEM = "cflow_home_item"  # block_id prefix of a waiting request's section
BULK_BLOCK = "cflow_home_bulk"
PAGE_SIZE = 20  # waiting requests a page: 2 blocks each, within the tab's 100 blocks
SUBMITTED_SHOWN = 15
DRAFTS_HINT = "📝 Your drafts: `/cflow drafts` lists them, with Edit and Delete."
MAX_OPTION_VALUE = 150  # a checkbox option's value
KEY_FIELDS = 3


@dataclass(frozen=True)
class HomeDesk:
    """What the Home tab shows one person."""

    now: datetime
    username: str | None = None  # their Cflow username; None when not linked
    key_works: bool = True
    waiting: Sequence[tuple[Workflow, Request]] = ()  # oldest first
    submitted: Sequence[tuple[Workflow, Request]] = ()  # newest first
    unreadable: bool = False  # Cflow could not be read for them just now
    page: int = 1
    notice: Sequence[str] = field(default_factory=tuple)  # mrkdwn lines, already escaped
    preference: Preference | None = None  # how they are told; None: not shown
    policies: Mapping[str, WorkflowPolicy] = field(default_factory=dict)  # by workflow id


def home_view(desk: HomeDesk) -> dict[str, Any]:
    header: Block = {"type": "header", "text": plain_text("Your Cflow approvals")}
    blocks = [header, *_status_blocks(desk)]
    if desk.notice:
        blocks.append(section("\n".join(desk.notice)[:2900]))
    if desk.username and desk.key_works:
        blocks += _waiting_blocks(desk)
        blocks += _submitted_blocks(desk)
    if desk.preference is not None:
        blocks += settings_blocks(desk.preference, desk.now)
    blocks += [{"type": "divider"}, _usage_block()]
    return {"type": "home", "blocks": blocks[:100], "private_metadata": str(desk.page)}


def _status_blocks(desk: HomeDesk) -> list[Block]:
    if not desk.key_works:
        return [section(f"⚠️ {RELINK_TEXT}"), link_button_block()]
    if not desk.username:
        text = (
            "You haven't linked your Cflow account yet: link it to see what waits on you "
            "here, and to approve and reject from Slack as yourself."
        )
        return [section(text), link_button_block()]
    lines = [f"✅ You're linked to Cflow as *{person(desk.username)}*."]
    if desk.unreadable:
        lines.append("⚠️ Cflow did not answer just now: what follows may be incomplete.")
    return [context(" ".join(lines))]


def _waiting_blocks(desk: HomeDesk) -> list[Block]:
    total = len(desk.waiting)
    if not total:
        return [{"type": "divider"}, section("*Waiting for you*: nothing. 🎉")]
    pages = -(-total // PAGE_SIZE)
    page = min(max(desk.page, 1), pages)
    shown = desk.waiting[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    blocks: list[Block] = [
        {"type": "divider"},
        section(f"*Waiting for you* ({total}), oldest first"),
        bulk_block(0),
    ]
    for workflow, request in shown:
        policy = desk.policies.get(workflow.id)
        blocks += _item_blocks(workflow, request, desk.now, policy, desk.username)
    if page < pages:
        more = button("Show more", Action.HOME_PAGE, str(page + 1))
        blocks += [{"type": "actions", "elements": [more]}, context(f"Page {page} of {pages}.")]
    elif page > 1:
        first = button("Back to the first page", Action.HOME_PAGE, "1")
        blocks.append({"type": "actions", "elements": [first]})
    return blocks


def bulk_block(selected: int) -> Block:
    """ "Approve N selected", with a confirm dialog that says how many."""
    if not selected:
        return context("Tick requests to approve several at once.") | {"block_id": BULK_BLOCK}
    noun = "request" if selected == 1 else "requests"
    confirm = {
        "title": plain_text("Approve them all?"),
        "text": plain_text(f"Approve these {selected} {noun} in Cflow, as your linked user?"),
        "confirm": plain_text(f"Approve {selected}"),
        "deny": plain_text("Cancel"),
    }
    approve = button(
        f"Approve {selected} selected", Action.HOME_APPROVE_SELECTED, str(selected), style="primary"
    )
    clear = button("Clear selection", Action.HOME_CLEAR)
    return {
        "type": "actions",
        "block_id": BULK_BLOCK,
        "elements": [approve | {"confirm": confirm}, clear],
    }


def _item_blocks(
    workflow: Workflow,
    request: Request,
    now: datetime,
    policy: WorkflowPolicy | None = None,
    reader: str | None = None,
) -> list[Block]:
    """One waiting request: ticked for bulk approval and decided here, unless its
    workflow's policy keeps it (or this reader) out of Slack: then why, and its details."""
    ref = card_ref(request, workflow)
    found = refusal(policy, request, reader) if policy else None
    title = request_title(request, workflow)
    when = age(request.created_at, now) if request.created_at else "some time ago"
    stage = workflow.find_stage(request.current_stage)
    lines = [
        f"*{escaped(title, 150)}*",
        f"from {escaped(request.submitted_by or 'someone', 80)} · {when}"
        + (f" · at {escaped(stage.label, 80)}" if stage else ""),
    ]
    fields = list(request.fields.items())[:KEY_FIELDS]
    if fields:
        shown = (
            f"{escaped(k, 40, single_line=True)}: {escaped(format_value(v), 80)}" for k, v in fields
        )
        lines.append(" · ".join(shown))
    item = section("\n".join(lines)) | {"block_id": f"{HOME_ITEM}:{request.id}"[:255]}
    value = ref.encode()
    if found is not None:
        details = button("Details", Action.HOME_DETAILS, value) if ref.fits() else None
        actions = [{"type": "actions", "elements": [details]}] if details else []
        return [item, refused_note(found.text), *actions]
    if len(value) <= MAX_OPTION_VALUE:
        option = {"text": plain_text("Select"), "value": value}
        item["accessory"] = {
            "type": "checkboxes",
            "action_id": str(Action.HOME_SELECT),
            "options": [option],
        }
    if not ref.fits():
        return [item]
    actions = [
        *decision_buttons(value, title, policy),
        button("Details", Action.HOME_DETAILS, value),
    ]
    return [item, {"type": "actions", "elements": actions}]


def _submitted_blocks(desk: HomeDesk) -> list[Block]:
    """Where their requests stand; their drafts only their own key can read, on asking."""
    blocks: list[Block] = [{"type": "divider"}, section("*Submitted by you*")]
    lines = [_submitted_line(w, r, desk.now) for w, r in desk.submitted[:SUBMITTED_SHOWN]]
    if lines:
        blocks.append(section("\n".join(lines)[:2900]))
    blocks.append(context(DRAFTS_HINT))
    return blocks


def _submitted_line(workflow: Workflow, request: Request, now: datetime) -> str:
    title = escaped(request_title(request, workflow), 120)
    if not request.is_pending:
        return f"• *{title}* · {escaped(status_word(request.status or 'unknown'), 40)}"
    stage = workflow.find_stage(request.current_stage)
    who = ", ".join(escaped(n, 40) for n in request.reviewers(workflow)[:3]) or "nobody yet"
    since = age(request.updated_at, now) if request.updated_at else "a while"
    where = escaped(stage.label, 60) if stage else "its current stage"
    return f"• *{title}* · at {where}, waiting on {who} since {since}"


def with_selection(blocks: Iterable[Block], selected: set[str]) -> list[Block]:
    """The same Home blocks with these checkboxes ticked and the bulk bar counting them."""
    shown = []
    for block in blocks:
        accessory = block.get("accessory") or {}
        if block.get("block_id") == BULK_BLOCK:
            block = bulk_block(len(selected))
        elif accessory.get("type") == "checkboxes":
            ticked = [o for o in accessory.get("options", []) if o.get("value") in selected]
            box = {k: v for k, v in accessory.items() if k != "initial_options"}
            block = block | {"accessory": box | ({"initial_options": ticked} if ticked else {})}
        shown.append(block)
    return shown


def selected_refs(view_state: dict[str, Any]) -> list[RequestRef]:
    """The requests ticked on the Home tab, from the view state Slack sends with a click."""
    refs = []
    for block_id, elements in (view_state.get("values") or {}).items():
        state = elements.get(str(Action.HOME_SELECT)) or {}
        if not block_id.startswith(HOME_ITEM):
            continue
        for option in state.get("selected_options") or []:
            ref = RequestRef.decode(option.get("value"))
            if ref is not None:
                refs.append(ref)
    return refs


def _usage_block() -> Block:
    return section(
        "*How to use it*\n"
        "• Request cards arrive in your DMs and in your workflows' channels: "
        "Approve, Reject, or ⋯ for more.\n"
        "• `/cflow pending` lists what is waiting on you; `/cflow digest` DMs it to you.\n"
        "• `/cflow notify` sets how you are told: a DM each, one digest a day, or none.\n"
        "• `/cflow show 103` shows one request.\n"
        "• `/cflow link` links your Cflow account; `/cflow help` tells the rest."
    )
