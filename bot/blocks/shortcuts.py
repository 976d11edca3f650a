"""The shortcuts' own views and messages (pure): the workflow picker that opens the
new-request form, and the reply in the thread of the message a request was made from.

The form itself is the one `/cflow new` shows (bot.blocks.request_forms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from bot.blocks.ids import MAX_METADATA, Input, View, values_of
from bot.blocks.modals import modal
from bot.blocks.names import bold_title, person, status_word
from bot.blocks.origins import MessageOrigin, origin_note
from bot.blocks.primitives import context, mention, plain_text, section
from bot.blocks.text import escaped, plain, truncate
from bot.cflow.models import Request, Workflow
from bot.store.records import Decision

MAX_OPTIONS = 100  # a static_select's options
MAX_OPTION_TEXT = 75
OUTCOMES = {
    "approved": ("✅", "Approved"),
    "rejected": ("❌", "Rejected"),
    "completed": ("✔️", "Completed"),
}


class PickState(BaseModel):
    """What the picker hands on to the form: the message's place and its text (as the
    form shows it), cut to fit `private_metadata`."""

    origin: MessageOrigin | None = Field(default=None, alias="o")
    text: str = Field(default="", alias="x")

    model_config = {"populate_by_name": True}

    def encode(self) -> str:
        state = self
        while len(raw := state.model_dump_json(by_alias=True)) > MAX_METADATA and state.text:
            cut = max(0, len(state.text) - (len(raw) - MAX_METADATA) - 1)
            state = state.model_copy(update={"text": truncate(state.text, cut)})
        return raw

    @classmethod
    def decode(cls, raw: str | None) -> PickState | None:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError:
            return None


def workflow_picker(
    workflows: Sequence[Workflow], state: PickState, *, error: str | None = None
) -> dict[str, Any]:
    """The first step of a shortcut: which workflow the request goes to (its form next)."""
    active = [w for w in workflows if w.is_active][:MAX_OPTIONS]
    if not active:
        return modal(View.WORKING, "Cflow", [section(NO_WORKFLOWS)], close="Close")
    options = [{"text": plain_text(plain(w.label, MAX_OPTION_TEXT)), "value": w.id} for w in active]
    element: dict[str, Any] = {"type": "static_select", "action_id": str(Input.WORKFLOW)}
    element |= {"options": options, "placeholder": plain_text("Choose a workflow")}
    blocks: list[dict[str, Any]] = []
    if error:
        blocks.append(section(f"⚠️ {escaped(error, 2900)}"))
    if state.origin is not None:
        blocks.append(origin_note(state.origin))
    label = plain_text("Workflow")
    blocks.append({"type": "input", "block_id": Input.WORKFLOW, "label": label, "element": element})
    return modal(
        View.PICK_WORKFLOW, "New request", blocks, submit="Next", private_metadata=state.encode()
    )


NO_WORKFLOWS = "Cflow shows you no active workflow to make a request in."


def picked_workflow(view_state: dict[str, Any]) -> str | None:
    """The workflow id chosen in the picker."""
    return values_of(view_state).get(Input.WORKFLOW)


def thread_reply(
    request: Request,
    workflow: Workflow,
    url: str,
    requested_by: str,
    decision: Decision | None = None,
) -> dict[str, Any]:
    """The reply in the message's thread: the request it became, and where it stands
    (how it ended, and by whom, once it has)."""
    title = f"<{url}|{bold_title(request, workflow)}>"
    asked = f"📝 {mention(requested_by)} asked for approval of this: {title}"
    icon_word = OUTCOMES.get(request.status or "")
    if request.is_pending:
        state = "⏳ Waiting for approval"
    elif icon_word is not None:
        state = f"{icon_word[0]} {icon_word[1]}{_by(decision)}"
    else:
        state = f"ℹ️ Now {status_word(request.status)}"
    said = decision.comment if decision is not None and decision.comment else None
    blocks = [section(asked), context(state + (f": {escaped(said, 500)}" if said else ""))]
    return {"text": truncate(f"{asked} · {state}", 3000), "blocks": blocks}


def _by(decision: Decision | None) -> str:
    if decision is None:
        return ""
    if decision.slack_user_id:
        return f" by {mention(decision.slack_user_id)}"
    return f" by *{person(decision.cflow_username)}*" if decision.cflow_username else ""


def unreached_thread_text(origin: MessageOrigin, url: str, request_id: str, reason: str) -> str:
    """To the person privately, when Slack would not take the reply in the thread."""
    return (
        f"I could not reply in the thread of <{origin.permalink}|your message> "
        f"(Slack said `{escaped(reason, 100)}`; is the app in <#{origin.channel}>?). "
        f"Your request is <{url}|#{escaped(request_id, 100)}>."
    )
