"""`link_shared`: a link to a Cflow request was shared (or pasted in a composer).

Bolt acknowledges the event before this runs (Slack wants it within 3 s, and the
preview needs Cflow); bot.people.unfurls reads the request as the sharer and previews
it. Each person's shares count against their per-person limit, like their commands.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.inbound.common import Track
from bot.inbound.subcommands import Tools
from bot.people.unfurls import Unfurler

log = logging.getLogger(__name__)


def register(app: AsyncApp, track: Track) -> None:
    app.event("link_shared")(track(unfurl_links))


async def unfurl_links(event: dict[str, Any], unfurler: Unfurler, tools: Tools) -> None:
    requests = unfurler.requests_in(event)
    if not requests:
        return  # a link on the domain that names no request: Slack shows its own preview
    if not tools.person_limits.allow(str(event.get("user") or "")):
        log.info("Too many previews asked for at once by one person: this one is skipped")
        return
    await unfurler.shared(event, requests)
