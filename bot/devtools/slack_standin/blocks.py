"""What Slack checks in a view's input elements before it shows the view.

views.open, views.push, views.update and views.publish refuse a view whose input block
holds an element Slack does not know, or a field that element does not have, with
`invalid_arguments` and a pointer to the field in `response_metadata.messages`. The
stand-in answers the same, so a modal the bot builds wrong fails in the tests rather
than in front of a person. Fields are those of Slack's Block Kit reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.blocks.ids import is_user_id

MAX_PLACEHOLDER = 150
_ANY = frozenset({"type", "action_id", "focus_on_load"})
_TEXT = _ANY | {"initial_value", "placeholder", "dispatch_action_config"}
_SELECT = _ANY | {"confirm", "placeholder"}
_MULTI = _SELECT | {"max_selected_items"}
_CONVERSATIONS = {"default_to_current_conversation", "filter", "response_url_enabled"}
FIELDS: dict[str, frozenset[str]] = {
    "plain_text_input": _TEXT | {"multiline", "min_length", "max_length"},
    "email_text_input": _TEXT,
    "url_text_input": _TEXT,
    "number_input": _TEXT | {"is_decimal_allowed", "min_value", "max_value"},
    "rich_text_input": _TEXT,
    "static_select": _SELECT | {"options", "option_groups", "initial_option"},
    "multi_static_select": _MULTI | {"options", "option_groups", "initial_options"},
    "external_select": _SELECT | {"initial_option", "min_query_length"},
    "multi_external_select": _MULTI | {"initial_options", "min_query_length"},
    "users_select": _SELECT | {"initial_user"},
    "multi_users_select": _MULTI | {"initial_users"},
    "conversations_select": _SELECT | _CONVERSATIONS | {"initial_conversation"},
    "multi_conversations_select": _MULTI | _CONVERSATIONS | {"initial_conversations"},
    "channels_select": _SELECT | {"initial_channel", "response_url_enabled"},
    "multi_channels_select": _MULTI | {"initial_channels"},
    "datepicker": _SELECT | {"initial_date"},
    "timepicker": _SELECT | {"initial_time", "timezone"},
    "datetimepicker": _ANY | {"confirm", "initial_date_time"},
    "radio_buttons": _ANY | {"options", "initial_option", "confirm"},
    "checkboxes": _ANY | {"options", "initial_options", "confirm"},
    "file_input": frozenset({"type", "action_id", "filetypes", "max_files"}),
}


def input_problems(view: Mapping[str, Any]) -> list[str]:
    """Slack's messages for every input element of `view` it would refuse; [] if none."""
    problems: list[str] = []
    for index, block in enumerate(view.get("blocks") or []):
        if isinstance(block, Mapping) and block.get("type") == "input":
            problems += _element_problems(block.get("element"), f"/view/blocks/{index}/element")
    return problems


def _element_problems(element: Any, where: str) -> list[str]:
    if not isinstance(element, Mapping) or element.get("type") not in FIELDS:
        return [_error("failed to match all allowed schemas", where)]
    unknown = sorted(set(element) - FIELDS[element["type"]])
    problems = [_error("unknown field", f"{where}/{name}") for name in unknown]
    if "placeholder" in element and not _short_plain_text(element["placeholder"]):
        problems.append(_error("must be plain_text of at most 150 characters", where))
    if "initial_user" in element and not _user_id(element["initial_user"]):
        problems.append(_error("must be a user id", f"{where}/initial_user"))
    if "initial_users" in element and not all(map(_user_id, element["initial_users"] or [""])):
        problems.append(_error("must be user ids", f"{where}/initial_users"))
    return problems


def _short_plain_text(text: Any) -> bool:
    return (
        isinstance(text, Mapping)
        and text.get("type") == "plain_text"
        and isinstance(text.get("text"), str)
        and 0 < len(text["text"]) <= MAX_PLACEHOLDER
    )


def _user_id(value: Any) -> bool:
    return isinstance(value, str) and is_user_id(value)


def _error(what: str, pointer: str) -> str:
    return f"[ERROR] {what} [json-pointer:{pointer}]"
