"""Block Kit payloads for messages: the request card, audit lines, DMs and the Home tab.

Every function is pure (data in, JSON out), so cards are tested without Slack. Every
Cflow-originated string is escaped before it enters mrkdwn, and every Block Kit limit
holds whatever Cflow sends: long texts are truncated, and fields and stages that do not
fit are summarised ("…and 12 more fields in Cflow").

How a click names its request: every button carries `RequestRef.encode()` in `value`.
The overflow menu (Action.MORE) cannot (an option's value is limited to 150 characters
and holds the MoreOption), so the ref rides in the actions block's `block_id` instead;
the menu is left out when the ref is longer than a block_id allows (255), and Approve,
Reject and the menu are all left out when the ref is longer than a value allows (2,000).
`ref_from_action()` reads the ref back from either place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.cflow.models import DRAFT, PENDING, Request, Stage, Workflow
from bot.slack.ids import MAX_VALUE, Action, MoreOption, RequestRef, updated_mark
from bot.slack.text import age, aware, escaped, format_value, plain, truncate
from bot.store.base import Decision

Block = dict[str, Any]

# Slack's documented limits.
MAX_BLOCKS = 50
MAX_TEXT = 3000  # section text, context text, a message's top-level text (our own cap)
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_ID = 255
MAX_URL = 3000
# Slack also refuses a message whose texts add up to more than about 12,000 characters
# (`msg_blocks_too_long`, undocumented): the card keeps well under it.
TEXT_BUDGET = 10_000

# How much of each Cflow text a card shows: enough to decide, short enough to scan.
NAME_PREVIEW = 100
ID_PREVIEW = 40
PERSON_PREVIEW = 60
PEOPLE_SHOWN = 5
KEY_PREVIEW = 100
VALUE_PREVIEW = 500
COMMENT_PREVIEW = 1000
STAGE_COMMENT_PREVIEW = 150
STAGE_LINE = 300
SHOWN_FIELDS = 30
NOTICE_PREVIEW = 1000

STATUS_LINES = {"approved": "✅ Approved", "completed": "✔️ Completed", DRAFT: "📝 Draft"}
ALL_DONE = frozenset({"approved", "completed"})
LINK_LABEL = "Link my Cflow account"
BUSY_BLOCK = "cflow_busy"
DECIDING = frozenset({Action.APPROVE, Action.REJECT, Action.MORE})


@dataclass(frozen=True)
class CardView:
    """Everything a request card shows; `notice` is bot-written mrkdwn and not escaped."""

    request: Request
    workflow: Workflow
    now: datetime
    decisions: Sequence[Decision] = ()
    cflow_url: str | None = None
    busy: str | None = None
    invite_to_link: bool = False
    invite_to_relink: bool = False  # their linked key stopped working: no buttons, relink
    notice: str | None = None
    actionable: bool = True  # False on a DM whose reader is not a reviewer of this stage


# --- Block Kit primitives ---------------------------------------------------------------


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(truncate(text, MAX_TEXT))}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(truncate(text, MAX_TEXT))]}


def button(label: str, action_id: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    """A button; `extra` adds style, url or confirm as Block Kit names them."""
    element = {"type": "button", "text": plain_text(plain(label, MAX_BUTTON_TEXT))}
    element |= {"action_id": str(action_id), "value": value, **extra}
    return {key: item for key, item in element.items() if item is not None}


def link_button_block() -> Block:
    """The "Link my Cflow account" button (Action.LINK) on its own row."""
    link = button(LINK_LABEL, Action.LINK, style="primary")
    return {"type": "actions", "elements": [link]}


# --- Names ------------------------------------------------------------------------------


def request_title(request: Request, workflow: Workflow, separator: str = " ") -> str:
    """ "Purchase Order #103" as plain text (escape it for mrkdwn), bounded in length."""
    name = plain(workflow.label, NAME_PREVIEW).strip() or "Cflow request"
    return f"{name}{separator}#{plain(request.id, ID_PREVIEW).strip() or '?'}"


def _title(request: Request, workflow: Workflow) -> str:
    """The request's title, escaped for mrkdwn."""
    return escaped(request_title(request, workflow), MAX_TEXT)


def _person(name: str) -> str:
    """A Cflow username, escaped and kept to one short line."""
    return escaped(name, PERSON_PREVIEW, single_line=True)


def _people(names: Sequence[str], *, bold: bool = True) -> str:
    """ "*bob*, *carol* and 3 others": a stage may list many reviewers."""
    mark = "*" if bold else ""
    shown = [f"{mark}{_person(name)}{mark}" for name in names[:PEOPLE_SHOWN]]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} other{'s' if rest > 1 else ''}"
    return " and ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else "".join(shown)


def _stage_label(stage: Stage) -> str:
    return escaped(stage.label, NAME_PREVIEW, single_line=True)


def _current_label(request: Request, workflow: Workflow) -> str | None:
    """The current stage's name, or Cflow's own reference when the workflow lacks it."""
    stage = workflow.find_stage(request.current_stage)
    if stage:
        return _stage_label(stage)
    ref = request.current_stage
    return escaped(ref, NAME_PREVIEW, single_line=True) if ref else None


def _quote(text: str, limit: int = COMMENT_PREVIEW) -> str:
    """A comment as a blockquote (escaped text holds no `>`, so each line is ours)."""
    return ">" + escaped(text, limit).replace("\n", "\n>")


def _inline_quote(text: str, limit: int) -> str:
    return f"“{escaped(text, limit, single_line=True)}”"


def mention(slack_user_id: str) -> str:
    """A Slack mention; an id that is not a plain user id is shown escaped instead."""
    if slack_user_id.isalnum() and slack_user_id.isascii():
        return f"<@{slack_user_id}>"
    return escaped(slack_user_id, PERSON_PREVIEW, single_line=True)


# --- Decisions --------------------------------------------------------------------------


def _matches(decision: Decision, stage: Stage) -> bool:
    """Decisions name a stage by id or by name, as Cflow's `currentStage` does."""
    ref = decision.stage
    if not ref:
        return False
    return ref == stage.id or ref.casefold() == (stage.name or "").casefold()


def _latest(
    decisions: Iterable[Decision], actions: Iterable[str], stage: Stage | None = None
) -> Decision | None:
    """The newest decision of one of `actions` (at `stage`, when given)."""
    wanted = set(actions)
    found = [d for d in decisions if d.action in wanted and (stage is None or _matches(d, stage))]
    return max(found, key=lambda d: aware(d.at), default=None)


def _by(decision: Decision) -> str:
    return f" by {_person(decision.cflow_username)}" if decision.cflow_username else ""


# --- Status -----------------------------------------------------------------------------


def _status_line(view: CardView) -> str:
    """One line saying where the request stands, with the rejection reason if known."""
    status = view.request.status
    if status == PENDING:
        return _waiting_line(view.request, view.workflow)
    if status == "rejected":
        return "❌ Rejected" + _rejection(view.decisions)
    if status in STATUS_LINES:
        return STATUS_LINES[status]
    shown = escaped(status, NAME_PREVIEW, single_line=True) if status else "unknown"
    return f"ℹ️ Status: *{shown}*"


def _waiting_line(request: Request, workflow: Workflow) -> str:
    """ "⏳ Waiting for *bob* at *Manager review*", with whichever parts are known."""
    line = "⏳ Waiting"
    reviewers = request.reviewers(workflow)
    if reviewers:
        line += f" for {_people(reviewers)}"
    stage = _current_label(request, workflow)
    if stage:
        line += f" at *{stage}*"
    return line if line != "⏳ Waiting" else "⏳ Waiting for review"


def _rejection(decisions: Sequence[Decision]) -> str:
    """ " by *bob*" and the reason as a quote, when the bot knows who rejected it."""
    decision = _latest(decisions, ["rejected"])
    if not decision:
        return ""
    who = f" by *{_person(decision.cflow_username)}*" if decision.cflow_username else ""
    return who + (f"\n{_quote(decision.comment)}" if decision.comment else "")


def _submitted_line(request: Request, now: datetime) -> str | None:
    """ "Submitted by *dave* · 2 days ago"; None when Cflow sent neither part."""
    parts = []
    if request.submitted_by:
        parts.append(f"Submitted by *{_person(request.submitted_by)}*")
    if request.created_at:
        parts.append(("" if parts else "Submitted ") + age(request.created_at, now))
    return " · ".join(parts) or None


# --- Stage path -------------------------------------------------------------------------


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
        rejection = _latest(view.decisions, ["rejected"])
        ref = rejection.stage if rejection else None
    stage = view.workflow.find_stage(ref)
    return next((i for i, s in enumerate(stages) if s is stage), None)


def _stage_line(view: CardView, stage: Stage, state: str) -> str:
    label = _stage_label(stage)
    if state == "done":
        return f"✓ {label}{_done_detail(view.decisions, stage)}"
    if state == "rejected":
        return f"✗ *{label}*{_rejected_detail(view.decisions, stage)}"
    if state == "current":
        return f"▶ *{label}*{_current_detail(view)}"
    return f"○ {label}"


def _done_detail(decisions: Sequence[Decision], stage: Stage) -> str:
    """ " — approved by bob: “Looks good”" from what the bot saw at this stage."""
    decision = _latest(decisions, ["approved", "moved", "final"], stage)
    if not decision:
        return ""
    verb = "approved" if decision.action == "approved" else "approved in Cflow"
    return f" — {verb}{_by(decision)}{_stage_comment(decision)}"


def _rejected_detail(decisions: Sequence[Decision], stage: Stage) -> str:
    decision = _latest(decisions, ["rejected"], stage) or _latest(decisions, ["rejected"])
    if not decision:
        return ""
    return f" — rejected{_by(decision)}{_stage_comment(decision)}"


def _current_detail(view: CardView) -> str:
    if not view.request.is_pending:
        return ""
    reviewers = view.request.reviewers(view.workflow)
    return f" — waiting for {_people(reviewers, bold=False)}" if reviewers else " — waiting"


def _stage_comment(decision: Decision) -> str:
    if not decision.comment:
        return ""
    return f": {_inline_quote(decision.comment, STAGE_COMMENT_PREVIEW)}"


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


# --- Fields -----------------------------------------------------------------------------


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


def text_size(payload: Any) -> int:
    """Characters of every `text` in a JSON tree: what Slack's message budget counts."""
    if isinstance(payload, dict):
        own = len(payload["text"]) if isinstance(payload.get("text"), str) else 0
        return own + sum(text_size(item) for item in payload.values())
    if isinstance(payload, list):
        return sum(text_size(item) for item in payload)
    return 0


# --- Actions ----------------------------------------------------------------------------


def card_ref(request: Request, workflow: Workflow) -> RequestRef:
    """What the card's buttons act on: this request at the stage the card shows."""
    return RequestRef(
        workflow_id=workflow.id,
        request_id=request.id,
        stage=request.current_stage,
        updated=updated_mark(request.updated_at),
    )


def _can_decide(view: CardView, ref: RequestRef) -> bool:
    pending = view.request.is_pending and view.actionable and not view.invite_to_relink
    return pending and view.busy is None and ref.fits(MAX_VALUE)


def _actions_block(view: CardView) -> Block | None:
    """Approve, Reject, More while the request waits; the Cflow link whenever known."""
    ref = card_ref(view.request, view.workflow)
    elements = _decision_elements(view, ref) if _can_decide(view, ref) else []
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
    elements = [
        button("Approve", Action.APPROVE, value, style="primary", confirm=approve_confirm(title)),
        button("Reject", Action.REJECT, value, style="danger"),
    ]
    if len(value) <= MAX_ID:
        elements.append(_more_menu())
    return elements


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


def ref_from_action(action: dict[str, Any], block_id: str | None = None) -> RequestRef | None:
    """The request a click acts on: a button's `value`, else the block_id (the overflow)."""
    return RequestRef.decode(action.get("value")) or RequestRef.decode(
        block_id or action.get("block_id")
    )


def more_option(action: dict[str, Any]) -> MoreOption | None:
    """Which overflow option was picked; None for anything we did not offer."""
    value = (action.get("selected_option") or {}).get("value")
    try:
        return MoreOption(value)
    except ValueError:
        return None


# --- The card ---------------------------------------------------------------------------


def request_card(view: CardView) -> dict[str, Any]:
    """A request as a message: where it stands, its path, its fields, and what to do."""
    head = _head_blocks(view)
    tail = _tail_blocks(view)
    room = MAX_BLOCKS - len(head) - len(tail)
    budget = TEXT_BUDGET - text_size(head) - text_size(tail)
    fields = _field_blocks(view.request.fields, room, budget)
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
    if view.notice:
        blocks.append(context(truncate(view.notice, NOTICE_PREVIEW)))
    if view.busy:
        blocks.append(busy_block(view.busy))
    if view.invite_to_link:
        blocks.append(_invite_block())
    if view.invite_to_relink and view.request.is_pending and view.actionable:
        blocks.append(_relink_block())
    actions = _actions_block(view)
    return blocks + ([actions] if actions else [])


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


def _invite_block() -> Block:
    text = (
        "You're a reviewer of this request. Link your Cflow account to approve or reject "
        "it right here in Slack, as yourself."
    )
    return section(text) | {"accessory": button(LINK_LABEL, Action.LINK, style="primary")}


def _relink_block() -> Block:
    text = (
        "You're a reviewer of this request, but Cflow no longer accepts your linked user "
        "key. Link your Cflow account again to approve or reject it here."
    )
    return section(text) | {"accessory": button(LINK_LABEL, Action.LINK, style="primary")}


def notification_text(view: CardView) -> str:
    """The message's `text`: what a notification or a screen reader says."""
    request, title = view.request, _title(view.request, view.workflow)
    if request.status == PENDING:
        return truncate(title + _pending_summary(request, view.workflow), MAX_TEXT)
    return truncate(f"{title} {_state_phrase(request.status)}", MAX_TEXT)


def _pending_summary(request: Request, workflow: Workflow) -> str:
    sender = f" from {_person(request.submitted_by)}" if request.submitted_by else ""
    reviewers = request.reviewers(workflow)
    waiting = f" for {_people(reviewers, bold=False)}" if reviewers else ""
    return f"{sender} is waiting{waiting}"


_STATE_PHRASES = {
    "approved": "was approved",
    "rejected": "was rejected",
    "completed": "was completed",
    DRAFT: "is a draft",
}


def _state_phrase(status: str | None) -> str:
    return _STATE_PHRASES.get(status or "") or f"is {_status_word(status)}"


def _status_word(status: str | None) -> str:
    return escaped(status, NAME_PREVIEW, single_line=True) if status else "in an unknown state"


# --- Other messages ---------------------------------------------------------------------

_AUDIT = {  # action: (icon, verb after a Slack user, phrase when seen in Cflow)
    "approved": ("✅", "approved", "Approved in Cflow"),
    "rejected": ("❌", "rejected", "Rejected in Cflow"),
    "reassigned": ("↪", "reassigned", "Reassigned in Cflow"),
    "moved": ("➡️", "moved it on", "Moved on in Cflow"),
    "final": ("🏁", "closed it", "Closed in Cflow"),
    "reopened": ("↩️", "sent it back", "Sent back for review in Cflow"),
    "deleted": ("🗑️", "deleted it", "Deleted in Cflow"),
}


def audit_line(decision: Decision, slack_user_id: str | None) -> str:
    """One line for the card's thread: who did what, where, and what they said."""
    icon, verb, seen = _AUDIT.get(decision.action, ("•", None, None))
    verb = verb or escaped(decision.action, NAME_PREVIEW, single_line=True)
    if slack_user_id:
        who = decision.cflow_username
        cflow = f" (Cflow: {_person(who)})" if who else ""
        head = f"{icon} {mention(slack_user_id)}{cflow} {verb}"
    else:
        head = _seen_in_cflow(decision, icon, seen or f"{verb.capitalize()} in Cflow")
    return truncate(head + _audit_details(decision), MAX_TEXT)


def _seen_in_cflow(decision: Decision, icon: str, phrase: str) -> str:
    """A step taken in Cflow's own app; moving on by a known person is an approval."""
    if decision.action == "moved" and decision.cflow_username:
        icon, phrase = "✅", "Approved in Cflow"
    who = f" by *{_person(decision.cflow_username)}*" if decision.cflow_username else ""
    return f"{icon} {phrase}{who}"


def _audit_details(decision: Decision) -> str:
    stage = escaped(decision.stage, NAME_PREVIEW, single_line=True) if decision.stage else ""
    at = f" at *{stage}*" if stage else ""
    to = f" to *{_person(decision.reassigned_to)}*" if decision.reassigned_to else ""
    said = f": {_inline_quote(decision.comment, COMMENT_PREVIEW)}" if decision.comment else ""
    return at + to + said


_OUTCOMES = {
    "approved": ("✅", "was approved"),
    "rejected": ("❌", "was rejected"),
    "completed": ("✔️", "was completed"),
}


def submitter_message(
    request: Request, workflow: Workflow, decision: Decision | None
) -> dict[str, Any]:
    """A DM telling the submitter how their request ended, with the reviewer's comment."""
    icon, outcome = _OUTCOMES.get(request.status or "", ("ℹ️", None))
    outcome = outcome or f"is now *{_status_word(request.status)}*"
    line = f"{icon} Your request *{_title(request, workflow)}* {outcome}{_decider(decision)}"
    comment = f"\n{_quote(decision.comment)}" if decision and decision.comment else ""
    return {"text": truncate(line, MAX_TEXT), "blocks": [section(line + comment)]}


def _decider(decision: Decision | None) -> str:
    if decision and decision.slack_user_id:
        return f" by {mention(decision.slack_user_id)}"
    if decision and decision.cflow_username:
        return f" by *{_person(decision.cflow_username)}*"
    return ""


def not_linked_message() -> dict[str, Any]:
    """Ephemeral: decisions are made with the person's own Cflow user, so link first."""
    text = (
        "To approve or reject from Slack, first link your Cflow account: the bot then "
        "acts in Cflow as you, with your own user key."
    )
    return {"text": text, "blocks": [section(text), link_button_block()]}


RELINK_TEXT = (
    "Cflow no longer accepts your linked user key (it may have been changed). "
    "Link your Cflow account again to act from Slack."
)


def relink_message() -> dict[str, Any]:
    """Ephemeral: the person's key was refused by Cflow or no longer decrypts."""
    return {"text": RELINK_TEXT, "blocks": [section(RELINK_TEXT), link_button_block()]}


def error_message(text: str) -> dict[str, Any]:
    """Ephemeral error; the text may be Cflow's own words, so it is escaped."""
    line = "⚠️ " + escaped(text, MAX_TEXT - 10)
    return {"text": line, "blocks": [section(line)]}


def home_view(link_username: str | None, *, key_works: bool = True) -> dict[str, Any]:
    """The App Home: who you are in Cflow, and how to use the bot."""
    if not key_works:
        blocks = [section(f"⚠️ {RELINK_TEXT}"), link_button_block()]
    elif link_username:
        status = f"✅ You're linked to Cflow as *{_person(link_username)}*."
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
