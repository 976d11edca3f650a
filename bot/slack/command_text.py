"""Forgiving parsing of what people type after `/cflow` (pure, no I/O).

People type in any case, with extra spaces, straight or curly quotes, and Slack turns
`#channel` and `@person` into `<#C123|name>` and `<@U123|name>`. Whatever arrives,
`parse()` returns a `CommandText` and never raises.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from bot.channels import is_channel_id

CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$")
CURLY_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


@dataclass(frozen=True)
class CommandText:
    verb: str
    args: tuple[str, ...] = ()

    def rest(self, start: int = 0) -> str:
        """The arguments from `start` on, as one text (a comment or a reason)."""
        return " ".join(self.args[start:]).strip()


def parse(text: str | None) -> CommandText:
    words = _words((text or "").translate(CURLY_QUOTES))
    if not words:
        return CommandText("help")
    return CommandText(words[0].lower(), tuple(words[1:]))


def _words(text: str) -> list[str]:
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: fall back to plain words
        words = text.replace('"', " ").replace("'", " ").split()
    return [word for word in words if word.strip()]


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
