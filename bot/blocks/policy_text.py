"""`/cflow policy`'s answers: a workflow's policy with its change log, a change made,
and a field name the workflow does not have (pure). Field names come from Cflow and
the workflow's name too: every one is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.blocks.primitives import mention, section
from bot.blocks.text import escaped
from bot.domain.policy_edits import SETTINGS, is_default, shown
from bot.store.records import PolicyChange, WorkflowPolicy

CHANGES_SHOWN = 10
FIELDS_LISTED = 40
NAME = 200  # characters of a workflow's name shown
# Characters of a setting's value shown (a list of fields can be long): five settings,
# each value shown twice at most, and ten changes each fit one section's 3,000.
VALUE = 300
LOGGED = 150

LABELS = {
    "comment": "Comment",
    "self-approval": "Self-approval",
    "web-only": "Web-only",
    "undo": "Undo window",
    "channel-fields": "Channel fields",
}


def meaning(policy: WorkflowPolicy, setting: str) -> str:
    """What the setting does now, in a few words (mrkdwn, escaped)."""
    value = escaped(shown(policy, setting), VALUE, single_line=True)
    return {
        "comment": {
            "reject": "a reason is required to reject; approving needs no comment",
            "approve": "a comment is required to approve; rejecting needs no reason",
            "both": "a comment is required to approve and to reject",
            "off": "no comment is required (the Reject form's reason is optional)",
        }[policy.comment],
        "self-approval": (
            "a submitter cannot approve or reject their own request from Slack"
            if policy.self_approval == "block"
            else "submitters may decide their own requests where Cflow lets them"
        ),
        "web-only": (
            "every request may be decided from Slack"
            if shown(policy, setting) == "off"
            else f"requests with {value} show “Open in Cflow” instead of Approve and Reject"
        ),
        "undo": (
            "a decision reaches Cflow at once"
            if not policy.undo_seconds
            else f"a decision waits {policy.undo_seconds} s, with Undo, before it reaches Cflow"
        ),
        "channel-fields": (
            "channels show every field"
            if policy.channel_fields is None
            else "channels show a request's title, status, stage and who it waits on only"
            if not policy.channel_fields
            else f"channels show only these fields: {value}"
        ),
    }[setting]


def _setting_line(policy: WorkflowPolicy, setting: str) -> str:
    value = escaped(shown(policy, setting), VALUE, single_line=True)
    default = " _(default)_" if is_default(policy, setting) else ""
    return f"• *{LABELS[setting]}:* `{value}`{default} — {meaning(policy, setting)}"


def policy_message(
    label: str, policy: WorkflowPolicy, changes: Sequence[PolicyChange]
) -> dict[str, Any]:
    """Every setting (the defaults marked), then who changed what and when, newest last."""
    name = escaped(label, NAME, single_line=True)
    lines = [_setting_line(policy, setting) for setting in SETTINGS]
    blocks = [section(f"*Policy of {name}*\n" + "\n".join(lines))]
    blocks.append(section(change_log(changes)))
    return {"text": f"Policy of {name}", "blocks": blocks}


def change_log(changes: Sequence[PolicyChange]) -> str:
    if not changes:
        return "*Changes:* none yet: every setting is as it always was."
    recent = changes[-CHANGES_SHOWN:]
    earlier = len(changes) - len(recent)
    lines = [change_line(change) for change in recent]
    head = f"*Changes* (…and {earlier} earlier):" if earlier else "*Changes:*"
    return "\n".join((head, *lines))


def change_line(change: PolicyChange) -> str:
    value = escaped(change.value, LOGGED, single_line=True)
    setting = escaped(change.setting, 40, single_line=True)
    return f"• {when(change.at)} {mention(change.changed_by)} set {setting} to `{value}`"


def when(moment: datetime) -> str:
    """In each reader's own time zone (Slack's date token), with UTC as the fallback."""
    stamp = int(moment.timestamp())
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{stamp}^{{date_short}} {{time}}|{fallback}>"


def changed_text(label: str, policy: WorkflowPolicy, setting: str) -> str:
    """The answer to a change: the setting's new value and what it does now."""
    name = escaped(label, NAME, single_line=True)
    value = escaped(shown(policy, setting), VALUE, single_line=True)
    return (
        f"{name}: {LABELS[setting].lower()} is now `{value}`: {meaning(policy, setting)}."
        f" See `/cflow policy {escaped(policy.workflow_id, 80, single_line=True)}`."
    )


def unchanged_text(label: str, policy: WorkflowPolicy, setting: str) -> str:
    name = escaped(label, NAME, single_line=True)
    value = escaped(shown(policy, setting), VALUE, single_line=True)
    return f"{name}: {LABELS[setting].lower()} is `{value}` already; nothing changed."


def unknown_fields_text(label: str, unknown: Sequence[str], known: Sequence[str]) -> str:
    """A field the workflow does not have, with the fields it has."""
    name = escaped(label, NAME, single_line=True)
    missing = ", ".join(f"“{escaped(n, 100, single_line=True)}”" for n in unknown[:5])
    listed = ", ".join(escaped(n, 100, single_line=True) for n in known[:FIELDS_LISTED])
    more = f", and {len(known) - FIELDS_LISTED} more" if len(known) > FIELDS_LISTED else ""
    return f"{name} has no field {missing}. Its fields: {listed}{more}. Nothing changed."
