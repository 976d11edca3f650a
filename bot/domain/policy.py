"""What a workflow's policy means for one decision and one card (pure).

A `WorkflowPolicy` (bot.store.records) is what an admin set with `/cflow policy`; these
functions are the one place that says what each setting does, so that every surface (cards,
DMs, roundups, digests, the Home tab, `/cflow`) and the decision itself agree:

- `comment`: which decisions need a comment ("reject", the default, asks a reason for a
  rejection only; "off" asks for none).
- `self_approval`: "block" refuses a decision by the request's own submitter.
- `web_only`: a request whose field compares as set is decided in Cflow only; a field that
  is missing, or is not a number, does not match.
- `undo_seconds`: how long a decision waits, undoable, before it reaches Cflow.
- `channel_fields`: what a channel may see of a request's fields (None: all, (): none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from bot.cflow.models import Request
from bot.domain.access import same_user
from bot.store.records import WorkflowPolicy

Verb = Literal["approve", "reject"]
OPS: Final = (">=", "<=", ">", "<", "=")
OP_WORDS: Final = {
    ">": "over",
    ">=": "at least",
    "<": "under",
    "<=": "at most",
    "=": "of",
}
MAX_UNDO_SECONDS: Final = 60


def default_policy(workflow_id: str) -> WorkflowPolicy:
    return WorkflowPolicy(workflow_id)


def policy_of(policies: Mapping[str, WorkflowPolicy], workflow_id: str) -> WorkflowPolicy:
    """The workflow's stored policy, or the defaults."""
    return policies.get(workflow_id) or default_policy(workflow_id)


def comment_required(policy: WorkflowPolicy, verb: Verb) -> bool:
    if verb == "reject":
        return policy.comment in ("reject", "both")
    return policy.comment in ("approve", "both")


def blocks_own(policy: WorkflowPolicy, username: str | None, request: Request) -> bool:
    """Whether `username` (a Cflow username) may not decide `request`: they submitted it
    and the policy blocks self-approval."""
    return own_blocked(policy.self_approval == "block", username, request.submitted_by)


def own_blocked(blocked: bool, username: str | None, submitted_by: str | None) -> bool:
    """Whether self-approval is `blocked` and `username` is `submitted_by`, as Cflow
    compares usernames (bot.domain.access.same_user): also for what a roundup item kept."""
    return blocked and same_user(username, submitted_by)


def as_number(value: Any) -> Decimal | None:
    """A field's value as a number: a number, or a string that parses as one ("12,500.50"
    too); None for anything else (a bool is not a number)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", "").replace("_", ""))
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _compare(value: Decimal, op: str, limit: Decimal) -> bool:
    return {
        ">": value > limit,
        ">=": value >= limit,
        "<": value < limit,
        "<=": value <= limit,
        "=": value == limit,
    }[op]


def field_value(fields: Mapping[str, Any], name: str) -> Any:
    """A field by name, exactly or else ignoring case (admins type names loosely)."""
    if name in fields:
        return fields[name]
    folded = name.casefold()
    return next((v for k, v in fields.items() if str(k).casefold() == folded), None)


def web_only_reason(policy: WorkflowPolicy, request: Request) -> str | None:
    """ "Amount over 10,000: decide in Cflow" when the request is web-only; else None.
    Plain text (Cflow's field name is in it): the caller escapes it for mrkdwn."""
    field, op, limit = policy.web_only_field, policy.web_only_op, policy.web_only_value
    if not field or not op or limit is None:
        return None
    threshold = as_number(limit)
    value = as_number(field_value(request.fields, field))
    if threshold is None or value is None or not _compare(value, op, threshold):
        return None
    return f"{field.capitalize()} {OP_WORDS[op]} {_shown(threshold)}: decide in Cflow"


def _shown(number: Decimal) -> str:
    return f"{number:,f}".rstrip("0").rstrip(".") if "." in f"{number:f}" else f"{number:,f}"


@dataclass(frozen=True)
class Refusal:
    """Why a person may not decide a request here (plain text, to be escaped)."""

    kind: Literal["web_only", "own_request"]
    text: str


OWN_REQUEST = "You cannot approve or reject your own request: this workflow's policy says so."


def refusal(policy: WorkflowPolicy, request: Request, username: str | None) -> Refusal | None:
    """Why `username` may not decide `request` from Slack at all, if they may not."""
    web_only = web_only_reason(policy, request)
    if web_only:
        return Refusal("web_only", web_only)
    if blocks_own(policy, username, request):
        return Refusal("own_request", OWN_REQUEST)
    return None


def rules_line(policy: WorkflowPolicy) -> str | None:
    """ "Comment required · No self-approval · Undo 10 s": what applies to a decision,
    for the cards; None where the workflow has the defaults."""
    parts = []
    if policy.comment == "both":
        parts.append("Comment required")
    elif policy.comment == "approve":
        parts.append("Comment required to approve")
    elif policy.comment == "off":
        parts.append("Comment optional")
    if policy.self_approval == "block":
        parts.append("No self-approval")
    if policy.undo_seconds:
        parts.append(f"Undo {policy.undo_seconds} s")
    return " · ".join(parts) or None


def channel_fields(policy: WorkflowPolicy, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a channel may see, in Cflow's order."""
    allowed = policy.channel_fields
    if allowed is None:
        return dict(fields)
    wanted = {name.casefold() for name in allowed}
    return {k: v for k, v in fields.items() if str(k).casefold() in wanted}


def channel_sees_reasons(policy: WorkflowPolicy) -> bool:
    """Whether a channel is shown decision comments (a rejection's reason): not under
    `channel-fields none`, which shows a request's title, status, stage and reviewers only."""
    return policy.channel_fields != ()
