"""The one error path: what a person is told when something they asked for cannot be done.

Domain errors are raised where they are found and turned into a private message here,
which also escapes any text that came from Cflow. An error this module does not know
is unexpected: the caller logs it with an id and shows only the id.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from bot.cflow import CflowError, CflowUnauthorizedError, CflowUnavailableError
from bot.errors import AnswerError, KeyRefusedError, NotLinkedError
from bot.slack.messages import not_linked_message, relink_message
from bot.slack.text import escape
from bot.store.base import Store
from bot.store.errors import UnreadableLinkError

KEY_REFUSED = (CflowUnauthorizedError, UnreadableLinkError, KeyRefusedError)


async def answer_for(error: Exception, store: Store, slack_user_id: str) -> dict[str, Any] | None:
    """The private message for `error`, or None when it is unexpected.

    A key Cflow refused, or one that no longer decrypts, is also remembered, so that the
    person's DMs invite them to link again instead of offering buttons that cannot work.
    """
    if isinstance(error, KEY_REFUSED):
        await store.mark_key_refused(slack_user_id)
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


async def said(decision: Awaitable[str], store: Store, slack_user_id: str) -> dict[str, Any]:
    """What a decision made from a `/cflow pending` list says above the list: what was
    done, or why not, in the same words as everywhere else."""
    try:
        return {"text": await decision}
    except Exception as error:
        answer = await answer_for(error, store, slack_user_id)
        if answer is None:
            raise
        return answer
