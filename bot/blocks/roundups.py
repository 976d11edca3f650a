"""Block Kit for a roundup: a channel's summary, and a reviewer's grouped DM (pure).

When more requests arrive at once than people can read card by card (a burst), the bot
posts one summary in the channel and one DM per reviewer instead; digests and reminders
are the same messages with their own titles. Each is re-rendered (chat.update) whenever
a member request changes; so every builder takes the current state of every member, as
`RoundupItem`s, and stays within Block Kit's limits however many there are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.blocks.card import TEXT_BUDGET
from bot.blocks.card_actions import approve_confirm, refused_note
from bot.blocks.ids import Action
from bot.blocks.lists import lines_message
from bot.blocks.names import NAME_PREVIEW, person, status_word
from bot.blocks.primitives import (
    LINK_LABEL,
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_ID,
    Block,
    button,
    context,
    plain_text,
    section,
    text_size,
)
from bot.blocks.roundup_items import RoundupItem, age_key, oldest_first
from bot.blocks.text import age, escaped, plain
from bot.domain.refs import MAX_VALUE

# The block_id of an item's buttons: "cflow_burst_item:<request id>", unique per message.
# The wire value keeps the roundup's earlier name ("burst"), as messages already posted
# carry it: one name for the items of every roundup, old and new.
ITEM_BLOCK = "cflow_burst_item"


TITLE_PREVIEW = 150


WORKFLOWS_SHOWN = 10  # lines of per-workflow counts in a summary


REVIEWERS_SHOWN = 8  # people in a summary's "waiting on" line


OUTCOMES_SHOWN = 6  # kinds of outcome counted in one line


HANDLED_SHOWN = 10  # a DM lists this many handled items one by one, beyond that counts them


MORE_TEXT = 100  # room kept in the text budget for "Show more" and "15 of 40 shown"


MOVED_ON = "moved on"


DIGEST_TITLE = "Cflow digest · "
REMINDER_TITLE = "⏰ Reminder · "
SNOOZE_BLOCK = "cflow_snooze"
SNOOZES = {"hour": "Remind me in 1 hour", "tomorrow": "Remind me tomorrow"}


OUTCOME_MARKS = {
    "approved": "✅",
    "completed": "✅",
    "rejected": "❌",
    "deleted": "🗑️",
    MOVED_ON: "➡️",
}


LINK_TEXT = (
    "You're a reviewer of these requests. Link your Cflow account to approve or reject "
    "them right here in Slack, as yourself."
)


RELINK_TEXT = (
    "You're a reviewer of these requests, but Cflow no longer accepts your linked user "
    "key. Link your Cflow account again to approve or reject them here."
)


def _when(item: RoundupItem, now: datetime) -> str:
    return age(item.submitted_at, now) if item.submitted_at else "some time ago"


def _title(item: RoundupItem) -> str:
    return escaped(item.title, TITLE_PREVIEW, single_line=True)


def _requests(count: int) -> str:
    return f"{count} request{'' if count == 1 else 's'}"


def _list_block(label: str, group_id: str) -> list[Block]:
    """A button that lists the whole group (none when the id cannot ride in a value)."""
    if not 0 < len(group_id) <= MAX_VALUE:
        return []
    return [{"type": "actions", "elements": [button(label, Action.ROUNDUP_LIST, group_id)]}]


# --- Outcomes -----------------------------------------------------------------------------


def outcome(item: RoundupItem, reader: str | None = None) -> str:
    """What became of an item: its status, or "moved on" when it no longer waits on reader."""
    if item.is_pending and reader is not None and not item.waits_on(reader):
        return MOVED_ON
    return item.status


def _outcome_word(kind: str) -> str:
    return kind if kind in OUTCOME_MARKS else status_word(kind)


def _outcome_line(item: RoundupItem, reader: str) -> str:
    """ "✅ approved · Purchase Order #103" """
    kind = outcome(item, reader)
    return f"{OUTCOME_MARKS.get(kind, '•')} {_outcome_word(kind)} · {_title(item)}"


def _outcome_counts(kinds: Iterable[str]) -> str:
    """ "✅ 20 approved · ❌ 3 rejected · 2 other": many items in one short line."""
    counted = Counter(kinds).most_common()
    parts = [
        f"{OUTCOME_MARKS.get(kind, '•')} {count} {_outcome_word(kind)}"
        for kind, count in counted[:OUTCOMES_SHOWN]
    ]
    rest = sum(count for _, count in counted[OUTCOMES_SHOWN:])
    return " · ".join(parts + ([f"{rest} other"] if rest else []))


# --- The channel's summary ------------------------------------------------------------------


def summary_message(
    items: Sequence[RoundupItem], *, group_id: str, now: datetime, digest: bool = False
) -> dict[str, Any]:
    """A roundup's message in a channel: how many wait, where, since when, on whom; with
    `digest`, the channel's daily summary of what waits."""
    pending = oldest_first(item for item in items if item.is_pending)
    title = _summary_title(len(pending), len(items), digest)
    blocks: list[Block] = [{"type": "header", "text": plain_text(plain(title, MAX_HEADER))}]
    if items:
        blocks.append(section(_workflow_lines(items, now)))
    if pending:
        blocks.append(section(_oldest_line(pending[0], now)))
        blocks += [context(line) for line in [_waiting_on(pending)] if line]
    handled = [item.status for item in items if not item.is_pending]
    if handled:
        blocks.append(context(_outcome_counts(handled)))
    if pending:
        blocks += _list_block("See them all", group_id)
    return {"text": f"Cflow: {title}", "blocks": blocks}


def _summary_title(pending: int, total: int, digest: bool = False) -> str:
    if not total:
        return "No requests"
    if digest:
        return DIGEST_TITLE + _summary_title(pending, total).replace(" new ", " ").lower()
    if pending == total:
        return f"{pending} new request{'' if pending == 1 else 's'}"
    if pending:
        return f"{pending} of {total} still waiting"
    return f"All {total} handled"


def _workflow_lines(items: Sequence[RoundupItem], now: datetime) -> str:
    """A line per workflow, the one waiting longest first; fully handled ones last."""
    groups: dict[str, list[RoundupItem]] = {}
    for item in oldest_first(items):
        groups.setdefault(item.workflow_id, []).append(item)
    ordered = sorted(groups.values(), key=_group_key)
    lines = [_workflow_line(group, now) for group in ordered[:WORKFLOWS_SHOWN]]
    rest = len(ordered) - len(lines)
    return "\n".join(lines + ([f"…and {rest} more workflows"] if rest else []))


def _group_key(group: list[RoundupItem]) -> tuple[bool, tuple[bool, float]]:
    first = next((item for item in group if item.is_pending), None)
    return (first is None, age_key(first) if first else (True, 0.0))


def _workflow_line(group: list[RoundupItem], now: datetime) -> str:
    """ "• *Purchase Order*: 12 of 15 waiting · oldest 3 days ago" (group oldest first)."""
    name = escaped(group[0].workflow_name, NAME_PREVIEW, single_line=True)
    pending = [item for item in group if item.is_pending]
    if not pending:
        return f"• *{name}*: all {len(group)} handled"
    count = f"{len(pending)}" if len(pending) == len(group) else f"{len(pending)} of {len(group)}"
    return f"• *{name}*: {count} waiting · oldest {_when(pending[0], now)}"


def _oldest_line(item: RoundupItem, now: datetime) -> str:
    submitter = person(item.submitted_by) if item.submitted_by else "someone"
    return f"Waiting longest: *{_title(item)}* from {submitter}, {_when(item, now)}"


def _waiting_on(pending: Sequence[RoundupItem]) -> str:
    """ "Waiting on alice (12), bob (3) and 4 others"; empty when no reviewer is known."""
    counts = Counter(name for item in pending for name in set(item.reviewers))
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    shown = [f"{person(name)} ({count})" for name, count in ranked[:REVIEWERS_SHOWN]]
    if not shown:
        return ""
    rest = len(ranked) - len(shown)
    more = f" and {rest} other{'s' if rest > 1 else ''}" if rest else ""
    return f"Waiting on {', '.join(shown)}{more}"


# --- A reviewer's grouped DM --------------------------------------------------------------


def grouped_dm(
    items: Sequence[RoundupItem],
    *,
    reader: str,
    group_id: str,
    now: datetime,
    linked: bool = True,
    key_works: bool = True,
    limit: int = 15,
    digest: bool = False,
    reminder: bool = False,
) -> dict[str, Any]:
    """One DM for the requests of a roundup that wait on `reader` (a Cflow username); with
    `digest`, their digest of everything that waits on them; with `reminder`, those that
    have waited too long, with buttons to snooze the reminder.

    The first `limit` of them, oldest first, each with Approve and Reject while the
    reader can act (linked, with a key Cflow accepts); handled ones after, without.
    """
    mine = oldest_first(item for item in items if item.waits_on(reader))
    others = oldest_first(item for item in items if not item.waits_on(reader))
    title = _dm_title(len(mine), len(items))
    prefix = DIGEST_TITLE if digest else REMINDER_TITLE if reminder else ""
    head = [section(f"*{prefix}{title}*")]
    if mine and not (linked and key_works):
        head.append(_invite(RELINK_TEXT if linked else LINK_TEXT))
    tail = _handled_blocks(others, reader)
    decide = reader if linked and key_works else None
    listed = _listed_blocks(mine, now, decide, len(head) + len(tail), limit)
    shown = sum(1 for block in listed if block["type"] == "section")
    budget = TEXT_BUDGET - MORE_TEXT - text_size(head) - text_size(tail)
    while listed and text_size(listed) > budget:
        shown, listed = shown - 1, _drop_last_item(listed)
    more = _more_blocks(shown, len(mine), group_id)
    if reminder and mine:
        more.append(snooze_block(group_id))
    text = ("Reminder: " if reminder else "") + _dm_text(len(mine), len(items))
    return {"text": text, "blocks": [*head, *listed, *more, *tail]}


def snooze_block(group_id: str) -> Block:
    """ "Remind me in 1 hour" / "tomorrow": the value is the reminder's group and when."""
    buttons = [
        button(label, Action.SNOOZE, f"{when} {group_id}"[:MAX_VALUE])
        for when, label in SNOOZES.items()
    ]
    return {"type": "actions", "block_id": SNOOZE_BLOCK, "elements": buttons}


def _dm_title(waiting: int, total: int) -> str:
    if not total:
        return "Nothing is waiting for you"
    if waiting == total:
        verb = "is" if waiting == 1 else "are"
        return f"{_requests(waiting)} {verb} waiting for you"
    if waiting:
        return f"{waiting} of {total} still waiting for you"
    return f"Nothing is waiting for you any more: all {total} handled"


def _dm_text(waiting: int, total: int) -> str:
    """The notification: plain and short (it shows in a phone's lock screen)."""
    if not total:
        return "Nothing is waiting for your approval"
    if waiting == total:
        verb = "is" if waiting == 1 else "are"
        return f"{_requests(waiting)} {verb} waiting for your approval"
    if waiting:
        return f"{waiting} of {_requests(total)} still waiting for your approval"
    return f"All {_requests(total)} handled"


def _invite(text: str) -> Block:
    return section(text) | {"accessory": button(LINK_LABEL, Action.LINK, style="primary")}


def _listed_blocks(
    mine: Sequence[RoundupItem], now: datetime, decider: str | None, others: int, limit: int
) -> list[Block]:
    """The first `limit` waiting items, fewer when their blocks would not fit; with their
    buttons where `decider` (the reader, when they can act) may decide them here."""
    room = (MAX_BLOCKS - others - 2) // 2  # two blocks an item; "Show more" takes two
    block_ids = _unique_block_ids(mine[: max(1, min(limit, room))])
    blocks: list[Block] = []
    for item, block_id in zip(mine, block_ids, strict=False):
        refused = item.refused_for(decider) if decider else None
        if refused:
            blocks += [section(_item_line(item, now)), refused_note(refused)]
        else:
            blocks += _item_blocks(item, now, block_id if decider else None)
    return blocks


def _unique_block_ids(items: Sequence[RoundupItem]) -> list[str]:
    """ "cflow_burst_item:<request id>", numbered when another item (or a cut) took it."""
    taken: set[str] = set()
    block_ids = []
    for item in items:
        block_id, number = f"{ITEM_BLOCK}:{item.request_id}"[:MAX_ID], 1
        while block_id in taken:
            block_id, number = f"{ITEM_BLOCK}:{number}:{item.request_id}"[:MAX_ID], number + 1
        taken.add(block_id)
        block_ids.append(block_id)
    return block_ids


def _item_blocks(item: RoundupItem, now: datetime, block_id: str | None) -> list[Block]:
    """The item's line, and its decision buttons when `block_id` is given and it fits."""
    line = section(_item_line(item, now))
    ref = item.ref
    if block_id is None or not ref.fits(MAX_VALUE):
        return [line]
    value, confirm = ref.encode(), approve_confirm(item.title)
    elements = [
        button("Approve", Action.APPROVE, value, style="primary", confirm=confirm),
        button("Reject", Action.REJECT, value, style="danger"),
    ]
    return [line, {"type": "actions", "block_id": block_id, "elements": elements}]


def _item_line(item: RoundupItem, now: datetime) -> str:
    """ "*Purchase Order #103* · from dave · 2 days ago · at Finance review"."""
    parts = [f"*{_title(item)}*"]
    if not item.title.startswith(plain(item.workflow_name, NAME_PREVIEW).strip()):
        parts.append(escaped(item.workflow_name, NAME_PREVIEW, single_line=True))
    parts.append(f"from {person(item.submitted_by) if item.submitted_by else 'someone'}")
    parts.append(_when(item, now))
    stage = item.stage_name or item.stage
    parts += [f"at {escaped(stage, NAME_PREVIEW, single_line=True)}"] if stage else []
    return " · ".join(parts)


def _drop_last_item(blocks: list[Block]) -> list[Block]:
    """The listed blocks without the last item (its line and, when it has them, buttons)."""
    last = max(index for index, block in enumerate(blocks) if block["type"] == "section")
    return blocks[:last]


def _more_blocks(shown: int, total: int, group_id: str) -> list[Block]:
    if shown >= total:
        return []
    return [*_list_block("Show more", group_id), context(f"{shown} of {total} shown")]


def _handled_blocks(items: Sequence[RoundupItem], reader: str) -> list[Block]:
    """One line each for items no longer waiting on reader, or counts when there are many."""
    if not items:
        return []
    if len(items) > HANDLED_SHOWN:
        counts = _outcome_counts(outcome(item, reader) for item in items)
        return [context(f"No longer waiting for you: {counts}")]
    return [context("\n".join(_outcome_line(item, reader) for item in items))]


# --- "See them all" ---------------------------------------------------------------------------


def roundup_list(items: Sequence[RoundupItem], *, now: datetime, page: int = 1) -> dict[str, Any]:
    """Every request of a roundup, one line each, waiting ones first and oldest first."""
    ordered = oldest_first(i for i in items if i.is_pending)
    ordered += oldest_first(i for i in items if not i.is_pending)
    lines = [_listed_line(item, now) for item in ordered]
    listing = lines_message(f"{_requests(len(items))} in this roundup", lines, page=page)
    hint = context("`/cflow pending` lists those waiting for you, with Approve and Reject.")
    return listing | {"blocks": [*listing["blocks"], hint][:MAX_BLOCKS]}


def _listed_line(item: RoundupItem, now: datetime) -> str:
    if not item.is_pending:
        return (
            f"{OUTCOME_MARKS.get(item.status, '•')} {_title(item)} · {_outcome_word(item.status)}"
        )
    who = ", ".join(escaped(name, NAME_PREVIEW) for name in item.reviewers[:3]) or "nobody"
    return f"• {_title(item)} · waiting on {who} · {_when(item, now)}"
