"""Block Kit's interactive elements as HTML (pure), with the data attributes from which
the page's script builds Slack's payloads; also the small helpers blocks share with them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.devtools.playground.mrkdwn import Names, esc, mrkdwn_html, plain_text_html, safe_url

Json = Mapping[str, Any]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")
_BUTTON_STYLES = {"primary": " bk-primary", "danger": " bk-danger"}
_TEXT_INPUTS = {"plain_text_input": "text", "email_text_input": "email", "url_text_input": "url"}
# Selects of people or conversations: which names they list, and their initial key.
_DIRECTORY_SELECTS = {
    "users_select": ("users", "initial_user"),
    "multi_users_select": ("users", "initial_users"),
    "conversations_select": ("channels", "initial_conversation"),
    "multi_conversations_select": ("channels", "initial_conversations"),
    "channels_select": ("channels", "initial_channel"),
    "multi_channels_select": ("channels", "initial_channels"),
}


@dataclass(frozen=True)
class Scope:
    """What every block of one surface shares (here, as elements need its names and seed)."""

    names: Names
    errors: Mapping[str, str]
    seed: str  # makes up block ids, and keeps radio groups of two messages apart


@dataclass(frozen=True)
class _Target:
    """Where an element sits, as its payload names it; `use` is "action" or "input"."""

    block_id: str
    action_id: str
    kind: str
    use: str
    required: bool
    group: str


def data_attr(name: str, payload: object) -> str:
    """` data-<name>='<JSON>'`, single-quoted so the JSON stays readable in the page's
    source; `&`, `<`, `>` and `'` are escaped, which is all a single-quoted value needs."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("'", "&#x27;")):
        text = text.replace(char, entity)
    return f" data-{name}='{text}'"


def made_up_id(seed: str, index: int | str) -> str:
    """Slack gives a block without an id a short random one; ours is stable instead, so
    that the same message rendered twice sends the same payloads."""
    return hashlib.blake2s(f"{seed}/{index}".encode(), digest_size=3).hexdigest()


def _identity(target: _Target, element: Json, extra: Json | None = None) -> str:
    """The element's data-action or data-input (and data-confirm when it asks first)."""
    if target.use == "input":
        payload = {"block_id": target.block_id, "action_id": target.action_id}
        return data_attr("input", payload | {"type": target.kind})
    payload = {"action_id": target.action_id, "block_id": target.block_id, "type": target.kind}
    attrs = data_attr("action", payload | dict(extra or {}))
    confirm = element.get("confirm")
    return attrs + (data_attr("confirm", confirm) if isinstance(confirm, Mapping) else "")


def _required(target: _Target) -> str:
    return " required" if target.required else ""


def text_html(obj: object, names: Names) -> str:
    """A text object of either type."""
    if isinstance(obj, Mapping) and obj.get("type") == "mrkdwn":
        return mrkdwn_html(str(obj.get("text", "")), names)
    return plain_text_html(obj if isinstance(obj, Mapping) else None)


def _plain(obj: object) -> str:
    """A text object's bare text (for attributes such as placeholder)."""
    text = obj.get("text", "") if isinstance(obj, Mapping) else ""
    return text if isinstance(text, str) else ""


def _placeholder(element: Json) -> str:
    shown = _plain(element.get("placeholder"))
    return f' placeholder="{esc(shown)}"' if shown else ""


def _number(element: Json, key: str, attribute: str) -> str:
    value = element.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return ""
    return f' {attribute}="{esc(value)}"'


def unsupported(what: str, kind: object) -> str:
    return f'<span class="bk-unsupported">Unsupported {what}: {esc(kind)}</span>'


def image_tag(image: Json, css: str) -> str:
    """The image when its URL is http(s); else its alt text, so nothing else is fetched."""
    alt = str(image.get("alt_text") or "")
    url = safe_url(image.get("image_url"))
    if url is None:
        return f'<span class="{css} bk-image-missing">[image: {esc(alt)}]</span>'
    return f'<img class="{css}" src="{esc(url)}" alt="{esc(alt)}">'


def element_html(
    element: object, index: int, block_id: str, scope: Scope, use: str, *, required: bool = False
) -> str:
    """An element, with the identity its payload needs (made up, as Slack does, when the
    bot gave no action_id)."""
    if not isinstance(element, Mapping):
        return unsupported("element", type(element).__name__)
    kind = str(element.get("type", ""))
    render = _ELEMENTS.get(kind)
    if render is None:
        return unsupported("element", kind)
    given = element.get("action_id")
    action_id = given if isinstance(given, str) and given else made_up_id(block_id, index)
    group = f"{scope.seed}/{block_id}/{action_id}"
    return render(element, _Target(block_id, action_id, kind, use, required, group), scope.names)


def _button(element: Json, target: _Target, names: Names) -> str:
    """A button; with an http(s) `url` a link, which Slack still reports as a click."""
    style = element.get("style")
    extra: dict[str, Any] = {"text": element["text"]} if "text" in element else {}
    extra |= {"value": element["value"]} if "value" in element else {}
    extra |= {"style": style} if style in _BUTTON_STYLES else {}
    classes = "bk-button" + _BUTTON_STYLES.get(str(style), "")
    attrs, label = _identity(target, element, extra), plain_text_html(element.get("text"))
    url = safe_url(element.get("url"))
    if url:
        return (
            f'<a class="{classes}" href="{esc(url)}" rel="noopener noreferrer" '
            f'target="_blank"{attrs}>{label}</a>'
        )
    return f'<button type="button" class="{classes}"{attrs}>{label}</button>'


def _overflow(element: Json, target: _Target, names: Names) -> str:
    """The ⋯ menu: <details> opens it without script; each item carries its option."""
    items = "".join(f"<li>{_menu_item(option)}</li>" for option in _options(element))
    return (
        f'<details class="bk-overflow"{_identity(target, element)}>'
        '<summary class="bk-overflow-toggle" aria-label="More actions">⋯</summary>'
        f'<ul class="bk-menu">{items}</ul></details>'
    )


def _menu_item(option: Json) -> str:
    label, attrs = plain_text_html(option.get("text")), data_attr("option", option)
    url = safe_url(option.get("url"))
    if url:
        return (
            f'<a class="bk-menu-item" href="{esc(url)}" rel="noopener noreferrer" '
            f'target="_blank"{attrs}>{label}</a>'
        )
    return f'<button type="button" class="bk-menu-item"{attrs}>{label}</button>'


def _options(element: Json) -> list[Json]:
    """Every option, option groups flattened."""
    options = [o for o in element.get("options") or [] if isinstance(o, Mapping)]
    for group in element.get("option_groups") or []:
        options += [o for o in group.get("options") or [] if isinstance(o, Mapping)]
    return options


def _initial_values(element: Json) -> set[str]:
    """The values of the option(s) chosen up front (compared by value, as Slack does)."""
    chosen = element.get("initial_options") or [element.get("initial_option")]
    return {str(o.get("value")) for o in chosen if isinstance(o, Mapping)}


def _static_select(element: Json, target: _Target, names: Names) -> str:
    multiple = target.kind.startswith("multi_")
    chosen = _initial_values(element)
    first = "" if multiple else _placeholder_option(element, selected=not chosen)
    groups = element.get("option_groups")
    if groups:
        inner = "".join(_option_group(group, chosen) for group in groups)
    else:
        inner = "".join(_option_tag(option, chosen) for option in _options(element))
    return _select_tag(target, element, multiple, first + inner)


def _select_tag(target: _Target, element: Json, multiple: bool, options: str) -> str:
    attrs = (" multiple" if multiple else "") + _required(target) + _identity(target, element)
    return f'<select class="bk-select"{attrs}>{options}</select>'


def _placeholder_option(element: Json, *, selected: bool) -> str:
    """The empty first choice: what a select shows before anything is picked."""
    shown = _plain(element.get("placeholder")) or "Select an item"
    return f'<option value=""{" selected" if selected else ""}>{esc(shown)}</option>'


def _option_group(group: Json, chosen: set[str]) -> str:
    options = "".join(_option_tag(o, chosen) for o in group.get("options") or [])
    return f'<optgroup label="{esc(_plain(group.get("label")))}">{options}</optgroup>'


def _option_tag(option: Json, chosen: set[str]) -> str:
    value = str(option.get("value", ""))
    selected = " selected" if value in chosen else ""
    attrs = f' value="{esc(value)}"{selected}{data_attr("option", option)}'
    return f"<option{attrs}>{plain_text_html(option.get('text'))}</option>"


def _external_select(element: Json, target: _Target, names: Names) -> str:
    """A text box: the options would come from the app's options URL, not the blocks."""
    initial = element.get("initial_option")
    value, option = "", ""
    if isinstance(initial, Mapping):
        value, option = _plain(initial.get("text")), data_attr("option", initial)
    attrs = _placeholder(element) + _required(target) + option + _identity(target, element)
    return f'<input type="text" class="bk-select bk-external" value="{esc(value)}"{attrs}>'


def _directory_select(element: Json, target: _Target, names: Names) -> str:
    """People or conversations from `names`; each <option>'s value is the Slack id."""
    which, initial_key = _DIRECTORY_SELECTS[target.kind]
    known: Mapping[str, str] = names.users if which == "users" else names.channels
    initial = element.get(initial_key)
    chosen = {str(i) for i in initial} if isinstance(initial, list) else {str(initial or "")}
    listed = dict(known) | {i: i for i in chosen if i and i not in known}
    multiple = target.kind.startswith("multi_")
    first = "" if multiple else _placeholder_option(element, selected=not (chosen - {""}))
    entries = sorted(listed.items(), key=lambda pair: pair[1].casefold())
    inner = "".join(
        f'<option value="{esc(i)}"{" selected" if i in chosen else ""}>{esc(name)}</option>'
        for i, name in entries
    )
    return _select_tag(target, element, multiple, first + inner)


def _choices(element: Json, target: _Target, names: Names) -> str:
    """Checkboxes or radio buttons; each input carries its option."""
    kind = "checkbox" if target.kind == "checkboxes" else "radio"
    chosen = _initial_values(element)
    required = _required(target) if kind == "radio" else ""  # one required box: all required
    items = "".join(
        _choice(option, kind, target.group, str(option.get("value")) in chosen, required, names)
        for option in _options(element)
    )
    return f'<div class="bk-choices" role="group"{_identity(target, element)}>{items}</div>'


def _choice(option: Json, kind: str, group: str, checked: bool, required: str, names: Names) -> str:
    value = str(option.get("value", ""))
    attrs = f' name="{esc(group)}" value="{esc(value)}"{" checked" if checked else ""}{required}'
    description = option.get("description")
    shown = (
        f'<span class="bk-description">{text_html(description, names)}</span>'
        if description
        else ""
    )
    return (
        f'<label class="bk-choice"><input type="{kind}"{attrs}{data_attr("option", option)}>'
        f'<span class="bk-choice-text">{text_html(option.get("text"), names)}</span>{shown}</label>'
    )


def _dated(element: Json, target: _Target, names: Names) -> str:
    """A date or time picker as the browser's own (values as Slack sends them)."""
    if target.kind == "datepicker":
        kind, css, key, pattern = "date", "bk-datepicker", "initial_date", _DATE
    else:
        kind, css, key, pattern = "time", "bk-timepicker", "initial_time", _TIME
    initial = element.get(key)
    value = (
        f' value="{esc(initial)}"'
        if isinstance(initial, str) and pattern.fullmatch(initial)
        else ""
    )
    attrs = value + _placeholder(element) + _required(target) + _identity(target, element)
    return f'<input type="{kind}" class="{css}"{attrs}>'


def _text_input(element: Json, target: _Target, names: Names) -> str:
    """A one-line box, or a textarea when `multiline`; limits as the browser's own."""
    attrs = _number(element, "max_length", "maxlength") + _number(
        element, "min_length", "minlength"
    )
    attrs += _placeholder(element) + _required(target) + _identity(target, element)
    initial = str(element.get("initial_value") or "")
    if element.get("multiline") and target.kind == "plain_text_input":
        lead = "\n" if initial.startswith("\n") else ""  # HTML drops one leading newline
        return f'<textarea class="bk-text-input" rows="4"{attrs}>{lead}{esc(initial)}</textarea>'
    kind = _TEXT_INPUTS[target.kind]
    return f'<input type="{kind}" class="bk-text-input" value="{esc(initial)}"{attrs}>'


def _number_input(element: Json, target: _Target, names: Names) -> str:
    step = "any" if element.get("is_decimal_allowed") else "1"
    attrs = _number(element, "min_value", "min") + _number(element, "max_value", "max")
    attrs += _number(element, "initial_value", "value") + _placeholder(element)
    attrs += _required(target) + _identity(target, element)
    return f'<input type="number" class="bk-number-input" step="{step}"{attrs}>'


def _image_element(element: Json, target: _Target, names: Names) -> str:
    return image_tag(element, "bk-accessory-image")


_ELEMENTS: dict[str, Callable[[Json, _Target, Names], str]] = {
    "button": _button,
    "overflow": _overflow,
    "static_select": _static_select,
    "multi_static_select": _static_select,
    "external_select": _external_select,
    "multi_external_select": _external_select,
    **dict.fromkeys(_DIRECTORY_SELECTS, _directory_select),
    "checkboxes": _choices,
    "radio_buttons": _choices,
    "datepicker": _dated,
    "timepicker": _dated,
    **dict.fromkeys(_TEXT_INPUTS, _text_input),
    "number_input": _number_input,
    "image": _image_element,
}
