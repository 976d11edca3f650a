"""Forgiving parsing of what people type after `/cflow` (pure, no I/O).

The manifest has Slack escape the command (`should_escape: true`): a person's `@bob`,
`#finance` and `@finance-team` arrive as Slack's markup, `<@U123|bob>` (or `<@U123>`),
`<#C123|finance>` (or `<#C123|>`), `<!subteam^S123|@finance-team>`; a link as
`<https://…>` or `<https://…|text>`; and `&`, `<`, `>` typed anywhere else as `&amp;`,
`&lt;`, `&gt;`. So every `<…>` is Slack's, never the person's. `parse()` keeps a word
that is one mention as Slack sent it (for `user_id()`, `channel_id()`, `mention_of()`),
gives every other word back as the person typed it, and never raises. People also type
in any case, with extra spaces, and straight or curly quotes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from bot.blocks.ids import CHANNEL_ID, USER_ID, is_channel_id

CHANNEL = re.compile(rf"^<#({CHANNEL_ID.pattern})(?:\|[^>]*)?>$")
USER = re.compile(rf"^<@({USER_ID.pattern})(?:\|[^>]*)?>$")
GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$")
CURLY_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
MARKUP = re.compile(r"<([^<>]*)>")  # Slack's own: what the person typed is escaped
MENTION = re.compile(r"<[@#!][^<>]*>")
ENTITY = re.compile(r"&(amp|lt|gt);")
ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
HELD = re.compile(r"\x00(\d+)\x00")  # a `<…>` kept whole while quotes are read
SCHEMES = ("https://", "http://", "mailto:")


@dataclass(frozen=True)
class CommandText:
    """The verb and its words: a mention as Slack sent it, anything else as typed.

    `typed` is every word as the person typed it (a mention as `@bob`), for free text.
    """

    verb: str
    args: tuple[str, ...] = ()
    typed: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def rest(self, start: int = 0) -> str:
        """The arguments from `start` on, as one text (a comment or a reason), as typed:
        "R&D" and not "R&amp;D", a link with its URL."""
        return " ".join((self.typed or self.args)[start:]).strip()


def parse(text: str | None) -> CommandText:
    pairs = [(_arg(word), readable(word)) for word in _words(text or "")]
    pairs = [(arg, typed) for arg, typed in pairs if arg.strip() and typed.strip()]
    if not pairs:
        return CommandText("help")
    args, typed = zip(*pairs, strict=True)
    return CommandText(typed[0].lower(), args[1:], typed[1:])


def _words(text: str) -> list[str]:
    """Words, quotes grouping several; a `<…>` stays whole whatever it holds."""
    held: list[str] = []

    def hold(markup: re.Match[str]) -> str:
        held.append(markup.group(0))
        return f"\x00{len(held) - 1}\x00"

    text = MARKUP.sub(hold, text.replace("\x00", "").translate(CURLY_QUOTES))
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: fall back to plain words
        words = text.replace('"', " ").replace("'", " ").split()
    return [HELD.sub(lambda m: held[int(m.group(1))], word) for word in words]


def _arg(word: str) -> str:
    """A word that is one mention stays as Slack sent it; any other reads as typed."""
    return word if MENTION.fullmatch(word) else readable(word)


def readable(text: str) -> str:
    """Slack's escaped text as the person typed it: entities back to `&<>`, a mention
    as `@name` or `#name`, a link as its URL (or its text, where that is what was typed)."""
    parts = MARKUP.split(text)  # text, markup, text, markup, …, text
    return "".join(
        _markup_text(part) if index % 2 else _unescape(part) for index, part in enumerate(parts)
    )


def _unescape(text: str) -> str:
    """In one pass, so a typed `&lt;` (sent as `&amp;lt;`) stays `&lt;`."""
    return ENTITY.sub(lambda m: ENTITIES[m.group(1)], text)


def _markup_text(inner: str) -> str:
    """What one `<…>` (given without its brackets) stood for when it was typed."""
    target, _, label = inner.partition("|")
    target, label = _unescape(target), _unescape(label)
    if target.startswith(("@", "#")):  # <@U123|bob>, <#C123|finance>, <#C123|>
        return target[0] + (label or target[1:])
    if target.startswith("!"):  # <!subteam^S1|@team>, <!here>, <!date^…|fallback>
        kind, _, detail = target[1:].partition("^")
        return label or "@" + (detail if kind == "subteam" else kind)
    if not label or label == target:
        return target
    bare = next((target[len(s) :] for s in SCHEMES if target.startswith(s)), target)
    return label if bare.rstrip("/") == label.rstrip("/") else f"{label} ({target})"


def channel_id(word: str) -> str | None:
    """`<#C123|name>` (as Slack sends #channel) or a bare channel id."""
    match = CHANNEL.match(word)
    if match:
        return match.group(1)
    return word if is_channel_id(word) else None


def channel_name(word: str) -> str | None:
    """`#name`, as a channel mention arrives when the command does not escape it."""
    name = word.removeprefix("#")
    return name if word.startswith("#") and re.fullmatch(r"[\w.-]{1,80}", name) else None


def mention_of(word: str) -> str | None:
    """A person or a user group as Slack sends them (`<@U…>`, `<!subteam^S…>`), as a
    mention the bot may post; None for anything else."""
    person, group = USER.match(word), GROUP.match(word)
    if person:
        return f"<@{person.group(1)}>"
    return f"<!subteam^{group.group(1)}>" if group else None


def user_id(word: str) -> str | None:
    match = USER.match(word)
    return match.group(1) if match else None


@dataclass(frozen=True)
class RequestName:
    """`workflowId/requestId`, or a request id alone (resolved when unique)."""

    request_id: str
    workflow_id: str | None = None


def request_name(word: str) -> RequestName | None:
    word = word.strip().lstrip("#")
    if not word:
        return None
    workflow, slash, request = word.partition("/")
    if slash:
        return RequestName(request, workflow) if workflow and request else None
    return RequestName(word)
