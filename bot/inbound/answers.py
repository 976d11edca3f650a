"""The one error path: what a person is told when something they asked for cannot be done.

Domain errors are raised where they are found and turned into a private message here,
which also escapes any text that came from Cflow. An error this module does not know
is unexpected: it is logged with an id, and the person is shown only the id. The answer
goes where the person asked: ephemeral through the response_url, or for a modal
submission (which has none) in their DM; one Slack will not take is logged, not raised.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.messages import error_message, not_linked_message, relink_message
from bot.blocks.text import escape
from bot.blocks.undo import undo_value
from bot.cflow import CflowError, CflowUnauthorizedError, CflowUnavailableError
from bot.domain.errors import AnswerError, KeyRefusedError, NotLinkedError
from bot.people.decisions import Deferred
from bot.store.contracts import LinkStore
from bot.store.errors import UnreadableLinkError

log = logging.getLogger(__name__)
KEY_REFUSED = (CflowUnauthorizedError, UnreadableLinkError, KeyRefusedError)
# What a Slack call (or a response_url post) raises when Slack or the network fails it.
SLACK_FAILURES = (SlackClientError, aiohttp.ClientError, OSError)
Respond = Callable[..., Awaitable[Any]]


async def answer_for(
    error: Exception, store: LinkStore, slack_user_id: str
) -> dict[str, Any] | None:
    """The private message for `error`, or None when it is unexpected.

    A key Cflow refused, or one that no longer decrypts, is also remembered, so that the
    person's DMs invite them to link again instead of offering buttons that cannot work.
    """
    if isinstance(error, KEY_REFUSED):
        try:
            await store.mark_key_refused(slack_user_id)
        except Exception as failure:  # the answer matters more than the mark
            log.warning("Could not mark the key of %s refused (%r)", slack_user_id, failure)
        return relink_message()
    if isinstance(error, NotLinkedError):
        return not_linked_message()
    if isinstance(error, AnswerError):
        return {"text": error.text}
    if isinstance(error, CflowUnavailableError):
        return {"text": "Cflow is not answering right now; try again in a minute."}
    if isinstance(error, CflowError):
        return {"text": f"Cflow says: {escape(error.message)}"}
    return None


async def private_answer(
    error: Exception, store: LinkStore, slack_user_id: str | None
) -> dict[str, Any]:
    """What the person is told about `error`: a domain error's own answer; anything else
    is logged with an id (and its traceback), and they are shown only the id."""
    answer = await answer_for(error, store, slack_user_id) if slack_user_id else None
    if answer is not None:
        log.info("Answered %s to %s", type(error).__name__, slack_user_id)
        return answer
    error_id = uuid.uuid4().hex[:8]
    log.error("Unhandled error %s", error_id, exc_info=error)
    text = f"Something went wrong on our side (error id {error_id}). Please try again."
    return error_message(text)


async def said(decision: Awaitable[str], store: LinkStore, slack_user_id: str) -> dict[str, Any]:
    """What a decision says to the person who asked: what was done, or why not, in the
    same words as everywhere else (an unexpected failure: its id)."""
    try:
        return {"text": await decision}
    except Exception as error:
        return await private_answer(error, store, slack_user_id)


async def said_with_undo(
    decision: Awaitable[str], store: LinkStore, slack_user_id: str
) -> tuple[dict[str, Any], str | None]:
    """`said`, and the Undo button's value where the decision waits out its window."""
    try:
        done = await decision
    except Exception as error:
        return await private_answer(error, store, slack_user_id), None
    undo = undo_value(pending_id=done.pending.id) if isinstance(done, Deferred) else None
    return {"text": done}, undo


async def tell(
    answer: dict[str, Any],
    *,
    client: AsyncWebClient,
    user: str | None,
    body: dict[str, Any] | None = None,
    respond: Respond | None = None,
) -> None:
    """`answer`, privately where the person asked: ephemeral through the response_url,
    else (a modal submission) in their DM. A deactivated account, or Slack failing, is
    logged: nothing is left to tell them with."""
    try:
        if respond is not None and (body or {}).get("response_url"):
            await respond(**answer, response_type="ephemeral", replace_original=False)
        elif user:
            await client.chat_postMessage(channel=user, **answer)
    except SLACK_FAILURES as failure:
        log.warning("Could not tell %s %r: %s", user, answer.get("text"), _reason(failure))


def _reason(failure: Exception) -> str:
    response = getattr(failure, "response", None)
    error = response.get("error") if response is not None else None
    return str(error) if error else type(failure).__name__
