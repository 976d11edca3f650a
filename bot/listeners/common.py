"""Small helpers the listeners share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.slack.messages import not_linked_message, relink_message
from bot.slack.modals import link_modal
from bot.store.base import Link
from bot.store.errors import UnreadableLinkError

# The trigger_id of a click expires 3 s after it: leave room for users.info and views.open.
PREFILL_WAIT = 1.0
Ack = Callable[..., Awaitable[Any]]
Respond = Callable[..., Awaitable[Any]]
# Wraps a listener so that shutdown waits for it (see bot/inflight.py).
Track = Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]


async def say_privately(respond: Respond, payload: dict[str, Any] | None) -> None:
    """An ephemeral answer that leaves the card it came from alone."""
    if payload:
        await respond(**payload, response_type="ephemeral", replace_original=False)


async def tell_in_dm(client: AsyncWebClient, user: str, text: str) -> None:
    """For modal submissions, which have no response_url: the bot's DM with the person."""
    await client.chat_postMessage(channel=user, text=text)


async def open_link_modal(
    services: Services, client: AsyncWebClient, user: str, trigger_id: str
) -> None:
    """The link form, pre-filled with the Cflow user whose email matches this person's."""
    email = await services.directory.slack_email(user)
    prefill = await services.directory.cflow_username_for_email(email, wait=PREFILL_WAIT)
    await client.views_open(trigger_id=trigger_id, view=link_modal(prefill))


async def clicker_link(services: Services, body: dict[str, Any], respond: Respond) -> Link | None:
    """The clicking person's link; without a usable one they are told how to (re)link,
    and get None."""
    user = body["user"]["id"]
    try:
        link = await services.store.link_for(user)
    except UnreadableLinkError:
        await say_privately(respond, await key_refused(services, user))
        return None
    if link is None:
        await say_privately(respond, not_linked_message())
    return link


async def key_refused(services: Services, slack_user_id: str) -> dict[str, Any]:
    """Cflow refused this person's key (401), or it no longer decrypts: remember it, so
    their DMs invite them to relink, and give them the answer with the Link button."""
    await services.store.mark_key_refused(slack_user_id)
    return relink_message()
