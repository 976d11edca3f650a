"""The Workflow Builder step "Send for Cflow approval": its inputs read, its outcome told.

Pure rules, no I/O: who ran the workflow (Slack's user context, never a name a builder
typed), which workflow a step names (an id or a name), the fields it gives (a JSON
object, or lines of `name: value`), and what a decided request becomes as the step's
outputs. The listener (bot.inbound.steps) and the completion after each poll
cycle (bot.followups.steps) share them; manifest.yml declares the same names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.blocks.text import clean, escape, truncate
from bot.cflow.models import Request, Workflow
from bot.store.records import Decision

CALLBACK_ID = "send_for_approval"
WORKFLOW, FIELDS, SUBMITTER = "workflow", "fields", "submitter"
OUTPUTS = ("request_id", "status", "decided_by", "comment", "url")
MAX_FIELDS = 50
MAX_ERROR = 1000  # characters of a failed step's message (Slack shows it in a DM)
FINAL = {"approved": "approved", "rejected": "rejected", "completed": "approved"}
NOT_LINKED = (
    "The person who submitted this step has not linked a Cflow account: "
    "link your Cflow account first (/cflow link), then run the workflow again."
)
RELINK = (
    "Cflow no longer accepts the submitter's linked account: "
    "link your Cflow account again (/cflow link), then run the workflow again."
)
NOT_RUN_BY = (
    "This step sends a request only as the person who runs the workflow, and Slack did not "
    "say who that is, so nothing was sent to Cflow. Ask the workflow's builder to update "
    "the step Send for Cflow approval in Workflow Builder (Slack fills in its Submitted by)."
)
UNCONFIRMED = (
    "Cflow did not confirm in time, so it is not known whether the request was created. "
    "Check your requests in Cflow before running the workflow again."
)


class StepInputError(Exception):
    """The step's inputs cannot be read; `text` says why, for the person who ran it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Outcome:
    """How a request ended, as the step's outputs say it."""

    status: str  # approved | rejected
    decided_by: str
    comment: str


def submitter_of(value: Any) -> str:
    """The Slack user who ran the workflow, from Slack's user_context (`id` and `secret`).
    Slack alone fills it, so a builder cannot name someone else; anything else (such as a
    user id typed into an older version of the step) is refused."""
    if isinstance(value, Mapping):
        user, secret = value.get("id"), value.get("secret")
        if isinstance(user, str) and user.strip() and isinstance(secret, str) and secret:
            return user
    raise StepInputError(NOT_RUN_BY)


def parse_fields(text: str | None) -> dict[str, Any]:
    """A JSON object as it is; otherwise one `name: value` a line (blank lines skipped)."""
    given = (text or "").strip()
    if not given:
        raise StepInputError("The step's fields are empty: give at least one `name: value`.")
    if given[0] in "{[":
        return _json_fields(given)
    fields: dict[str, Any] = {}
    for number, line in enumerate(given.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise StepInputError(f"Line {number} of the fields is not `name: value`.")
        fields[clean(name.strip(), single_line=True)] = clean(value.strip())
    return _bounded(fields)


def _json_fields(given: str) -> dict[str, Any]:
    try:
        fields = json.loads(given)
    except json.JSONDecodeError as error:
        raise StepInputError(f"The fields are not valid JSON ({error.msg}).") from None
    if not isinstance(fields, dict):
        raise StepInputError("The fields must be a JSON object of names and values.")
    return _bounded(fields)


def _bounded(fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        raise StepInputError("The step's fields are empty: give at least one `name: value`.")
    if len(fields) > MAX_FIELDS:
        raise StepInputError(f"The step gives {len(fields)} fields; at most {MAX_FIELDS}.")
    return fields


def pick_workflow(workflows: Sequence[Workflow], given: str | None) -> Workflow:
    """The workflow `given` names: its id, else its name (case and spaces aside)."""
    wanted = (given or "").strip()
    if not wanted:
        raise StepInputError("The step names no workflow: give a Cflow workflow's id or name.")
    for workflow in workflows:
        if workflow.id == wanted:
            return workflow
    folded = " ".join(wanted.split()).casefold()
    named = [w for w in workflows if " ".join((w.name or "").split()).casefold() == folded]
    if len(named) == 1:
        return named[0]
    shown = escape(truncate(wanted, 100))
    if named:
        raise StepInputError(f"Several Cflow workflows are named {shown}: give its id instead.")
    raise StepInputError(f"No Cflow workflow you can use is named {shown}.")


def outcome_of(request: Request, decisions: Sequence[Decision] = ()) -> Outcome | None:
    """How `request` ended (None while it waits): who decided it and what they said,
    from Cflow's own history where it sends one, else from the decisions the bot made."""
    status = FINAL.get(request.status or "")
    if status is None:
        return None
    entry = _last_decision(request.model_extra or {})
    if entry is not None:
        by, comment = entry
    else:
        made = [d for d in decisions if FINAL.get(d.action) is not None]
        by = (made[-1].cflow_username or "") if made else ""
        comment = (made[-1].comment or "") if made else ""
    return Outcome(status, _shown(by), _shown(comment))


def _last_decision(extra: Mapping[str, Any]) -> tuple[str, str] | None:
    history = extra.get("history")
    if not isinstance(history, list):
        return None
    for entry in reversed(history):
        if isinstance(entry, dict) and entry.get("action") in ("approved", "rejected"):
            return str(entry.get("by") or ""), str(entry.get("comment") or "")
    return None


def _shown(text: str) -> str:
    """Cflow's words as the outputs carry them: escaped, as everything from Cflow is."""
    return truncate(escape(clean(text)), 3000)


def outputs(request_id: str, outcome: Outcome, url: str) -> dict[str, str]:
    """The step's outputs, named as manifest.yml declares them."""
    return {
        "request_id": request_id,
        "status": outcome.status,
        "decided_by": outcome.decided_by,
        "comment": outcome.comment,
        "url": url,
    }


def refusal(message: str) -> str:
    """A failed step's message with Cflow's own words (escaped, within Slack's bounds)."""
    return failure(f"Cflow refused the request: {escape(clean(message))}")


def failure(text: str) -> str:
    return truncate(text, MAX_ERROR)


def submitted_text(request_id: str, workflow: str, url: str) -> str:
    """What the submitter reads in the bot's DM: the request a workflow sent as them."""
    return (
        f"A workflow sent <{url}|request #{escape(request_id)}> to "
        f"*{escape(workflow)}* in Cflow as you (Workflow Builder: Send for Cflow approval)."
    )
