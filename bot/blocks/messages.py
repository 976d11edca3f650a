"""Messages other than the card: audit lines, the submitter's outcome, and answers (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.blocks.names import (
    COMMENT_PREVIEW,
    NAME_PREVIEW,
    bold_title,
    inline_quote,
    person,
    quote,
    status_word,
)
from bot.blocks.primitives import MAX_TEXT, link_button_block, mention, section
from bot.blocks.text import duration, escaped, truncate
from bot.cflow.models import Request, Workflow
from bot.store.records import Decision

_AUDIT = {  # action: (icon, verb after a Slack user, phrase when seen in Cflow)
    "approved": ("✅", "approved", "Approved in Cflow"),
    "rejected": ("❌", "rejected", "Rejected in Cflow"),
    "reassigned": ("↪", "reassigned", "Reassigned in Cflow"),
    "moved": ("➡️", "moved it on", "Moved on in Cflow"),
    "final": ("🏁", "closed it", "Closed in Cflow"),
    "reopened": ("↩️", "sent it back", "Sent back for review in Cflow"),
    "deleted": ("🗑️", "deleted it", "Deleted in Cflow"),
}


def audit_line(decision: Decision, slack_user_id: str | None, *, with_comment: bool = True) -> str:
    """One line for the card's thread: who did what, where, and what they said (unless
    the channel may not see it: its workflow's `channel-fields none`)."""
    if not with_comment:
        decision = replace(decision, comment=None)
    icon, verb, seen = _AUDIT.get(decision.action, ("•", None, None))
    verb = verb or escaped(decision.action, NAME_PREVIEW, single_line=True)
    if slack_user_id:
        who = decision.cflow_username
        cflow = f" (Cflow: {person(who)})" if who else ""
        head = f"{icon} {mention(slack_user_id)}{cflow} {verb}"
    else:
        head = _seen_in_cflow(decision, icon, seen or f"{verb.capitalize()} in Cflow")
    return truncate(head + _audit_details(decision), MAX_TEXT)


def _seen_in_cflow(decision: Decision, icon: str, phrase: str) -> str:
    """A step taken in Cflow's own app; moving on by a known person is an approval."""
    if decision.action == "moved" and decision.cflow_username:
        icon, phrase = "✅", "Approved in Cflow"
    who = f" by *{person(decision.cflow_username)}*" if decision.cflow_username else ""
    return f"{icon} {phrase}{who}"


def _audit_details(decision: Decision) -> str:
    stage = escaped(decision.stage, NAME_PREVIEW, single_line=True) if decision.stage else ""
    at = f" at *{stage}*" if stage else ""
    to = f" to *{person(decision.reassigned_to)}*" if decision.reassigned_to else ""
    said = f": {inline_quote(decision.comment, COMMENT_PREVIEW)}" if decision.comment else ""
    return at + to + said


Reviewer = tuple[str | None, str]  # (their Slack user id, if known; their Cflow username)


def escalation_line(
    stage: str | None, waited_seconds: float, reviewers: Sequence[Reviewer], contacts: Sequence[str]
) -> str:
    """The one thread line of an escalation: how long, at which stage, on whom; calling on
    the workflow's escalation contacts (mentions, checked when they were set)."""
    at = f" at *{escaped(stage, NAME_PREVIEW, single_line=True)}*" if stage else ""
    on = ", ".join(_reviewer(who) for who in reviewers) or "nobody in Slack"
    calling = f"; calling on {' '.join(contacts)}" if contacts else ""
    return truncate(f"⏫ Waiting {duration(waited_seconds)}{at} on {on}{calling}.", MAX_TEXT)


def reminder_line(waited_seconds: float, reviewers: Sequence[Reviewer]) -> str:
    """A reminder in the card's thread, for reviewers who take no DMs."""
    on = ", ".join(_reviewer(who) for who in reviewers)
    return truncate(f"⏰ {on}: this has waited {duration(waited_seconds)} for you.", MAX_TEXT)


def _reviewer(who: Reviewer) -> str:
    slack_id, name = who
    return mention(slack_id) if slack_id else f"*{person(name)}*"


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
    outcome = outcome or f"is now *{status_word(request.status)}*"
    line = f"{icon} Your request *{bold_title(request, workflow)}* {outcome}{_decider(decision)}"
    comment = f"\n{quote(decision.comment)}" if decision and decision.comment else ""
    return {"text": truncate(line, MAX_TEXT), "blocks": [section(line + comment)]}


def _decider(decision: Decision | None) -> str:
    if decision and decision.slack_user_id:
        return f" by {mention(decision.slack_user_id)}"
    if decision and decision.cflow_username:
        return f" by *{person(decision.cflow_username)}*"
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
