"""Modals to create a request or a draft, and to edit a draft (pure: data in, JSON out).

Cflow's API does not describe a workflow's form, so the inputs are the field names of
its recent requests (and `requiredFields` where Cflow sends it), plus free rows for
more key/value pairs. Which names the inputs stand for rides in `private_metadata`.

The draft editor must give back exactly what it was given: a value that is not text
(a number, true/false, a list) is shown and read back as JSON; a value too long for a
Slack input is shown, not offered for editing; and only what was changed is sent (a
field emptied is sent empty), since Cflow's update merges the fields it is given.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from bot.blocks.ids import MAX_METADATA, View, values_of
from bot.blocks.modals import MAX_INPUT, modal, text_input
from bot.blocks.origins import LINK_FIELD, MessageOrigin, origin_note
from bot.blocks.primitives import section
from bot.blocks.text import clean, escaped
from bot.cflow.models import Request, Workflow

MAX_FORM_FIELDS = 20
LONG_TEXT = 150  # longer values get a multi-line input
EXTRA_ROWS = 3
MODE = "mode"
SUBMIT, DRAFT = "submit", "draft"


class FormTarget(BaseModel):
    """What a form creates or edits, and the field name behind each input."""

    workflow_id: str = Field(alias="w")
    label: str | None = Field(default=None, alias="l")  # the workflow's name, for re-showing
    request_id: str | None = Field(default=None, alias="r")
    names: list[str] = Field(default_factory=list, alias="n")
    # The draft editor's memory of what it showed (see the module's docstring).
    typed: list[str] = Field(default_factory=list, alias="t")  # values read back as JSON
    locked: list[str] = Field(default_factory=list, alias="x")  # too long: shown, never sent
    shown: dict[str, str] = Field(default_factory=dict, alias="h")  # digest of each value
    # The Slack message a request is made from (the "Request approval" shortcut).
    origin: MessageOrigin | None = Field(default=None, alias="o")

    model_config = {"populate_by_name": True}

    @classmethod
    def for_draft(cls, workflow: Workflow, draft: Request) -> FormTarget:
        names = list(draft.fields)[:MAX_FORM_FIELDS]
        texts = {name: editable_text(draft.fields[name]) for name in names}
        return cls(
            workflow_id=workflow.id,
            label=workflow.label,
            request_id=draft.id,
            names=names,
            typed=[n for n in names if not isinstance(draft.fields[n], str | None)],
            locked=[n for n, text in texts.items() if len(text) > MAX_INPUT],
            shown={n: _digest(text) for n, text in texts.items() if len(text) <= MAX_INPUT},
        )

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
    rows: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The new-request form (target without request id) or the draft editor (with one);
    `rows` refills the free rows when the form is shown again."""
    values = values or {}
    editing = target.request_id is not None
    kept = FormTarget.decode(target.encode()) or target
    blocks: list[dict[str, Any]] = [section(f"*{escaped(workflow.label, 200)}*")]
    if error:
        blocks.append(section(f"⚠️ {escaped(error, 2900)}"))
    if kept.origin is not None:
        blocks.append(origin_note(kept.origin))
    for index, name in enumerate(kept.names):
        if name in kept.locked:
            blocks.append(_locked_block(name))
            continue
        shown = editable_text(values[name]) if name in values else None
        multiline = shown is not None and ("\n" in shown or len(shown) > LONG_TEXT)
        blocks.append(
            text_input(
                f"f{index}",
                name,
                optional=True,
                initial=shown,
                multiline=multiline,
                max_length=MAX_INPUT,
            )
        )
    leftovers = [(k, editable_text(v)) for k, v in values.items() if k not in kept.names]
    if editing:  # the draft's other fields are not offered, so they stay as they are
        blocks += _untouched_note(len(leftovers))
    blocks += _extra_rows(list(rows) or ([] if editing else leftovers))
    if not editing and kept.origin is None:  # from a message: sent for approval, no draft
        blocks.append(_mode_block())
    callback = View.EDIT_DRAFT if editing else View.NEW_REQUEST
    callback = View.MESSAGE_REQUEST if kept.origin is not None else callback
    title = "Edit draft" if editing else "New request"
    submit = "Save" if editing else "Send"
    return modal(callback, title, blocks, submit=submit, private_metadata=kept.encode())


def editable_text(value: Any) -> str:
    """A value as the editor shows it: text as it is, anything else as JSON, so that
    reading it back gives the same value (not "Yes" for true or "x, y" for a list)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _digest(text: str) -> str:
    return hashlib.blake2s(clean(text).strip().encode(), digest_size=6).hexdigest()


def _locked_block(name: str) -> dict[str, Any]:
    text = (
        f"*{escaped(name, 200)}* is longer than a Slack input holds ({MAX_INPUT:,} "
        "characters), so it is kept as it is: edit it in Cflow."
    )
    return section(text)


def _untouched_note(count: int) -> list[dict[str, Any]]:
    if not count:
        return []
    return [section(f"{count} more fields are kept as they are: edit them in Cflow.")]


def _extra_rows(filled: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Free key/value rows, the first ones filled with `filled`."""
    rows = []
    for row in range(EXTRA_ROWS):
        key, value = filled[row] if row < len(filled) else (None, None)
        rows.append(text_input(f"k{row}", "Another field: name", optional=True, initial=key))
        rows.append(text_input(f"v{row}", "Its value", optional=True, initial=value))
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


def form_values(state: Mapping[str, Any], target: FormTarget) -> tuple[dict[str, Any], str]:
    """The fields to send, and the chosen way out.

    A new request gets every field filled in; a draft only those changed from what the
    editor showed, emptied ones as "" and JSON-shown ones parsed back.
    """
    flat = values_of(state)
    fields: dict[str, Any] = {}
    for index, name in enumerate(target.names):
        text = (flat.get(f"f{index}") or "").strip()
        if target.request_id is None:
            if text:
                fields[name] = text
        elif name not in target.locked and _digest(text) != target.shown.get(name, _digest("")):
            fields[name] = _read_back(text) if name in target.typed and text else text
    for row in range(EXTRA_ROWS):
        key = (flat.get(f"k{row}") or "").strip()
        if key:
            fields[key] = (flat.get(f"v{row}") or "").strip()
    if target.origin is not None and fields:
        fields.setdefault(LINK_FIELD, target.origin.permalink)
    return fields, flat.get(MODE) or SUBMIT


def typed_form(
    state: Mapping[str, Any], target: FormTarget
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Everything typed, as it was typed (fields by name, and the free rows), to show the
    form again with nothing lost."""
    flat = values_of(state)
    texts = {name: flat.get(f"f{index}") or "" for index, name in enumerate(target.names)}
    rows = [(flat.get(f"k{r}") or "", flat.get(f"v{r}") or "") for r in range(EXTRA_ROWS)]
    return texts, [row for row in rows if any(row)]


def _read_back(text: str) -> Any:
    """A JSON-shown value as typed: parsed when it is JSON, else kept as text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def field_errors(target: FormTarget, errors: Mapping[str, str]) -> dict[str, str]:
    """Cflow's per-field complaints, keyed by the block ids of the inputs they concern."""
    blocks = {name: f"f{index}" for index, name in enumerate(target.names)}
    return {blocks[name]: text[:150] for name, text in errors.items() if name in blocks}


def working_view(text: str) -> dict[str, Any]:
    return modal(View.WORKING, "Cflow", [section(escaped(text, 2900))], close="Close")


def done_view(text: str) -> dict[str, Any]:
    """A closing view; `text` is bot-written mrkdwn (Cflow parts escaped by the caller)."""
    return modal(View.WORKING, "Cflow", [section(text[:2900])], close="Done")
