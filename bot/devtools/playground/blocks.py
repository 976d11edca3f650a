"""Block Kit's blocks as HTML (pure): one renderer per block type, each in a wrapper
that carries its block id and the error a modal's submission gave it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.devtools.playground.elements import (
    Json,
    Scope,
    element_html,
    image_tag,
    made_up_id,
    text_html,
    unsupported,
)
from bot.devtools.playground.mrkdwn import (
    EMOJI,
    Names,
    esc,
    link_html,
    mention_html,
    plain_text_html,
    safe_url,
)

_CHOICES = frozenset({"checkboxes", "radio_buttons"})
_RICH_STYLES = (("code", "code"), ("bold", "b"), ("italic", "i"), ("strike", "s"))


def block_list_html(
    blocks: Sequence[Any], names: Names, *, seed: str, errors: Mapping[str, str]
) -> str:
    """`seed` (a message's ts, a view's id) makes up the ids of blocks that have none."""
    scope = Scope(names, errors, seed)
    return "".join(_block_html(block, index, scope) for index, block in enumerate(blocks))


def _block_html(block: object, index: int, scope: Scope) -> str:
    """One block in its wrapper, with the error a modal's submission gave it."""
    fields: Json = block if isinstance(block, Mapping) else {"type": type(block).__name__}
    given = fields.get("block_id")
    block_id = given if isinstance(given, str) and given else made_up_id(scope.seed, index)
    kind, inner = _block_inner(fields, block_id, scope)
    error = scope.errors.get(block_id)
    classes = f"bk-block bk-{kind}" + (" bk-has-error" if error else "")
    shown_error = f'<div class="bk-error" role="alert">{esc(error)}</div>' if error else ""
    return f'<div class="{esc(classes)}" data-block-id="{esc(block_id)}">{inner}{shown_error}</div>'


def _block_inner(block: Json, block_id: str, scope: Scope) -> tuple[str, str]:
    """The block's kind (as its CSS class names it) and its content."""
    kind = str(block.get("type", ""))
    render = _BLOCKS.get(kind)
    if render is None:
        return "unsupported", unsupported("block", kind)
    try:
        return kind, render(block, block_id, scope)
    except (AttributeError, KeyError, TypeError, ValueError):  # malformed: show, never crash
        return "unsupported", unsupported("block (malformed)", kind)


def _header(block: Json, block_id: str, scope: Scope) -> str:
    return f'<h2 class="bk-header-text">{plain_text_html(block.get("text"))}</h2>'


def _divider(block: Json, block_id: str, scope: Scope) -> str:
    return "<hr>"


def _section(block: Json, block_id: str, scope: Scope) -> str:
    """Text, then fields in two columns; the accessory sits to the right."""
    body = ""
    if block.get("text"):
        body += f'<div class="bk-section-text">{text_html(block["text"], scope.names)}</div>'
    fields = block.get("fields") or []
    if fields:
        cells = "".join(f'<div class="bk-field">{text_html(f, scope.names)}</div>' for f in fields)
        body += f'<div class="bk-fields">{cells}</div>'
    accessory = block.get("accessory")
    side = ""
    if isinstance(accessory, Mapping):
        shown = element_html(accessory, 0, block_id, scope, "action")
        side = f'<div class="bk-accessory">{shown}</div>'
    return f'<div class="bk-section-body">{body}</div>{side}'


def _context(block: Json, block_id: str, scope: Scope) -> str:
    return "".join(_context_element(element, scope.names) for element in block["elements"])


def _context_element(element: Json, names: Names) -> str:
    if element.get("type") == "image":
        return image_tag(element, "bk-context-image")
    return f'<span class="bk-context-text">{text_html(element, names)}</span>'


def _actions(block: Json, block_id: str, scope: Scope) -> str:
    elements = block["elements"]
    return "".join(element_html(e, i, block_id, scope, "action") for i, e in enumerate(elements))


def _image_block(block: Json, block_id: str, scope: Scope) -> str:
    title = block.get("title")
    caption = f'<div class="bk-image-title">{plain_text_html(title)}</div>' if title else ""
    return caption + image_tag(block, "bk-image")


def _input(block: Json, block_id: str, scope: Scope) -> str:
    """Label, control, hint; a lone control sits inside its label, a group beside it."""
    optional = bool(block.get("optional"))
    label = plain_text_html(block.get("label"))
    label += ' <span class="bk-optional">(optional)</span>' if optional else ""
    element = block["element"]
    control = element_html(element, 0, block_id, scope, "input", required=not optional)
    hint = block.get("hint")
    shown_hint = f'<div class="bk-hint">{plain_text_html(hint)}</div>' if hint else ""
    if element.get("type") in _CHOICES:
        return f'<div class="bk-label">{label}</div>{control}{shown_hint}'
    return (
        f'<label class="bk-input-label"><span class="bk-label">{label}</span>{control}'
        f"</label>{shown_hint}"
    )


def _rich_text(block: Json, block_id: str, scope: Scope) -> str:
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
    return unsupported("rich text part", kind)


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
    return unsupported("rich text element", kind)


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


_BLOCKS: dict[str, Callable[[Json, str, Scope], str]] = {
    "header": _header,
    "divider": _divider,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "image": _image_block,
    "input": _input,
    "rich_text": _rich_text,
}
