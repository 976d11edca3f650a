"""Block Kit for `/cflow` answers that list things (pure: data in, JSON out).

Lists page instead of being cut: each page holds what fits within Block Kit's limits,
and a "Show more" button (or the command for the next page) says what is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.blocks.card_actions import decision_buttons, refused_note
from bot.blocks.ids import Action
from bot.blocks.names import request_title
from bot.blocks.primitives import button, context, section
from bot.blocks.text import age, escaped
from bot.cflow.models import Request, Role, User, Workflow
from bot.domain.policy import refusal
from bot.domain.refs import RequestRef
from bot.store.records import Subscription, WorkflowPolicy

# The block_id of a listed request's buttons: "cflow_pending:<n>:<page> <scope>", so a
# click can list that page again in place of the ephemeral answer it came from.
PENDING_BLOCK = "cflow_pending"
MAX_BLOCK_ID = 255
PAGE_SIZE = 10  # requests a page: header, 2 blocks each, paging: well under 50 blocks
LINES_PER_PAGE = 40
MAX_LINE = 300


def _page(items: Sequence[Any], page: int, size: int) -> tuple[Sequence[Any], int]:
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    return items[(page - 1) * size : page * size], pages


def _more(page: int, pages: int, command: str) -> list[dict[str, Any]]:
    if page >= pages:
        return []
    return [context(f"Page {page} of {pages}: `/cflow {command} {page + 1}` shows more.")]


def lines_message(
    title: str, lines: Sequence[str], *, page: int = 1, command: str = ""
) -> dict[str, Any]:
    """A titled list of mrkdwn lines (already escaped), paged."""
    if not lines:
        return {"text": f"{title}: none.", "blocks": [section(f"*{title}*: none.")]}
    shown, pages = _page(lines, page, LINES_PER_PAGE)
    blocks = [section(f"*{title}*")]
    chunk: list[str] = []
    for line in shown:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    blocks.append(section("\n".join(chunk)))
    return {"text": title, "blocks": blocks + _more(min(page, pages), pages, command)}


def workflow_line(workflow: Workflow) -> str:
    stages = " → ".join(
        f"{escaped(stage.label, 60)} ({escaped(', '.join(stage.reviewers) or 'nobody', 80)})"
        for stage in workflow.ordered_stages
    )
    head = f"*{escaped(workflow.label, 80)}* (`{escaped(workflow.id, 40)}`)"
    line = f"{head} · {escaped(workflow.status or 'active', 20)}: {stages or 'no stages'}"
    return line[:MAX_LINE]


def user_line(user: User) -> str:
    parts = [f"*{escaped(user.username, 80)}*"]
    parts += [escaped(value, 80) for value in (user.email, user.role, user.status) if value]
    return " · ".join(parts)[:MAX_LINE]


def role_line(role: Role) -> str:
    permissions = role.permissions.model_dump(exclude_none=True) if role.permissions else {}
    shown = ", ".join(f"{escaped(k, 20)}: {escaped(str(v), 40)}" for k, v in permissions.items())
    return f"*{escaped(role.name, 80)}*" + (f" · {shown}" if shown else "")


def subscription_line(subscription: Subscription, workflow: Workflow | None) -> str:
    name = escaped(workflow.label, 80) if workflow else f"`{escaped(subscription.workflow_id, 40)}`"
    return f"{name} → <#{subscription.channel_id}>"


def pending_message(
    items: Sequence[tuple[Workflow, Request]],
    *,
    title: str,
    now: datetime,
    page: int,
    scope: str,
    policies: Mapping[str, WorkflowPolicy] | None = None,
    reader: str | None = None,
) -> dict[str, Any]:
    """Requests, oldest first, each with Approve and Reject (or why it is decided in Cflow,
    under its workflow's policy, for `reader`); paged with "Show more"."""
    if not items:
        return {"text": f"{title}: nothing.", "blocks": [section(f"*{title}*: nothing waiting.")]}
    shown, pages = _page(items, page, PAGE_SIZE)
    page = min(max(page, 1), pages)
    blocks: list[dict[str, Any]] = [section(f"*{title}* ({len(items)})")]
    for index, (workflow, request) in enumerate(shown):
        listed_as = f"{PENDING_BLOCK}:{index}:{page} {scope}"[:MAX_BLOCK_ID]
        policy = (policies or {}).get(workflow.id)
        blocks += _pending_item(workflow, request, now, listed_as, policy, reader)
    if page < pages:
        more = button("Show more", Action.SHOW_MORE, f"{page + 1} {scope}"[:2000])
        blocks.append({"type": "actions", "elements": [more]})
        blocks.append(context(f"Page {page} of {pages}."))
    return {"text": f"{title} ({len(items)})", "blocks": blocks}


def listed_page(block_id: str | None) -> str | None:
    """ "<page> <scope>" when a button was clicked in a `/cflow pending` list, else None."""
    parts = (block_id or "").split(":", 2)
    return parts[2] if len(parts) == 3 and parts[0] == PENDING_BLOCK else None


def _pending_item(
    workflow: Workflow,
    request: Request,
    now: datetime,
    block_id: str,
    policy: WorkflowPolicy | None = None,
    reader: str | None = None,
) -> list[dict[str, Any]]:
    stage = workflow.find_stage(request.current_stage)
    when = age(request.created_at, now) if request.created_at else "some time ago"
    text = (
        f"*{escaped(request_title(request, workflow), 150)}* · "
        f"from {escaped(request.submitted_by or 'someone', 80)} · {when}"
        f" · at {escaped(stage.label if stage else request.current_stage or '?', 80)}"
    )
    ref = RequestRef(workflow_id=workflow.id, request_id=request.id, stage=request.current_stage)
    found = refusal(policy, request, reader) if policy else None
    if found is not None:
        return [section(text), refused_note(found.text)]
    if not ref.fits():
        return [section(text)]
    actions = decision_buttons(ref.encode(), request_title(request, workflow), policy)
    return [section(text), {"type": "actions", "block_id": block_id, "elements": actions}]


def drafts_message(items: Sequence[tuple[Workflow, Request]]) -> dict[str, Any]:
    """My drafts, each with Edit and Delete (which asks first)."""
    if not items:
        return {"text": "No drafts.", "blocks": [section("*Your drafts*: none.")]}
    blocks: list[dict[str, Any]] = [section(f"*Your drafts* ({len(items)})")]
    for workflow, request in items[: PAGE_SIZE * 2]:
        ref = RequestRef(workflow_id=workflow.id, request_id=request.id)
        summary = ", ".join(f"{k}: {v}" for k, v in list(request.fields.items())[:4])
        text = f"*{escaped(request_title(request, workflow), 150)}* · {escaped(summary, 500)}"
        confirm = {
            "title": {"type": "plain_text", "text": "Delete this draft?"},
            "text": {"type": "plain_text", "text": "Cflow deletes it for good."},
            "confirm": {"type": "plain_text", "text": "Delete"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        }
        actions = [
            button("Edit", Action.EDIT_DRAFT, ref.encode()),
            button("Delete", Action.DELETE_DRAFT, ref.encode(), style="danger", confirm=confirm),
        ]
        blocks += [section(text), {"type": "actions", "elements": actions}]
    if len(items) > PAGE_SIZE * 2:
        blocks.append(context(f"…and {len(items) - PAGE_SIZE * 2} more drafts in Cflow."))
    return {"text": f"Your drafts ({len(items)})", "blocks": blocks}
