"""The request card: where a request stands, its path, its fields, and what to do (pure).

Every function is pure (data in, JSON out), so cards are tested without Slack. Every
Cflow-originated string is escaped before it enters mrkdwn, and every Block Kit limit
holds whatever Cflow sends: long texts are truncated, and fields and stages that do not
fit are summarised ("…and 12 more fields in Cflow").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.blocks.card_actions import (
    actions_block,
    busy_block,
    invite_block,
    refused_note,
    relink_block,
)
from bot.blocks.card_view import ALL_DONE, STATUS_LINES, CardView, by_line, latest
from bot.blocks.names import (
    NAME_PREVIEW,
    bold_title,
    current_label,
    inline_quote,
    people,
    person,
    quote,
    request_title,
    stage_label,
    state_phrase,
)
from bot.blocks.primitives import (
    MAX_BLOCKS,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_TEXT,
    Block,
    context,
    mrkdwn,
    plain_text,
    section,
    text_size,
)
from bot.blocks.text import age, escaped, format_value, plain, truncate
from bot.blocks.undo import undo_block
from bot.cflow.models import DRAFT, PENDING, Request, Stage, Workflow
from bot.store.records import Decision

# Slack also refuses a message whose texts add up to more than about 12,000 characters
# (`msg_blocks_too_long`, undocumented): the card keeps well under it.
TEXT_BUDGET = 10_000


KEY_PREVIEW = 100


VALUE_PREVIEW = 500


STAGE_COMMENT_PREVIEW = 150


STAGE_LINE = 300


SHOWN_FIELDS = 30


NOTICE_PREVIEW = 1000


def _status_line(view: CardView) -> str:
    """One line saying where the request stands, with the rejection reason if known."""
    status = view.request.status
    if status == PENDING:
        return _waiting_line(view.request, view.workflow)
    if status == "rejected":
        return "❌ Rejected" + _rejection(view.decisions, view.shows_comments)
    if status in STATUS_LINES:
        return STATUS_LINES[status]
    shown = escaped(status, NAME_PREVIEW, single_line=True) if status else "unknown"
    return f"ℹ️ Status: *{shown}*"


def _waiting_line(request: Request, workflow: Workflow) -> str:
    """ "⏳ Waiting for *bob* at *Manager review*", with whichever parts are known."""
    line = "⏳ Waiting"
    reviewers = request.reviewers(workflow)
    if reviewers:
        line += f" for {people(reviewers)}"
    stage = current_label(request, workflow)
    if stage:
        line += f" at *{stage}*"
    return line if line != "⏳ Waiting" else "⏳ Waiting for review"


def _rejection(decisions: Sequence[Decision], with_reason: bool = True) -> str:
    """ " by *bob*" and the reason as a quote (where it may be shown), when the bot knows
    who rejected it."""
    decision = latest(decisions, ["rejected"])
    if not decision:
        return ""
    who = f" by *{person(decision.cflow_username)}*" if decision.cflow_username else ""
    reason = decision.comment if with_reason else None
    return who + (f"\n{quote(reason)}" if reason else "")


def _submitted_line(request: Request, now: datetime) -> str | None:
    """ "Submitted by *dave* · 2 days ago"; None when Cflow sent neither part."""
    parts = []
    if request.submitted_by:
        parts.append(f"Submitted by *{person(request.submitted_by)}*")
    if request.created_at:
        parts.append(("" if parts else "Submitted ") + age(request.created_at, now))
    return " · ".join(parts) or None


def _stage_states(view: CardView, stages: Sequence[Stage]) -> list[str]:
    """done / current / rejected / todo for each stage, in order."""
    status, count = view.request.status, len(stages)
    if status in ALL_DONE:
        return ["done"] * count
    at = None if status == DRAFT else _stop_index(view, stages)
    if at is None:
        return ["todo"] * count
    here = "rejected" if status == "rejected" else "current"
    return ["done"] * at + [here] + ["todo"] * (count - at - 1)


def _stop_index(view: CardView, stages: Sequence[Stage]) -> int | None:
    """Where the request is (or stopped, when rejected) in the ordered stages."""
    ref = view.request.current_stage
    if not ref and view.request.status == "rejected":
        rejection = latest(view.decisions, ["rejected"])
        ref = rejection.stage if rejection else None
    stage = view.workflow.find_stage(ref)
    return next((i for i, s in enumerate(stages) if s is stage), None)


def _stage_line(view: CardView, stage: Stage, state: str) -> str:
    label = stage_label(stage)
    if state == "done":
        return f"✓ {label}{_done_detail(view.decisions, stage, view.shows_comments)}"
    if state == "rejected":
        return f"✗ *{label}*{_rejected_detail(view.decisions, stage, view.shows_comments)}"
    if state == "current":
        return f"▶ *{label}*{_current_detail(view)}"
    return f"○ {label}"


def _done_detail(decisions: Sequence[Decision], stage: Stage, comments: bool) -> str:
    """ " — approved by bob: “Looks good”" from what the bot saw at this stage."""
    decision = latest(decisions, ["approved", "moved", "final"], stage)
    if not decision:
        return ""
    verb = "approved" if decision.action == "approved" else "approved in Cflow"
    return f" — {verb}{by_line(decision)}{_stage_comment(decision) if comments else ''}"


def _rejected_detail(decisions: Sequence[Decision], stage: Stage, comments: bool) -> str:
    decision = latest(decisions, ["rejected"], stage) or latest(decisions, ["rejected"])
    if not decision:
        return ""
    return f" — rejected{by_line(decision)}{_stage_comment(decision) if comments else ''}"


def _current_detail(view: CardView) -> str:
    if not view.request.is_pending:
        return ""
    reviewers = view.request.reviewers(view.workflow)
    return f" — waiting for {people(reviewers, bold=False)}" if reviewers else " — waiting"


def _stage_comment(decision: Decision) -> str:
    if not decision.comment:
        return ""
    return f": {inline_quote(decision.comment, STAGE_COMMENT_PREVIEW)}"


def _path_block(view: CardView) -> Block | None:
    """Every stage in order with its mark; the middle of a very long path is elided."""
    stages = view.workflow.ordered_stages
    if not stages:
        return None
    states = _stage_states(view, stages)
    pairs = zip(stages, states, strict=True)
    lines = [truncate(_stage_line(view, stage, state), STAGE_LINE) for stage, state in pairs]
    focus = next((i for i, st in enumerate(states) if st in ("current", "rejected")), 0)
    return section(fit_lines(lines, focus, MAX_TEXT))


def fit_lines(lines: Sequence[str], focus: int, limit: int) -> str:
    """Join lines within `limit`, keeping those nearest `focus` and counting the rest."""
    if len("\n".join(lines)) <= limit:
        return "\n".join(lines)
    lo, hi = _window([len(line) for line in lines], focus, limit - 80)
    before = [f"⋯ {lo} earlier stage{'s' if lo > 1 else ''}"] if lo else []
    rest = len(lines) - hi
    after = [f"⋯ {rest} later stage{'s' if rest > 1 else ''}"] if rest else []
    return truncate("\n".join([*before, *lines[lo:hi], *after]), limit)


def _window(sizes: Sequence[int], focus: int, room: int) -> tuple[int, int]:
    """The widest run of lines around `focus` whose joined length fits in `room`."""
    lo, hi, used = focus, focus + 1, sizes[focus]
    while True:
        near = [i for i in (lo - 1, hi) if 0 <= i < len(sizes) and used + sizes[i] < room]
        if not near:
            return lo, hi
        index = min(near, key=lambda i: abs(i - focus))
        used += sizes[index] + 1
        lo, hi = min(lo, index), max(hi, index + 1)


def _field_text(key: str, value: Any) -> str:
    """ "*Key*\\nvalue", escaped; blank parts show a dash so no text is ever empty."""
    name = escaped(key, KEY_PREVIEW, single_line=True).strip() or "—"
    shown = escaped(format_value(value), VALUE_PREVIEW).strip() or "—"
    return truncate(f"*{name}*\n{shown}", MAX_FIELD_TEXT)


def _field_blocks(fields: dict[str, Any], room: int, budget: int) -> list[Block]:
    """Sections of up to 10 fields, as many as fit; a context line counts the rest."""
    texts = [_field_text(str(key), value) for key, value in fields.items()]
    cap = min(SHOWN_FIELDS, max(room - 1, 0) * MAX_FIELDS)
    shown = _fitting(texts[:cap], budget - 60)
    blocks: list[Block] = [
        {"type": "section", "fields": [mrkdwn(text) for text in shown[i : i + MAX_FIELDS]]}
        for i in range(0, len(shown), MAX_FIELDS)
    ]
    hidden = len(texts) - len(shown)
    if hidden and room > len(blocks):
        blocks.append(context(f"…and {hidden} more field{'s' if hidden > 1 else ''} in Cflow"))
    return blocks


def _fitting(texts: Sequence[str], budget: int) -> list[str]:
    """The leading texts whose total length stays within `budget` (order is kept)."""
    shown: list[str] = []
    for text in texts:
        budget -= len(text)
        if budget < 0:
            break
        shown.append(text)
    return shown


def request_card(view: CardView) -> dict[str, Any]:
    """A request as a message: where it stands, its path, its fields, and what to do."""
    head = _head_blocks(view)
    tail = _tail_blocks(view)
    room = MAX_BLOCKS - len(head) - len(tail)
    budget = TEXT_BUDGET - text_size(head) - text_size(tail)
    fields = _field_blocks(view.fields, room, budget)
    return {"text": notification_text(view), "blocks": [*head, *fields, *tail]}


def _head_blocks(view: CardView) -> list[Block]:
    title = plain(request_title(view.request, view.workflow, " · "), MAX_HEADER)
    blocks = [{"type": "header", "text": plain_text(title)}, section(_status_line(view))]
    submitted = _submitted_line(view.request, view.now)
    if submitted:
        blocks.append(context(submitted))
    path = _path_block(view)
    return blocks + ([path] if path else [])


def _tail_blocks(view: CardView) -> list[Block]:
    blocks = []
    if view.away and view.request.is_pending:
        gone = ", ".join(f"{person(name)} until {when}" for name, when in view.away[:5])
        blocks.append(context(truncate(f"🌴 Away: {gone}", NOTICE_PREVIEW)))
    if view.notice:
        blocks.append(context(truncate(view.notice, NOTICE_PREVIEW)))
    if view.refused:
        blocks.append(refused_note(view.refused))
    if view.rules:
        blocks.append(context("📋 " + escaped(view.rules, NOTICE_PREVIEW, single_line=True)))
    if view.busy:
        blocks.append(busy_block(view.busy))
    if view.undo:
        blocks.append(undo_block(view.undo))
    if view.invite_to_link:
        blocks.append(invite_block())
    if view.invite_to_relink and view.request.is_pending and view.actionable:
        blocks.append(relink_block())
    actions = actions_block(view)
    return blocks + ([actions] if actions else [])


def notification_text(view: CardView) -> str:
    """The message's `text`: what a notification or a screen reader says."""
    request, title = view.request, bold_title(view.request, view.workflow)
    if request.status == PENDING:
        return truncate(title + _pending_summary(request, view.workflow), MAX_TEXT)
    return truncate(f"{title} {state_phrase(request.status)}", MAX_TEXT)


def _pending_summary(request: Request, workflow: Workflow) -> str:
    sender = f" from {person(request.submitted_by)}" if request.submitted_by else ""
    reviewers = request.reviewers(workflow)
    waiting = f" for {people(reviewers, bold=False)}" if reviewers else ""
    return f"{sender} is waiting{waiting}"
