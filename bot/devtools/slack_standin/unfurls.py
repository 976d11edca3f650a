"""App unfurling in the stand-in: people's messages with links, the `link_shared` events
Slack would send for them, and `chat.unfurl`.

As Slack does (docs.slack.dev/messaging/unfurling-links-in-messages):

- only links on the app's unfurl domains are reported: a domain matches itself and its
  subdomains, whatever the port; an IP address never; a link needs http(s)://;
- a link pasted in the composer is reported with `source: composer` and an `unfurl_id`
  (`channel` "COMPOSER", `message_ts` the same id); the message once sent, again with
  `source: conversations_history`, its channel and ts;
- `chat.unfurl` takes `channel`+`ts` or `unfurl_id`+`source`, and `unfurls` (JSON keyed
  by the reported URLs) or the `user_auth_*` arguments; a later call for the same
  message replaces the same attachments instead of adding more; each URL must be one
  Slack reported for that message (`cannot_unfurl_url`), in it (`cannot_unfurl_message`);
- `user_auth_required` shows the sharer (only) an ephemeral prompt with the
  `user_auth_blocks` or `user_auth_message` (Slack adds "Not now" and "Never ask me
  again"); someone who chose "Never ask me again" is not prompted (`cannot_prompt`);
- a preview's blocks are checked like a message's: at most 50, no rich_text
  (`invalid_blocks`, as Slack answers chat.unfurl).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.devtools.slack_standin.records import (
    CHANNEL_ID,
    Handler,
    Params,
    StandInError,
    StoredMessage,
    truthy,
)
from bot.devtools.slack_standin.workspace import Workspace

COMPOSER = "COMPOSER"
SOURCES = frozenset({"composer", "conversations_history"})
MAX_BLOCKS = 50
MAX_DOMAINS = 5  # an app registers up to five unfurl domains
# A link as Slack's composer sees one: http(s), up to whitespace or markup.
LINK = re.compile(r"https?://[^\s<>|]*[^\s<>|.,;:!?)'\"]")


@dataclass
class Shared:
    """The links of one message (or composer draft) Slack told the app about."""

    user: str
    channel: str
    links: list[str]
    ts: str | None = None  # the message's; None for a composer's draft
    unfurls: dict[str, Params] = field(default_factory=dict)  # url -> the app's unfurl


class Unfurls:
    """People's messages with links, the events Slack sends for them, and chat.unfurl."""

    def __init__(self, workspace: Workspace, domains: tuple[str, ...] = ()) -> None:
        self._workspace = workspace
        self._records = workspace.records
        self.domains: tuple[str, ...] = ()
        self.set_domains(domains)
        self._shared: dict[tuple[str, str], Shared] = {}  # (channel, ts) -> links
        self._drafts: dict[str, Shared] = {}  # unfurl_id -> a composer's links
        self.never_ask: set[str] = set()  # chose "Never ask me again" on a prompt

    def handlers(self) -> dict[str, Handler]:
        return {"chat.unfurl": self.unfurl}

    def set_domains(self, domains: tuple[str, ...] | list[str]) -> None:
        """The app's unfurl domains (the manifest's features.unfurl_domains)."""
        cleaned = tuple(d.strip().lower() for d in domains if d.strip())
        if len(cleaned) > MAX_DOMAINS:
            raise ValueError("an app registers at most five unfurl domains")
        self.domains = cleaned

    # What people do

    def compose(self, user: str, channel: str, text: str) -> Params | None:
        """A person pasted `text` in the composer of `channel`: the `link_shared` event
        Slack sends for its links on the app's domains (None when it has none)."""
        links = self._matching(text)
        if not links:
            return None
        unfurl_id = hashlib.sha1(f"{user}{time.time_ns()}".encode()).hexdigest()[:32]
        self._drafts[unfurl_id] = Shared(user, channel, [url for _, url in links])
        return {
            "type": "link_shared",
            "channel": COMPOSER,
            "is_bot_user_member": channel in self._workspace.bot_channels,
            "user": user,
            "message_ts": unfurl_id,
            "unfurl_id": unfurl_id,
            "source": "composer",
            "links": [{"domain": domain, "url": url} for domain, url in links],
            "event_ts": f"{time.time():.6f}",
        }

    def draft_unfurls(self, unfurl_id: str) -> dict[str, Params]:
        """What the app previewed in a composer (url -> its unfurl)."""
        draft = self._drafts.get(unfurl_id)
        return dict(draft.unfurls) if draft else {}

    def post(
        self, user: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> tuple[StoredMessage, Params | None]:
        """A person's message, as Slack stores it (links as `<url>`), and the
        `link_shared` event Slack sends for it (None when no link is on the domains)."""
        workspace = self._workspace
        stored = StoredMessage(
            channel=channel,
            ts=workspace.next_ts(),
            text=LINK.sub(lambda link: f"<{link.group(0)}>", _escaped(text)),
            blocks=None,
            attachments=None,
            thread_ts=thread_ts,
            user=user,
        )
        stored.history.append(stored.snapshot())
        self._records.messages[(channel, stored.ts)] = stored
        workspace.changed()
        links = self._matching(text)
        if not links:
            return stored, None
        links_in = [url for _, url in links]
        self._shared[(channel, stored.ts)] = Shared(user, channel, links_in, stored.ts)
        digest = hashlib.sha256(f"{channel}{stored.ts}".encode()).hexdigest()
        event: Params = {
            "type": "link_shared",
            "channel": channel,
            "is_bot_user_member": channel in workspace.bot_channels,
            "user": user,
            "message_ts": stored.ts,
            "unfurl_id": f"{channel}.{stored.ts.replace('.', '')}.{digest}",
            "source": "conversations_history",
            "links": [{"domain": domain, "url": url} for domain, url in links],
            "event_ts": f"{time.time():.6f}",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return stored, event

    def _matching(self, text: str) -> list[tuple[str, str]]:
        """(domain, url) of each distinct link in `text` on one of the app's domains."""
        found: dict[str, str] = {}
        for match in LINK.finditer(text):
            domain = self._domain_of(match.group(0))
            if domain is not None:
                found.setdefault(match.group(0), domain)
        return [(domain, url) for url, domain in found.items()]

    def _domain_of(self, url: str) -> str | None:
        host = (urlsplit(url).hostname or "").lower()
        try:
            ipaddress.ip_address(host)
            return None  # IP addresses are not domains, and never match
        except ValueError:
            pass
        return next((d for d in self.domains if host == d or host.endswith("." + d)), None)

    # chat.unfurl

    def unfurl(self, params: Params) -> Params:
        shared = self._target(params)
        unfurls = self._unfurls(params)
        asks = any(params.get(k) for k in ("user_auth_message", "user_auth_blocks"))
        asks = asks or truthy(params.get("user_auth_required")) or bool(params.get("user_auth_url"))
        if unfurls is None and not asks:
            raise StandInError("missing_unfurls")
        for url, unfurl in (unfurls or {}).items():
            if url not in shared.links:
                raise StandInError("cannot_unfurl_url")
            _check_unfurl(unfurl)
        if asks and truthy(params.get("user_auth_required")):
            self._prompt(shared, params)
        shared.unfurls.update(unfurls or {})
        if shared.ts is not None and unfurls:
            self._attach(shared)
        return {}

    def _target(self, params: Params) -> Shared:
        """The message (channel+ts) or the composer draft (unfurl_id+source) unfurled."""
        unfurl_id, source = params.get("unfurl_id"), params.get("source")
        if unfurl_id or source:
            if source not in SOURCES or not unfurl_id:
                raise StandInError("invalid_arguments")
            if source == "composer":
                draft = self._drafts.get(str(unfurl_id))
                if draft is None:
                    raise StandInError("cannot_find_message")
                return draft
            return self._by_unfurl_id(str(unfurl_id))
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            raise StandInError("missing_channel")
        if not ts:
            raise StandInError("missing_ts")
        if not CHANNEL_ID.fullmatch(str(channel)) or str(channel) not in self._records.channels:
            raise StandInError("cannot_find_channel")
        message = self._records.messages.get((str(channel), str(ts)))
        if message is None or message.deleted:
            raise StandInError("cannot_find_message")
        shared = self._shared.get((str(channel), str(ts)))
        if shared is None:
            raise StandInError("cannot_unfurl_message")  # Slack reported no link in it
        return shared

    def _by_unfurl_id(self, unfurl_id: str) -> Shared:
        channel, _, rest = unfurl_id.partition(".")
        for (where, ts), shared in self._shared.items():
            if where == channel and rest.startswith(ts.replace(".", "")):
                return shared
        raise StandInError("cannot_find_message")

    def _unfurls(self, params: Params) -> dict[str, Params] | None:
        raw = params.get("unfurls")
        if raw is None or raw == "":
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise StandInError("invalid_unfurls_format") from None
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise StandInError("invalid_unfurls_format")
        return raw

    def _prompt(self, shared: Shared, params: Params) -> None:
        """Slack's ephemeral invitation to authenticate, to the sharer only."""
        if shared.user in self.never_ask:
            raise StandInError("cannot_prompt")
        blocks = params.get("user_auth_blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise StandInError("invalid_blocks") from None
        if blocks is not None:
            _check_blocks(blocks)
        text = str(params.get("user_auth_message") or "")
        if not text and blocks is None:
            text = "Install the app to see previews of these links."
        prompt = StoredMessage(
            channel=shared.channel,
            ts=self._workspace.next_ts(),
            text=text,
            blocks=blocks,
            attachments=None,
            thread_ts=None,
            user=self._workspace.bot_user_id,
            visible_to=shared.user,
        )
        self._records.ephemerals[prompt.ts] = prompt
        self._workspace.changed()

    def _attach(self, shared: Shared) -> None:
        """The unfurls as the message's attachments, one per link, replaced in place."""
        assert shared.ts is not None
        message = self._records.messages[(shared.channel, shared.ts)]
        attachments = []
        for index, url in enumerate(shared.links, start=1):
            unfurl = shared.unfurls.get(url)
            if unfurl is not None:
                attachments.append(
                    {"id": index, "app_unfurl_url": url, "is_app_unfurl": True}
                    | {"blocks": unfurl.get("blocks") or [], "fallback": url}
                )
        message.attachments = attachments
        self._workspace.changed()


def _check_unfurl(unfurl: Params) -> None:
    blocks = unfurl.get("blocks")
    if blocks is not None:
        _check_blocks(blocks)


def _check_blocks(blocks: Any) -> None:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise StandInError("invalid_blocks")
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") in (None, "rich_text"):
            raise StandInError("invalid_blocks")


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
