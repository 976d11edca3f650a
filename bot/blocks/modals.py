"""Modal views: reject, approve with a comment, reassign, and linking a Cflow account.

Pure builders like bot/blocks/card.py. The request a modal acts on travels in
`private_metadata` as `RequestRef.encode()`, with the `/cflow pending` list it was
opened from when there is one (read both back with `modal_target`). Each input's
block_id and action_id are the same `Input` value, so `bot.blocks.ids.values_of()` gives
{Input: value} for a view_submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from bot.blocks.card import request_card
from bot.blocks.card_view import CardView
from bot.blocks.ids import MAX_METADATA, Input, View
from bot.blocks.primitives import plain_text, section
from bot.blocks.text import clean, escaped, plain, truncate
from bot.domain.refs import RequestRef

ViewPayload = dict[str, Any]

MAX_TITLE = 24  # modal title, submit and close labels
MAX_INPUT = 3000  # a plain_text_input's max_length
MAX_PLACEHOLDER = 150
MAX_USERNAME = 255
TITLE_PREVIEW = 500


def modal(
    callback_id: str,
    title: str,
    blocks: list[dict[str, Any]],
    *,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str | None = None,
) -> ViewPayload:
    """A modal view; labels are cut to Slack's 24 characters."""
    view: ViewPayload = {
        "type": "modal",
        "callback_id": str(callback_id),
        "title": plain_text(plain(title, MAX_TITLE)),
        "close": plain_text(plain(close, MAX_TITLE)),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain_text(plain(submit, MAX_TITLE))
    if private_metadata is not None:
        view["private_metadata"] = private_metadata
    return view


def _metadata(ref: RequestRef) -> str:
    """The ref for private_metadata; cards never offer a ref too long to carry."""
    value = ref.encode()
    if len(value) > MAX_METADATA:
        raise ValueError("request reference too long for a modal's private_metadata")
    return value


def text_input(
    input_id: Input | str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    max_length: int | None = None,
    initial: str | None = None,
    placeholder: str | None = None,
    hint: str | None = None,
) -> dict[str, Any]:
    """An input block with a plain_text_input; block_id and action_id are `input_id`."""
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": str(input_id)}
    element["multiline"] = multiline
    if max_length:
        element["max_length"] = max_length
    if initial:
        element["initial_value"] = truncate(clean(initial), max_length or MAX_INPUT)
    if placeholder:
        element["placeholder"] = plain_text(plain(placeholder, MAX_PLACEHOLDER))
    return _input_block(input_id, label, element, optional=optional, hint=hint)


def _input_block(
    input_id: Input | str, label: str, element: dict[str, Any], *, optional: bool, hint: str | None
) -> dict[str, Any]:
    block = {
        "type": "input",
        "block_id": str(input_id),
        "label": plain_text(plain(label, 2000)),
        "element": element,
        "optional": optional,
    }
    return block | ({"hint": plain_text(plain(hint, 2000))} if hint else {})


def _named(title: str, prompt: str) -> dict[str, Any]:
    """The request the modal acts on, named in a section (its title is Cflow's text)."""
    return section(f"{prompt} *{escaped(title, TITLE_PREVIEW, single_line=True)}*")


@dataclass(frozen=True)
class ListOrigin:
    """The ephemeral `/cflow pending` answer a modal was opened from, to list again in
    its place once the decision is made (so its buttons never outlive their use)."""

    response_url: str
    page_scope: str


def modal_target(metadata: str | None) -> tuple[RequestRef | None, ListOrigin | None]:
    """The request a modal acts on, and the list it came from (if any)."""
    try:
        data = json.loads(metadata or "")
    except ValueError:
        data = None
    if isinstance(data, dict) and {"r", "u", "p"} <= data.keys():
        origin = ListOrigin(str(data["u"]), str(data["p"]))
        return RequestRef.decode(str(data["r"])), origin
    return RequestRef.decode(metadata), None


def reject_modal(
    ref: RequestRef, title: str, origin: ListOrigin | None = None, *, required: bool = True
) -> ViewPayload:
    """Asks for the reason: Cflow keeps it and the submitter is told it. Optional only
    where the workflow's policy asks no comment at all (`comment off`)."""
    blocks = [
        _named(title, "Reject"),
        text_input(
            Input.REASON,
            "Reason",
            multiline=True,
            optional=not required,
            max_length=MAX_INPUT,
            placeholder="Tell the submitter why",
        ),
    ]
    return modal(View.REJECT, "Reject request", blocks, submit="Reject", **_meta(ref, origin))


def approve_comment_modal(
    ref: RequestRef, title: str, origin: ListOrigin | None = None
) -> ViewPayload:
    """Approve with a comment (required: it is what this modal is for, and what the
    workflow's policy may ask of every approval, `comment approve|both`)."""
    blocks = [
        _named(title, "Approve"),
        text_input(Input.COMMENT, "Comment", multiline=True, max_length=MAX_INPUT),
    ]
    return modal(
        View.APPROVE_COMMENT, "Approve request", blocks, submit="Approve", **_meta(ref, origin)
    )


def reassign_modal(ref: RequestRef, title: str) -> ViewPayload:
    """Whom to hand the current stage to: a person picked from Slack's own member list,
    mapped to the Cflow account they linked when the modal is submitted. Never Cflow's
    user directory, which only the service account may read."""
    person = {
        "type": "users_select",
        "action_id": str(Input.REASSIGN_TO),
        "placeholder": plain_text("Choose a person"),
    }
    hint = "They must have linked their Cflow account; they act in Cflow as themselves."
    blocks = [
        _named(title, "Reassign"),
        _input_block(Input.REASSIGN_TO, "Reassign to", person, optional=False, hint=hint),
        text_input(Input.COMMENT, "Comment", multiline=True, optional=True, max_length=MAX_INPUT),
    ]
    return modal(View.REASSIGN, "Reassign request", blocks, submit="Reassign", **_meta(ref))


def reassign_choice(state: dict[str, Any]) -> str | None:
    """The Slack user picked in a submitted reassign modal (a users_select's
    `selected_user`), or None."""
    values = state.get("values", state)
    chosen = (values.get(Input.REASSIGN_TO) or {}).get(Input.REASSIGN_TO) or {}
    return chosen.get("selected_user") or None


def _meta(ref: RequestRef, origin: ListOrigin | None = None) -> dict[str, str]:
    if origin is None:
        return {"private_metadata": _metadata(ref)}
    data = {"r": _metadata(ref), "u": origin.response_url, "p": origin.page_scope}
    metadata = json.dumps(data, separators=(",", ":"))
    return {"private_metadata": metadata if len(metadata) <= MAX_METADATA else _metadata(ref)}


def link_modal(prefill_username: str | None = None, error: str | None = None) -> ViewPayload:
    """Asks for the Cflow username and user key; shows Cflow's refusal under the key."""
    blocks: list[dict[str, Any]] = [
        section(
            "Link your Slack account to your Cflow user. Your approvals and rejections "
            "are then made in Cflow as you, with your own user key (stored encrypted)."
        ),
        text_input(
            Input.CFLOW_USERNAME,
            "Cflow username",
            max_length=MAX_USERNAME,
            initial=prefill_username,
        ),
        text_input(
            Input.USER_KEY,
            "Cflow user key",
            max_length=MAX_USERNAME,
            hint="In Cflow: Profile > API Key > UserKey.",
        ),
    ]
    if error:
        blocks.append(section("⚠️ " + escaped(error, 2900)))
    return modal(View.LINK, "Link Cflow account", blocks, submit="Link")


def link_checking_view() -> ViewPayload:
    """Shown while the bot checks the key with Cflow (which may take longer than 3 s)."""
    blocks = [section("⏳ Checking your key with Cflow…")]
    return modal(View.LINK, "Link Cflow account", blocks, close="Close")


def link_done_view(cflow_username: str) -> ViewPayload:
    name = escaped(cflow_username, 200, single_line=True)
    text = f"✅ Linked to Cflow user *{name}*. You can now approve and reject from Slack."
    return modal(View.LINK, "Link Cflow account", [section(text)], close="Done")


def details_modal(view: CardView) -> ViewPayload:
    """A request's whole card in a modal, from the Home tab (no decision buttons: the
    tab has them)."""
    card = request_card(replace(view, actionable=False))
    blocks = [b for b in card["blocks"] if b.get("type") != "actions"]
    title = f"Request #{view.request.id}"
    return {
        "type": "modal",
        "title": plain_text(title if len(title) <= MAX_TITLE else "Request"),
        "close": plain_text("Close"),
        "blocks": blocks[:100],
    }
