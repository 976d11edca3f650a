"""Link previews (unfurls) of Cflow requests, read as the person who shared the link.

Slack tells the bot of a link to a request (`link_shared`); the bot reads the request
with the sharer's own link and answers with `chat.unfurl`: the request's channel card,
whose Approve and Reject work as on any card, for whoever clicks, as themselves.

- An unlinked sharer gets Slack's own prompt (`user_auth_required`), with the button
  that opens the `/cflow link` modal; nothing of the request is shown.
- A sharer Cflow refuses (403, 404 …) gets no preview at all; one whose key Cflow no
  longer accepts is marked, as everywhere, and invited to link again.
- A preview on a posted message is stored before it is sent (bot.store.sql_unfurls), so
  that the publisher keeps it current from then on, as it does cards (bot.sync.unfurls);
  a composer's preview is Slack's to drop or keep, and is not stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.messages import RELINK_TEXT
from bot.blocks.unfurls import LINK_FIRST, link_first_blocks, relink_first_blocks, request_unfurl
from bot.cflow import CflowClient, CflowError, CflowUnauthorizedError, Credentials
from bot.domain.request_links import LinkedRequest, request_in_link
from bot.people.decisions import credentials_for
from bot.store.contracts import LinkStore, UnfurlStore
from bot.store.errors import UnreadableLinkError
from bot.store.records import Link, Unfurl
from bot.sync.publisher import Publisher
from bot.sync.results import SlackFailure

log = logging.getLogger(__name__)
MAX_LINKS = 5  # requests previewed per message: each is two Cflow reads as the sharer
MAX_URL = 2048  # longer links are left alone (the store's key)
HISTORY = "conversations_history"


class UnfurlerStore(LinkStore, UnfurlStore, Protocol):
    """The sharer's link, and the previews kept current."""


class Unfurler:
    def __init__(
        self,
        cflow: CflowClient,
        store: UnfurlerStore,
        publisher: Publisher,
        slack: AsyncWebClient,
        service: Credentials,
        *,
        template: str | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`template` is CFLOW_REQUEST_URL: without one, no link names a request."""
        self._cflow = cflow
        self._store = store
        self._publisher = publisher
        self._slack = slack
        self._service = service
        self._template = template
        self._clock = clock

    def requests_in(self, event: dict[str, Any]) -> dict[str, LinkedRequest]:
        """The links of a `link_shared` event that name a request (url -> request)."""
        found: dict[str, LinkedRequest] = {}
        for link in event.get("links") or []:
            url = str((link or {}).get("url") or "")
            named = request_in_link(url, self._template) if len(url) <= MAX_URL else None
            if named is not None and url not in found and len(found) < MAX_LINKS:
                found[url] = named
        return found

    async def shared(self, event: dict[str, Any], requests: dict[str, LinkedRequest]) -> None:
        """Preview `requests` where `event` says they were shared, as its sharer may."""
        sharer = str(event.get("user") or "")
        try:
            link = await self._store.link_for(sharer)
        except UnreadableLinkError:  # no key to read with: link again, as everywhere
            await self._store.mark_key_refused(sharer)
            await self._ask(event, RELINK_TEXT, relink_first_blocks())
            return
        if link is None:
            await self._ask(event, LINK_FIRST, link_first_blocks())
            return
        cards = await self._cards(link, requests)
        if cards is None:
            await self._ask(event, RELINK_TEXT, relink_first_blocks())
            return
        if cards:
            await self._keep(event, sharer, {url: requests[url] for url in cards})
            await self._send(event, unfurls={url: request_unfurl(c) for url, c in cards.items()})

    async def _cards(
        self, link: Link, requests: dict[str, LinkedRequest]
    ) -> dict[str, dict[str, Any]] | None:
        """Each request's card as the sharer may read it (those Cflow refuses left out);
        None when Cflow no longer accepts the sharer's key."""
        creds = credentials_for(self._service, link)
        read = await asyncio.gather(
            *(self._card(creds, named) for named in requests.values()), return_exceptions=True
        )
        if any(isinstance(result, CflowUnauthorizedError) for result in read):
            await self._store.mark_key_refused(link.slack_user_id)
            return None
        cards: dict[str, dict[str, Any]] = {}
        for url, result in zip(requests, read, strict=True):
            if isinstance(result, CflowError):
                log.info("No preview: Cflow refused the sharer (%s)", type(result).__name__)
            elif isinstance(result, BaseException):
                raise result
            else:
                cards[url] = result
        return cards

    async def _card(self, creds: Credentials, named: LinkedRequest) -> dict[str, Any]:
        workflow, request = await asyncio.gather(
            self._cflow.get_workflow(creds, named.workflow_id),
            self._cflow.get_request(creds, named.workflow_id, named.request_id),
        )
        return await self._publisher.unfurl_card(workflow, request)

    async def _keep(
        self, event: dict[str, Any], sharer: str, requests: dict[str, LinkedRequest]
    ) -> None:
        """Stored before it is sent: a change the poller sees meanwhile refreshes it."""
        if event.get("source", HISTORY) != HISTORY or not event.get("message_ts"):
            return
        for url, named in requests.items():
            unfurl = Unfurl(
                channel=str(event["channel"]),
                message_ts=str(event["message_ts"]),
                url=url,
                workflow_id=named.workflow_id,
                request_id=named.request_id,
                shared_by=sharer,
                created_at=self._clock(),
            )
            await self._store.record_unfurl(unfurl)

    async def _ask(self, event: dict[str, Any], text: str, blocks: list[Any]) -> None:
        """Slack's own prompt to the sharer alone; the preview shows nothing."""
        await self._send(
            event, user_auth_required=True, user_auth_message=text, user_auth_blocks=blocks
        )

    async def _send(self, event: dict[str, Any], **content: Any) -> None:
        where = _target(event)
        try:
            await self._slack.chat_unfurl(**where, **content)
        except Exception as error:
            failure = SlackFailure(error)  # raises for anything but Slack's and the network's
            log.warning("Slack did not take a link preview: %s", failure)


def _target(event: dict[str, Any]) -> dict[str, Any]:
    """A composer's draft by its unfurl_id, a posted message by channel and ts."""
    if event.get("source") == "composer":
        return {"unfurl_id": str(event["unfurl_id"]), "source": "composer"}
    return {"channel": str(event["channel"]), "ts": str(event["message_ts"])}
