"""Slack mrkdwn as HTML, the way Slack's clients show it (pure).

Slack's own escaping (`&amp; &lt; &gt;`) is undone only after the `<…>` control
sequences are cut out, so `&lt;@U1&gt;` shows as text and never as a mention; and every
character of the result that is not markup made here is HTML-escaped, so a text holding
`<script>` or `"><img onerror=…>` shows those characters and runs nothing. Links keep
their target only for http, https and mailto.

A quote is a line starting with a raw `>` (or `>>>`, quoting the rest), as the bot
writes them; an escaped `&gt;` is text, which is what `bot.blocks.names.quote` relies on.
Emoji: the shortcodes in `EMOJI` become their character (the ones the bot and its users
are likely to type); any other `:shortcode:` stays as typed, since the page has no
emoji images.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EMOJI: Mapping[str, str] = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "information_source": "ℹ️",
    "memo": "📝",
    "wastebasket": "🗑️",
    "checkered_flag": "🏁",
    "arrow_right": "➡️",
    "leftwards_arrow_with_hook": "↩️",
    "tada": "🎉",
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "thumbsdown": "👎",
    "eyes": "👀",
    "wave": "👋",
    "rocket": "🚀",
    "fire": "🔥",
    "smile": "😄",
    "slightly_smiling_face": "🙂",
    "pray": "🙏",
}

_MARK, _END = "\ue000", "\ue001"  # private-use: stand-ins for control sequences while parsing
_PLACEHOLDER = re.compile(f"{_MARK}(\\d+){_END}")
_CONTROL = re.compile(r"<([^<>\n]+)>")
_PRE = re.compile(r"```(.*?)```", re.DOTALL)
# `code`, or *bold* / _italic_ / ~strike~ whose marks are not inside a word.
_INLINE = re.compile(r"`([^`\n]+)`|(?<![^\W_])([*_~])(?!\s)(.+?)(?<!\s)\2(?![^\W_])")
_STYLE_TAGS = {"*": "b", "_": "i", "~": "s"}
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SAFE_LINK = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)
_WEB_LINK = re.compile(r"https?://", re.IGNORECASE)
_QUOTE = re.compile(r"> ?")
_LONG_QUOTE = re.compile(r">>> ?")
_BULLET = re.compile(r"(?:• ?|- )")
_BROADCASTS = frozenset({"channel", "here", "everyone"})


@dataclass(frozen=True)
class Names:
    """What the ids in a text stand for, as Slack would show them."""

    users: Mapping[str, str] = field(default_factory=dict)  # Slack user id -> display name
    channels: Mapping[str, str] = field(default_factory=dict)  # channel id -> name


@dataclass(frozen=True)
class _Control:
    """A `<…>` sequence as shown in running text, and as shown inside code."""

    html: str
    text: str


def esc(value: object) -> str:
    """HTML-escaped text, quotes included, so it is safe in content and in attributes."""
    return html.escape(str(value), quote=True)


def safe_url(url: object, *, mail: bool = False) -> str | None:
    """The URL when a browser may follow it (http, https; mailto when `mail`), else None."""
    if not isinstance(url, str):
        return None
    return url if (_SAFE_LINK if mail else _WEB_LINK).match(url) else None


def link_html(url: str, shown: str) -> str:
    """A link that opens in a new tab and tells the target nothing about the page."""
    return (
        f'<a class="bk-link" href="{esc(url)}" rel="noopener noreferrer" target="_blank">'
        f"{esc(shown)}</a>"
    )


def mention_html(shown: str) -> str:
    return f'<span class="mention">{esc(shown)}</span>'


def emojified(text: str) -> str:
    """Known `:shortcodes:` as their character; unknown ones stay as typed."""
    return _SHORTCODE.sub(lambda match: EMOJI.get(match.group(1), match.group(0)), text)


def plain_text_html(obj: Mapping[str, Any] | None) -> str:
    """A `plain_text` object: escaped, line breaks kept (Slack parses no markup there)."""
    text = obj.get("text", "") if isinstance(obj, Mapping) else ""
    return esc(text if isinstance(text, str) else "").replace("\n", "<br>")


def mrkdwn_html(text: str, names: Names) -> str:
    """A mrkdwn text as Slack would show it, as an HTML fragment with nothing live in it."""
    controls: list[_Control] = []
    marked = _CONTROL.sub(lambda m: _hold(_control(m.group(1), names), controls), _unmarked(text))
    return _segments_html(marked, controls)


def _unmarked(text: str) -> str:
    """The text without our private-use stand-in characters, so none can be forged."""
    return str(text).replace(_MARK, "\ufffd").replace(_END, "\ufffd")


def _hold(control: _Control, controls: list[_Control]) -> str:
    controls.append(control)
    return f"{_MARK}{len(controls) - 1}{_END}"


def _decoded(text: str) -> str:
    """Slack's three escapes undone in one pass, so `&amp;lt;` stays the text `&lt;`."""
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(1)], text)


def _control(body: str, names: Names) -> _Control:
    """What a `<…>` sequence shows: a mention, a link, or (unknown) itself as text."""
    target, _, label = body.partition("|")
    label = _decoded(label)
    if target.startswith("@"):
        return _mention("@", names.users.get(target[1:]) or label or target[1:])
    if target.startswith("#"):
        return _mention("#", names.channels.get(target[1:]) or label or target[1:])
    if target.startswith("!"):
        return _special(target[1:], label)
    return _link(_decoded(target), label, body)


def _mention(sign: str, name: str) -> _Control:
    shown = sign + name.removeprefix(sign)
    return _Control(mention_html(shown), shown)


def _special(command: str, label: str) -> _Control:
    """`<!here>` and friends; `<!date…|fallback>` shows its fallback text."""
    name = command.split("^", 1)[0]
    if name in _BROADCASTS:
        return _mention("@", name)
    if name == "subteam":
        return _mention("@", label or "group")
    shown = label or f"<!{_decoded(command)}>"
    return _Control(esc(shown), shown)


def _link(url: str, label: str, body: str) -> _Control:
    """A link when its scheme is safe; any other scheme shows as text, and a sequence
    that is no link at all (`<script>`) shows as typed, to make the mistake visible."""
    shown = label or url.removeprefix("mailto:")
    if safe_url(url, mail=True):
        return _Control(link_html(url, shown), shown)
    if not label and not _SCHEME.match(url):
        shown = f"<{_decoded(body)}>"
    return _Control(esc(shown), shown)


def _segments_html(marked: str, controls: Sequence[_Control]) -> str:
    """```pre``` blocks, and the lines between them (a newline next to a block is its own)."""
    pieces = _PRE.split(marked)
    parts = []
    for index, piece in enumerate(pieces):
        if index % 2:
            code = piece.removeprefix("\n").removesuffix("\n")
            parts.append(f'<pre class="bk-pre">{_code_html(code, controls)}</pre>')
            continue
        piece = piece.removeprefix("\n") if index else piece
        piece = piece.removesuffix("\n") if index < len(pieces) - 1 else piece
        if piece:
            parts.append(_lines_html(piece.split("\n"), controls, quotes=True))
    return "".join(parts)


def _lines_html(lines: Sequence[str], controls: Sequence[_Control], *, quotes: bool) -> str:
    """Lines grouped into quotes, bullet lists and plain runs (joined with <br>)."""
    long_quote = next((i for i, line in enumerate(lines) if _LONG_QUOTE.match(line)), None)
    if quotes and long_quote is not None:
        rest = [_LONG_QUOTE.sub("", lines[long_quote], count=1), *lines[long_quote + 1 :]]
        head = _lines_html(lines[:long_quote], controls, quotes=True) if long_quote else ""
        return head + _quote_html(rest, controls)
    groups = itertools.groupby(lines, key=lambda line: _kind(line, quotes))
    return "".join(_group_html(kind, list(group), controls) for kind, group in groups)


def _kind(line: str, quotes: bool) -> str:
    if quotes and _QUOTE.match(line):
        return "quote"
    return "bullet" if _BULLET.match(line) else "line"


def _group_html(kind: str, lines: list[str], controls: Sequence[_Control]) -> str:
    if kind == "quote":
        return _quote_html([_QUOTE.sub("", line, count=1) for line in lines], controls)
    if kind == "bullet":
        items = (_inline_html(_BULLET.sub("", line, count=1), controls) for line in lines)
        return '<ul class="bk-list">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
    return "<br>".join(_inline_html(line, controls) for line in lines)


def _quote_html(lines: Sequence[str], controls: Sequence[_Control]) -> str:
    """A blockquote; quotes do not nest (Slack's do not either)."""
    inner = _lines_html(lines, controls, quotes=False)
    return f'<blockquote class="bk-quote">{inner}</blockquote>'


def _inline_html(text: str, controls: Sequence[_Control]) -> str:
    """One line: `code` and the styles (which nest, at most three deep: one per mark)."""
    parts, at = [], 0
    for match in _INLINE.finditer(text):
        parts.append(_text_html(text[at : match.start()], controls))
        if match.group(1) is not None:
            parts.append(f'<code class="bk-code">{_code_html(match.group(1), controls)}</code>')
        else:
            tag = _STYLE_TAGS[match.group(2)]
            parts.append(f"<{tag}>{_inline_html(match.group(3), controls)}</{tag}>")
        at = match.end()
    parts.append(_text_html(text[at:], controls))
    return "".join(parts)


def _text_html(text: str, controls: Sequence[_Control]) -> str:
    return _restored(esc(emojified(_decoded(text))), controls, lambda c: c.html)


def _code_html(text: str, controls: Sequence[_Control]) -> str:
    """Code shows mentions and links as their text, and no emoji."""
    return _restored(esc(_decoded(text)), controls, lambda c: esc(c.text))


def _restored(escaped: str, controls: Sequence[_Control], show: Callable[[_Control], str]) -> str:
    return _PLACEHOLDER.sub(lambda match: show(controls[int(match.group(1))]), escaped)
