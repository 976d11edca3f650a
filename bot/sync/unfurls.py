"""Keeping link previews current: each stored unfurl of a request re-sent with
`chat.unfurl`, which replaces the earlier preview of that link in that message.

Like a card's edit, each ends in a `Result`: a refusal for good (the message was
deleted, the channel is gone) is recorded and that preview is not sent again; "not now"
is retried with the request's other messages.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.unfurls import request_unfurl
from bot.store.contracts import UnfurlStore
from bot.store.records import Unfurl
from bot.sync.results import Result, SlackFailure
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
# Previews of one request kept current: the newest ones. A link pasted a thousand times
# must not cost a thousand Slack calls at each change (older ones keep their last state).
MAX_KEPT_CURRENT = 20


class Unfurls:
    def __init__(self, slack: AsyncWebClient, store: UnfurlStore, metrics: Metrics) -> None:
        self._slack = slack
        self._store = store
        self._metrics = metrics

    async def refresh(self, unfurl: Unfurl, card: dict[str, Any]) -> Result:
        """Show `card` (a rendered channel card) as the preview of `unfurl`."""
        try:
            await self._slack.chat_unfurl(
                channel=unfurl.channel,
                ts=unfurl.message_ts,
                unfurls={unfurl.url: request_unfurl(card)},
            )
        except Exception as error:
            failure = SlackFailure(error)
            if failure.reason != "superseded":
                self._metrics.slack_errors.labels(failure.reason).inc()
            log.warning("Could not refresh a link preview in %s: %s", unfurl.channel, failure)
            if not failure.transient:
                await self._store.fail_unfurl(unfurl, failure.reason)
            return failure.result
        return Result.DONE
