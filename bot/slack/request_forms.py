"""Modals to create a request or a draft, and to edit a draft (pure: data in, JSON out).

Cflow's API does not describe a workflow's form, so the inputs are the field names of
its recent requests (and `requiredFields` where Cflow sends it), plus free rows for
more key/value pairs. Which names the inputs stand for rides in `private_metadata`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from bot.cflow import Request, Workflow
from bot.slack.blocks import section
from bot.slack.ids import MAX_METADATA, View
from bot.slack.modals import modal, text_input
from bot.slack.text import escaped, format_value

MAX_FORM_FIELDS = 20
EXTRA_ROWS = 3
MODE = "mode"
SUBMIT, DRAFT = "submit", "draft"


class FormTarget(BaseModel):
    """What a form creates or edits, and the field name behind each input."""

    workflow_id: str = Field(alias="w")
    label: str | None = Field(default=None, alias="l")  # the workflow's name, for re-showing
    request_id: str | None = Field(default=None, alias="r")
    names: list[str] = Field(default_factory=list, alias="n")

    model_config = {"populate_by_name": True}

    def encode(self) -> str:
        """JSON within private_metadata's 3,000 characters, dropping names that do not fit."""
        target = self
        while len(raw := target.model_dump_json(by_alias=True)) > MAX_METADATA and target.names:
            target = target.model_copy(update={"names": target.names[:-1]})
        return raw

    @classmethod
    def decode(cls, raw: str | None) -> FormTarget | None:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError:
            return None


def field_names(workflow: Workflow, recent: Sequence[Request]) -> list[str]:
    """Required fields first, then the names recent requests used most."""
    required = (workflow.model_extra or {}).get("requiredFields") or []
    counts = Counter(name for request in recent for name in request.fields)
    names = [str(name) for name in required if isinstance(name, str)]
    names += [name for name, _ in counts.most_common() if name not in names]
    return names[:MAX_FORM_FIELDS]


def request_form(
    workflow: Workflow,
    target: FormTarget,
    values: Mapping[str, Any] | None = None,
    *,
    error: str | None = None,
) -> dict[str, Any]:
    """The new-request form (target without request id) or the draft editor (with one)."""
    values = values or {}
    editing = target.request_id is not None
    kept = FormTarget.decode(target.encode()) or target
    blocks: list[dict[str, Any]] = [section(f"*{escaped(workflow.label, 200)}*")]
    if error:
        blocks.append(section(f"⚠️ {escaped(error, 2900)}"))
    for index, name in enumerate(kept.names):
        shown = format_value(values[name]) if name in values else None
        blocks.append(text_input(f"f{index}", name, optional=True, initial=shown))
    blocks += _extra_rows(values, kept.names)
    if not editing:
        blocks.append(_mode_block())
    callback = View.EDIT_DRAFT if editing else View.NEW_REQUEST
    title = "Edit draft" if editing else "New request"
    submit = "Save" if editing else "Send"
    return modal(callback, title, blocks, submit=submit, private_metadata=kept.encode())


def _extra_rows(values: Mapping[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """Free key/value rows; values the fixed inputs do not cover fill them first."""
    leftovers = [(k, v) for k, v in values.items() if k not in names][:EXTRA_ROWS]
    rows = []
    for row in range(EXTRA_ROWS):
        key, value = leftovers[row] if row < len(leftovers) else (None, None)
        rows.append(text_input(f"k{row}", "Another field: name", optional=True, initial=key))
        shown = format_value(value) if value is not None else None
        rows.append(text_input(f"v{row}", "Its value", optional=True, initial=shown))
    return rows


def _mode_block() -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": "Submit it for approval"}, "value": SUBMIT},
        {"text": {"type": "plain_text", "text": "Save it as a draft"}, "value": DRAFT},
    ]
    element = {
        "type": "radio_buttons",
        "action_id": MODE,
        "options": options,
        "initial_option": options[0],
    }
    label = {"type": "plain_text", "text": "When I press Send"}
    return {"type": "input", "block_id": MODE, "label": label, "element": element}


def form_values(state: Mapping[str, Any], target: FormTarget) -> tuple[dict[str, str], str]:
    """The fields typed (blank ones left out) and the chosen way out."""
    flat = _flatten(state)
    fields = {
        name: value
        for index, name in enumerate(target.names)
        if (value := (flat.get(f"f{index}") or "").strip())
    }
    for row in range(EXTRA_ROWS):
        key = (flat.get(f"k{row}") or "").strip()
        if key:
            fields[key] = (flat.get(f"v{row}") or "").strip()
    return fields, flat.get(MODE) or SUBMIT


def _flatten(state: Mapping[str, Any]) -> dict[str, str | None]:
    flat: dict[str, str | None] = {}
    for block in (state.get("values") or state).values():
        for action_id, element in block.items():
            chosen = element.get("selected_option") or {}
            flat[action_id] = element.get("value") if "value" in element else chosen.get("value")
    return flat


def field_errors(target: FormTarget, errors: Mapping[str, str]) -> dict[str, str]:
    """Cflow's per-field complaints, keyed by the block ids of the inputs they concern."""
    blocks = {name: f"f{index}" for index, name in enumerate(target.names)}
    return {blocks[name]: text[:150] for name, text in errors.items() if name in blocks}


def working_view(text: str) -> dict[str, Any]:
    return modal(View.WORKING, "Cflow", [section(escaped(text, 2900))], close="Close")


def done_view(text: str) -> dict[str, Any]:
    """A closing view; `text` is bot-written mrkdwn (Cflow parts escaped by the caller)."""
    return modal(View.WORKING, "Cflow", [section(text[:2900])], close="Done")
