"""Block Kit as HTML (pure): what Slack would show for a message, a modal or the Home tab.

The page's script turns clicks into Slack payloads from data attributes alone:

- `data-block-id` on every block (Slack's own id, or one made up the way Slack does
  when the bot gave none: stable for the same `block_ids_of` and position);
- `data-action='{"action_id","block_id","type"}'` on every interactive element outside
  input blocks, plus `"text"` and `"value"` (when it has one) and `"style"` (when set)
  for a button, as Slack's block_actions payload carries them;
- `data-input='{"block_id","action_id","type"}'` on every element inside an input
  block, which is (or holds) a real form control to read the value from;
- `data-option='<the option, as given>'` on each option of a menu, select, checkbox
  group or radio group; `data-confirm='<the confirm object, as given>'` on an element
  that asks first.

Every text is escaped, URLs are kept only for http(s) (and mailto in mrkdwn), and no
element carries an event handler, so nothing a payload holds can run in the page. A
block or element this module does not know shows as a small "unsupported" note.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.playground.mrkdwn import (
    EMOJI,
    Names,
    esc,
    link_html,
    mention_html,
    mrkdwn_html,
    plain_text_html,
    safe_url,
)

Json = Mapping[str, Any]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")
_BUTTON_STYLES = {"primary": " bk-primary", "danger": " bk-danger"}
_CHOICES = frozenset({"checkboxes", "radio_buttons"})
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
_RICH_STYLES = (("code", "code"), ("bold", "b"), ("italic", "i"), ("strike", "s"))


@dataclass(frozen=True)
class _Scope:
    """What every block of one surface shares."""

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


# --- Attributes ---------------------------------------------------------------------------


def data_attr(name: str, payload: object) -> str:
    """` data-<name>='<JSON>'`, single-quoted so the JSON stays readable in the page's
    source; `&`, `<`, `>` and `'` are escaped, which is all a single-quoted value needs."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("'", "&#x27;")):
        text = text.replace(char, entity)
    return f" data-{name}='{text}'"


def _made_up_id(seed: str, index: int | str) -> str:
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


def _text(obj: object, names: Names) -> str:
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


def _unsupported(what: str, kind: object) -> str:
    return f'<span class="bk-unsupported">Unsupported {what}: {esc(kind)}</span>'


# --- Surfaces -----------------------------------------------------------------------------


def blocks_html(
    blocks: Sequence[Mapping[str, Any]], names: Names, *, block_ids_of: str = ""
) -> str:
    """Blocks as HTML; `block_ids_of` (a message's ts, a view's id) seeds made-up ids."""
    return _blocks_html(blocks, _Scope(names, {}, block_ids_of))


def message_html(message: Mapping[str, Any], names: Names) -> str:
    """One message as Slack shows it: who, when, its blocks (or its text), and badges."""
    ts = str(message.get("ts") or "")
    blocks = _block_list(message.get("blocks"))
    if blocks:
        body = _blocks_html(blocks, _Scope(names, {}, ts))
    else:
        body = mrkdwn_html(str(message.get("text") or ""), names)
    ephemeral = bool(message.get("ephemeral"))
    thread = message.get("thread_ts")
    return (
        f'<article class="message{" bk-ephemeral" if ephemeral else ""}" data-ts="{esc(ts)}"'
        + (f' data-thread-ts="{esc(thread)}"' if thread else "")
        + ">"
        + _message_header(message, names, ephemeral)
        + f'<div class="bk-message-body">{body}</div>'
        + ('<span class="bk-edited">(edited)</span>' if message.get("edited") else "")
        + _replies_html(ts, message.get("replies"))
        + "</article>"
    )


def _message_header(message: Json, names: Names, ephemeral: bool) -> str:
    user = str(message.get("user") or "")
    author = names.users.get(user) or user or "app"
    badge = '<span class="bk-ephemeral-badge">Only visible to you</span>' if ephemeral else ""
    return (
        f'<header class="bk-message-header"><span class="bk-author">{esc(author)}</span>'
        f'<span class="bk-app-badge">APP</span>{_time_html(message.get("ts"))}{badge}</header>'
    )


def _time_html(ts: object) -> str:
    """The message's time, in UTC: the page shows every message on one clock."""
    try:
        moment = datetime.fromtimestamp(float(str(ts)), UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    shown = moment.strftime("%H:%M")
    return f'<time class="bk-time" datetime="{moment.isoformat()}">{shown}</time>'


def _replies_html(ts: str, replies: object) -> str:
    if isinstance(replies, bool) or not isinstance(replies, int) or replies < 1:
        return ""
    label = "1 reply" if replies == 1 else f"{replies} replies"
    return f'<a class="bk-replies" href="#thread-{esc(ts)}" data-thread="{esc(ts)}">{label}</a>'


def view_html(
    view: Mapping[str, Any], names: Names, *, errors: Mapping[str, str] | None = None
) -> str:
    """A modal as a form (title, blocks, close and submit), or the Home tab's blocks;
    `errors` are a `response_action: errors` answer, shown under the blocks they name."""
    view_id = str(view.get("id") or "")
    body = _blocks_html(_block_list(view.get("blocks")), _Scope(names, errors or {}, view_id))
    if view.get("type") != "modal":
        return f'<section class="home" data-view-id="{esc(view_id)}">{body}</section>'
    return (
        f'<form class="modal" method="dialog" data-view-id="{esc(view_id)}" '
        f'data-callback-id="{esc(view.get("callback_id") or "")}">'
        f'<header class="bk-modal-header"><h1 class="bk-modal-title">'
        f"{plain_text_html(view.get('title'))}</h1></header>"
        f'<div class="bk-modal-body">{body}</div>{_modal_footer(view)}</form>'
    )


def _modal_footer(view: Json) -> str:
    close = plain_text_html(view.get("close")) or "Cancel"
    buttons = (
        '<button type="button" class="bk-button bk-modal-close" data-view-action="close">'
        f"{close}</button>"
    )
    if isinstance(view.get("submit"), Mapping):
        buttons += (
            '<button type="submit" class="bk-button bk-primary bk-modal-submit" '
            f'data-view-action="submit">{plain_text_html(view["submit"])}</button>'
        )
    return f'<footer class="bk-modal-footer">{buttons}</footer>'


# --- Blocks -------------------------------------------------------------------------------


def _block_list(value: object) -> Sequence[Any]:
    """A payload's blocks; anything but a list (None, a stray string) holds none."""
    return value if isinstance(value, list | tuple) else []


def _blocks_html(blocks: Sequence[Any], scope: _Scope) -> str:
    return "".join(_block_html(block, index, scope) for index, block in enumerate(blocks))


def _block_html(block: object, index: int, scope: _Scope) -> str:
    """One block in its wrapper, with the error a modal's submission gave it."""
    fields: Json = block if isinstance(block, Mapping) else {"type": type(block).__name__}
    given = fields.get("block_id")
    block_id = given if isinstance(given, str) and given else _made_up_id(scope.seed, index)
    kind, inner = _block_inner(fields, block_id, scope)
    error = scope.errors.get(block_id)
    classes = f"bk-block bk-{kind}" + (" bk-has-error" if error else "")
    shown_error = f'<div class="bk-error" role="alert">{esc(error)}</div>' if error else ""
    return f'<div class="{esc(classes)}" data-block-id="{esc(block_id)}">{inner}{shown_error}</div>'


def _block_inner(block: Json, block_id: str, scope: _Scope) -> tuple[str, str]:
    """The block's kind (as its CSS class names it) and its content."""
    kind = str(block.get("type", ""))
    render = _BLOCKS.get(kind)
    if render is None:
        return "unsupported", _unsupported("block", kind)
    try:
        return kind, render(block, block_id, scope)
    except (AttributeError, KeyError, TypeError, ValueError):  # malformed: show, never crash
        return "unsupported", _unsupported("block (malformed)", kind)


def _header(block: Json, block_id: str, scope: _Scope) -> str:
    return f'<h2 class="bk-header-text">{plain_text_html(block.get("text"))}</h2>'


def _divider(block: Json, block_id: str, scope: _Scope) -> str:
    return "<hr>"


def _section(block: Json, block_id: str, scope: _Scope) -> str:
    """Text, then fields in two columns; the accessory sits to the right."""
    body = ""
    if block.get("text"):
        body += f'<div class="bk-section-text">{_text(block["text"], scope.names)}</div>'
    fields = block.get("fields") or []
    if fields:
        cells = "".join(f'<div class="bk-field">{_text(f, scope.names)}</div>' for f in fields)
        body += f'<div class="bk-fields">{cells}</div>'
    accessory = block.get("accessory")
    side = ""
    if isinstance(accessory, Mapping):
        side = (
            f'<div class="bk-accessory">{_element(accessory, 0, block_id, scope, "action")}</div>'
        )
    return f'<div class="bk-section-body">{body}</div>{side}'


def _context(block: Json, block_id: str, scope: _Scope) -> str:
    return "".join(_context_element(element, scope.names) for element in block["elements"])


def _context_element(element: Json, names: Names) -> str:
    if element.get("type") == "image":
        return _image_tag(element, "bk-context-image")
    return f'<span class="bk-context-text">{_text(element, names)}</span>'


def _actions(block: Json, block_id: str, scope: _Scope) -> str:
    elements = block["elements"]
    return "".join(_element(e, i, block_id, scope, "action") for i, e in enumerate(elements))


def _image_block(block: Json, block_id: str, scope: _Scope) -> str:
    title = block.get("title")
    caption = f'<div class="bk-image-title">{plain_text_html(title)}</div>' if title else ""
    return caption + _image_tag(block, "bk-image")


def _image_tag(image: Json, css: str) -> str:
    """The image when its URL is http(s); else its alt text, so nothing else is fetched."""
    alt = str(image.get("alt_text") or "")
    url = safe_url(image.get("image_url"))
    if url is None:
        return f'<span class="{css} bk-image-missing">[image: {esc(alt)}]</span>'
    return f'<img class="{css}" src="{esc(url)}" alt="{esc(alt)}">'


def _input(block: Json, block_id: str, scope: _Scope) -> str:
    """Label, control, hint; a lone control sits inside its label, a group beside it."""
    optional = bool(block.get("optional"))
    label = plain_text_html(block.get("label"))
    label += ' <span class="bk-optional">(optional)</span>' if optional else ""
    element = block["element"]
    control = _element(element, 0, block_id, scope, "input", required=not optional)
    hint = block.get("hint")
    shown_hint = f'<div class="bk-hint">{plain_text_html(hint)}</div>' if hint else ""
    if element.get("type") in _CHOICES:
        return f'<div class="bk-label">{label}</div>{control}{shown_hint}'
    return (
        f'<label class="bk-input-label"><span class="bk-label">{label}</span>{control}'
        f"</label>{shown_hint}"
    )


def _rich_text(block: Json, block_id: str, scope: _Scope) -> str:
    return "".join(_rich_part(part, scope.names) for part in block["elements"])


def _rich_part(part: Json, names: Names) -> str:
    """A rich_text section, list, quote or preformatted run."""
    kind = part.get("type")
    if kind == "rich_text_list":
        tag = "ol" if part.get("style") == "ordered" else "ul"
        items = "".join(f"<li>{_rich_inline(item, names)}</li>" for item in part["elements"])
        return f'<{tag} class="bk-list">{items}</{tag}>'
    inner = _rich_inline(part, names)
    if kind == "rich_text_quote":
        return f'<blockquote class="bk-quote">{inner}</blockquote>'
    if kind == "rich_text_preformatted":
        return f'<pre class="bk-pre">{inner}</pre>'
    if kind == "rich_text_section":
        return f'<div class="bk-rich-section">{inner}</div>'
    return _unsupported("rich text part", kind)


def _rich_inline(part: Json, names: Names) -> str:
    return "".join(_styled(_rich_element(e, names), e) for e in part.get("elements") or [])


def _rich_element(element: Json, names: Names) -> str:
    """One run of a rich_text section: text, a link, a mention or an emoji."""
    kind = element.get("type")
    if kind == "text":
        return esc(element.get("text", "")).replace("\n", "<br>")
    if kind == "link":
        url, shown = element.get("url"), str(element.get("text") or element.get("url") or "")
        return link_html(str(url), shown) if safe_url(url, mail=True) else esc(shown)
    if kind == "user":
        user = str(element.get("user_id", ""))
        return mention_html("@" + (names.users.get(user) or user))
    if kind == "channel":
        channel = str(element.get("channel_id", ""))
        return mention_html("#" + (names.channels.get(channel) or channel))
    if kind == "broadcast":
        return mention_html("@" + str(element.get("range", "")))
    if kind == "emoji":
        return esc(_emoji(element))
    return _unsupported("rich text element", kind)


def _emoji(element: Json) -> str:
    name = str(element.get("name", ""))
    codes = str(element.get("unicode") or "")
    try:
        return "".join(chr(int(code, 16)) for code in codes.split("-")) if codes else EMOJI[name]
    except (KeyError, ValueError, OverflowError):
        return f":{name}:"


def _styled(shown: str, element: Json) -> str:
    style = element.get("style")
    if not isinstance(style, Mapping):
        return shown
    for key, tag in _RICH_STYLES:
        shown = f"<{tag}>{shown}</{tag}>" if style.get(key) else shown
    return shown


_BLOCKS: dict[str, Callable[[Json, str, _Scope], str]] = {
    "header": _header,
    "divider": _divider,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "image": _image_block,
    "input": _input,
    "rich_text": _rich_text,
}


# --- Elements -----------------------------------------------------------------------------


def _element(
    element: object, index: int, block_id: str, scope: _Scope, use: str, *, required: bool = False
) -> str:
    """An element, with the identity its payload needs (made up, as Slack does, when the
    bot gave no action_id)."""
    if not isinstance(element, Mapping):
        return _unsupported("element", type(element).__name__)
    kind = str(element.get("type", ""))
    render = _ELEMENTS.get(kind)
    if render is None:
        return _unsupported("element", kind)
    given = element.get("action_id")
    action_id = given if isinstance(given, str) and given else _made_up_id(block_id, index)
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
        f'<span class="bk-description">{_text(description, names)}</span>' if description else ""
    )
    return (
        f'<label class="bk-choice"><input type="{kind}"{attrs}{data_attr("option", option)}>'
        f'<span class="bk-choice-text">{_text(option.get("text"), names)}</span>{shown}</label>'
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
    return _image_tag(element, "bk-accessory-image")


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
