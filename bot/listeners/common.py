"""Small helpers the listeners share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import Credentials
from bot.decisions import credentials_for
from bot.directory import Directory
from bot.listeners.answers import answer_for
from bot.slack.ids import ref_from_action
from bot.slack.messages import not_linked_message, relink_message
from bot.slack.modals import link_modal
from bot.slack.request_forms import done_view
from bot.store.base import Store
from bot.store.errors import UnreadableLinkError

# A modal whose metadata we cannot read: not one of ours, or from an older release.
NOT_OURS = "This form can no longer be sent: open it again from Slack."
# The trigger_id of a click expires 3 s after it: leave room for users.info and views.open.
PREFILL_WAIT = 1.0
# Wraps a listener so that shutdown waits for it (see bot/inflight.py).
Track = Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]


async def say_privately(
    respond: Callable[..., Awaitable[Any]], payload: dict[str, Any] | None
) -> None:
    """An ephemeral answer that leaves the card it came from alone."""
    if payload:
        await respond(**payload, response_type="ephemeral", replace_original=False)


async def tell_in_dm(client: AsyncWebClient, user: str, text: str) -> None:
    """For modal submissions, which have no response_url: the bot's DM with the person."""
    await client.chat_postMessage(channel=user, text=text)


async def open_link_modal(
    directory: Directory, client: AsyncWebClient, user: str, trigger_id: str
) -> None:
    """The link form, pre-filled with the Cflow user whose email matches this person's."""
    email = await directory.slack_email(user)
    prefill = await directory.cflow_username_for_email(email, wait=PREFILL_WAIT)
    await client.views_open(trigger_id=trigger_id, view=link_modal(prefill))


def person_of(body: dict[str, Any]) -> str | None:
    """The Slack user a request came from: `user.id` (actions, views) or `user_id`."""
    user = body.get("user")
    return (user or {}).get("id") if isinstance(user, dict) else body.get("user_id")


async def names_request(
    ack: AsyncAck,
    action: dict[str, Any],
    context: AsyncBoltContext,
    next: Callable[[], Awaitable[None]],
) -> BoltResponse | None:
    """Listener middleware for a click on a request's button: puts its `ref` into the
    context; a click that names none of ours is acknowledged and goes no further."""
    ref = ref_from_action(action, action.get("block_id"))
    if ref is None:
        return await ack()
    context["ref"] = ref
    await next()
    return None


async def needs_link(
    ack: AsyncAck,
    body: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
    store: Store,
    service: Credentials,
    next: Callable[[], Awaitable[None]],
) -> BoltResponse | None:
    """Listener middleware for everything done as the person: puts their `link` and
    `creds` into the context, or tells them how to (re)link and stops there.

    A click or a command is acknowledged first (Slack waits 3 s); a modal submission is
    acknowledged by its listener, which may answer with errors.
    """
    submitted = body.get("type") == "view_submission"
    if not submitted:
        await ack()
    user = person_of(body) or ""
    try:
        link = await store.link_for(user)
    except UnreadableLinkError as error:
        answer = await answer_for(error, store, user) or relink_message()
    else:
        if link is not None:
            context["link"], context["creds"] = link, credentials_for(service, link)
            await next()
            return None
        answer = not_linked_message()
    if submitted:
        return await ack(response_action="update", view=done_view(answer["text"]))
    await say_privately(respond, answer)
    return ack.response


# What a listener runs behind: acting as the person, and (for a click) on a request too.
AS_PERSON: Sequence[Callable[..., Any]] = (needs_link,)
ON_REQUEST: Sequence[Callable[..., Any]] = (names_request, needs_link)
