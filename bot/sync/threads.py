"""The reply in the thread of the message a request was made from (the "Request
approval" shortcut): posted once when the request is created, edited once when the
publisher sees it end.

The reply is claimed in the store before it is posted, so that it is never posted twice;
a post Slack refused is dropped (the person is told where their request is instead),
one whose answer was lost is kept claimed and never posted again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.origins import MessageOrigin
from bot.blocks.shortcuts import thread_reply
from bot.cflow import Request, Workflow
from bot.store.contracts import ThreadStore
from bot.store.records import Decision, RequestThread
from bot.sync.results import Result, SlackFailure

log = logging.getLogger(__name__)


class ThreadReplies:
    def __init__(
        self,
        slack: AsyncWebClient,
        store: ThreadStore,
        *,
        request_url: Callable[[str, str], str],
        clock: Callable[[], datetime],
    ) -> None:
        self._slack = slack
        self._store = store
        self._request_url = request_url
        self._clock = clock

    async def post(
        self, origin: MessageOrigin, workflow: Workflow, request: Request, requested_by: str
    ) -> str | None:
        """Reply in the message's thread with a link to `request`; None once posted (or
        posted already), else Slack's reason for refusing it."""
        thread = RequestThread(
            workflow.id, request.id, origin.channel, origin.thread, requested_by, self._clock()
        )
        if not await self._store.claim_thread(thread):
            return None
        payload = thread_reply(request, workflow, self._url(workflow, request), requested_by)
        try:
            answer = await self._slack.chat_postMessage(
                channel=origin.channel, thread_ts=origin.thread, unfurl_links=False, **payload
            )
        except Exception as error:
            failure = SlackFailure(error)
            log.warning("Could not reply in the thread in %s: %s", origin.channel, failure)
            if not failure.maybe_delivered:
                await self._store.drop_thread(thread.key)
            return failure.reason
        await self._store.thread_posted(thread.key, str(answer["ts"]))
        return None

    async def settle(
        self,
        workflow: Workflow,
        request: Request,
        threads: Sequence[RequestThread],
        decision: Decision | None,
    ) -> list[Result]:
        """Edit each posted reply not yet showing how `request` ended, once."""
        results = []
        for thread in threads:
            if thread.ts is None or thread.outcome is not None:
                continue
            url = self._url(workflow, request)
            payload = thread_reply(request, workflow, url, thread.requested_by, decision)
            results.append(await self._edit(thread, thread.ts, payload, request.status))
        return results

    async def _edit(
        self, thread: RequestThread, ts: str, payload: dict[str, Any], status: str | None
    ) -> Result:
        try:
            await self._slack.chat_update(channel=thread.channel, ts=ts, **payload)
        except Exception as error:
            failure = SlackFailure(error)
            log.warning("Could not update the thread reply in %s: %s", thread.channel, failure)
            if failure.transient:
                return Result.RETRY
            await self._store.thread_settled(thread.key, f"failed: {failure.reason}"[:64])
            return Result.FAILED
        await self._store.thread_settled(thread.key, status or "ended")
        return Result.DONE

    def _url(self, workflow: Workflow, request: Request) -> str:
        return self._request_url(workflow.id, request.id)
