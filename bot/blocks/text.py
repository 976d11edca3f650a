"""Text for Slack: mrkdwn escaping, safe truncation, and readable values and ages.

Every string that did not come from the bot itself (anything Cflow sends, anything a
person typed) passes through `escaped()` before it enters mrkdwn, so `<!channel>` in a
request field is shown as text and never pings anyone. Lengths are counted in code
points, as slack_sdk's own validators count them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

ELLIPSIS = "…"
WORD_JOINER = "\u2060"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_LONGEST_ENTITY = max(len(entity) for entity in _ESCAPES.values())
# C0/C1 controls (bar tab and newline) and lone surrogates: Slack refuses or mangles them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")


def clean(text: str, *, single_line: bool = False) -> str:
    """Drop characters Slack cannot show; `single_line` folds line breaks into spaces."""
    if single_line:
        text = _LINE_BREAKS.sub(" ", text)
    return _CONTROL.sub("", text)


def escape(text: str) -> str:
    """mrkdwn-escape `&`, `<` and `>`: the only characters Slack treats as control."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when shortened.

    Never cuts an `&amp;`-style entity in half, nor a `<…>` token (a bot-made mention),
    since half of one shows as garbage or breaks the message's markup.
    """
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    return text[: _safe_cut(text, limit - len(ELLIPSIS))] + ELLIPSIS


def _safe_cut(text: str, end: int) -> int:
    """The largest cut at or before `end` that lies outside every entity and token."""
    amp = text.rfind("&", max(0, end - _LONGEST_ENTITY + 1), end)
    if amp >= 0 and (match := _ENTITY.match(text, amp)) and match.end() > end:
        end = amp
    opening = text.rfind("<", 0, end)
    if opening >= 0 and text.find(">", opening, end) < 0 and text.find(">", end) >= 0:
        end = opening
    return end


def escaped(text: str, limit: int, *, single_line: bool = False) -> str:
    """Cflow text made safe for mrkdwn: cleaned, escaped, then truncated to `limit`."""
    return truncate(escape(clean(text, single_line=single_line)), limit)


def plain(text: str, limit: int) -> str:
    """Text for a plain_text object: one line, cleaned, truncated.

    Slack parses no markup there, so nothing is escaped; but an invisible word joiner
    follows each `<`, so that not even a payload logged or shown verbatim elsewhere
    holds a live `<!channel>`. (Not for input values, which are sent back to us.)
    """
    return truncate(clean(text, single_line=True).replace("<", "<" + WORD_JOINER), limit)


def format_value(value: Any) -> str:
    """A Cflow field value as people read it: lists joined, objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def age(created_at: datetime, now: datetime) -> str:
    """How long ago, roughly ("3 hours ago"): a card is read at a glance."""
    seconds = (aware(now) - aware(created_at)).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in _UNITS:
        if seconds >= size:
            return _ago(int(seconds // size), unit)
    return "just now"  # unreachable: the last unit is one minute


def duration(seconds: float) -> str:
    """ "3 days", "5 hours": how long something has waited."""
    for unit, size in _UNITS:
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "under a minute"


_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def _ago(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def aware(moment: datetime) -> datetime:
    """Cflow may send naive timestamps; they are UTC, and mixing kinds would raise."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
