"""Which Cflow request a link names, read with the template the "Open in Cflow" buttons
are built from (CFLOW_REQUEST_URL, e.g. `https://…/{workflow_id}/{request_id}`) (pure).

The buttons quote each id (`Settings.request_url`); reading a link unquotes them, so
every link the bot builds reads back as the same two ids. A link is matched whole: the
scheme may be http or https and the host's case may differ, as Slack and browsers do;
a trailing slash, a query string or a fragment that the template does not have are
ignored. Anything else, or no template (unfurls are then off), names no request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

FIELDS = ("workflow_id", "request_id")
_PLACEHOLDER = re.compile(r"\{(workflow_id|request_id)\}")
# An id as a link carries it: one path segment (quoted), or one query value.
_ID = r"[^/?#&\s]+"


@dataclass(frozen=True)
class LinkedRequest:
    workflow_id: str
    request_id: str


def request_in_link(url: str, template: str | None) -> LinkedRequest | None:
    """The request `url` names under `template`; None when it names none."""
    if not url or not names_requests(template):
        return None
    assert template is not None
    pattern = link_pattern(template)
    found = pattern.fullmatch(url.strip().replace("&amp;", "&"))
    if found is None:
        return None
    ids = [unquote(found.group(name)) for name in FIELDS]
    if not all(ids):
        return None
    return LinkedRequest(*ids)


def names_requests(template: str | None) -> bool:
    """Whether links built from `template` name a request (both ids are in it)."""
    return bool(template) and all(f"{{{name}}}" in (template or "") for name in FIELDS)


@lru_cache(maxsize=8)
def link_pattern(template: str) -> re.Pattern[str]:
    """The template as a pattern: its text literal, each placeholder one id."""
    _, _, rest = template.partition("://")
    parts: list[str] = [r"https?://"]
    seen: set[str] = set()
    end = 0
    for placeholder in _PLACEHOLDER.finditer(rest):
        parts.append(re.escape(rest[end : placeholder.start()]))
        name = placeholder.group(1)
        # The same placeholder twice must name the same id.
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_ID})")
        seen.add(name)
        end = placeholder.end()
    tail = rest[end:]
    parts.append(re.escape(tail.rstrip("/")) + "/?")
    parts.append(r"(?:[&#].*)?" if "?" in rest else r"(?:[?#].*)?")
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def link_host(template: str | None) -> str | None:
    """The host a template's links are on (what Slack's unfurl_domains must hold)."""
    if not template or "://" not in template:
        return None
    host = template.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    return host.rsplit("@", 1)[-1].split(":", 1)[0].lower() or None
