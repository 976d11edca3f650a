"""Small helpers the listeners share."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ref_from_action
from bot.blocks.messages import not_linked_message, relink_message
from bot.blocks.modals import link_modal
from bot.blocks.request_forms import done_view
from bot.inbound.answers import answer_for, private_answer, tell
from bot.outbound.directory import Directory
from bot.people.decisions import credentials_for
from bot.store.contracts import Store
from bot.store.errors import UnreadableLinkError

# A modal whose metadata we cannot read: not one of ours, or from an older release.
NOT_OURS = "This form can no longer be sent: open it again from Slack."
# The trigger_id of a click expires 3 s after it: leave room for users.info and views.open.
PREFILL_WAIT = 1.0
Listener = Callable[..., Awaitable[Any]]
# Wraps a listener so that shutdown waits for it (see bot/runtime/listener_tasks.py).
Track = Callable[[Listener], Listener]


async def say_privately(
    respond: Callable[..., Awaitable[Any]], payload: dict[str, Any] | None
) -> None:
    """An ephemeral answer that leaves the card it came from alone."""
    if payload:
        await respond(**payload, response_type="ephemeral", replace_original=False)


async def tell_in_dm(client: AsyncWebClient, user: str, text: str) -> None:
    """For modal submissions, which have no response_url: the bot's DM with the person
    (one Slack refuses, e.g. `user_disabled`, is logged: there is no other way left)."""
    await tell({"text": text}, client=client, user=user)


def answered(listener: Listener) -> Listener:
    """`listener`, whose failures never reach Bolt: what it raises is answered privately
    through the one error path (bot.inbound.answers), after acknowledging Slack if it
    had not yet. Bolt's runner, given an error after `ack()`, drops the acknowledgement
    and answers Slack 404 three seconds later: the person would see Slack's error and
    nothing else. Registered for every listener (bot.runtime.app), outermost but for shutdown's
    tracking."""
    wanted = list(inspect.signature(listener).parameters)

    async def answering(args: AsyncArgs) -> None:
        given = vars(args)
        try:
            await listener(**{name: given.get(name, args.context.get(name)) for name in wanted})
        except Exception as error:
            await answer_failure(error, args)

    # Not functools.wraps: Bolt reads the arguments of the function it is given (`args`).
    answering.__name__ = answering.__qualname__ = listener.__name__
    answering.__doc__ = listener.__doc__
    return answering


async def answer_failure(error: Exception, args: AsyncArgs) -> None:
    """The private answer to a listener's failure; a modal submission not acknowledged
    yet shows it in the modal itself."""
    user = person_of(args.body)
    answer = await private_answer(error, args.context["store"], user)
    if args.ack.response is None:
        if args.body.get("type") == "view_submission":
            await args.ack(response_action="update", view=done_view(answer["text"]))
            return
        await args.ack()
    await tell(answer, body=args.body, respond=args.respond, client=args.client, user=user)


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


def as_person(listener: Listener) -> Listener:
    """`listener`, run as the person who clicked, typed or submitted: it declares `link`
    and `creds` (with anything else it uses, by name); someone without a usable link is
    told how to (re)link instead, and the listener does not run. A listener that
    declares `ref` gets the request the click names, and is not run for a click that
    names none of ours.

    This runs inside the listener, after the acknowledgement, not as a Bolt middleware:
    Bolt answers Slack only once every middleware has returned, so a store read there
    would hold every acknowledgement (200 clicks at once: p99 1.4 s instead of 0.14 s).
    A modal submission is acknowledged by `listener` itself, which may answer errors.
    """
    wanted = list(inspect.signature(listener).parameters)

    async def acting_as_person(
        ack: AsyncAck,
        body: dict[str, Any],
        context: AsyncBoltContext,
        respond: AsyncRespond,
        client: AsyncWebClient,
        action: dict[str, Any] | None,
        view: dict[str, Any] | None,
        command: dict[str, Any] | None,
    ) -> None:
        submitted = body.get("type") == "view_submission"
        if not submitted:
            await ack()  # Slack waits 3 s: before the store is asked anything
        if "ref" in wanted:
            context["ref"] = ref_from_action(action or {}, (action or {}).get("block_id"))
            if context["ref"] is None:
                return
        store: Store = context["store"]
        user = person_of(body) or ""
        try:
            link = await store.link_for(user)
        except UnreadableLinkError as error:
            answer = await answer_for(error, store, user) or relink_message()
        else:
            if link is not None:
                context["link"] = link
                context["creds"] = credentials_for(context["service"], link)
                given = {"ack": ack, "body": body, "context": context, "respond": respond}
                given |= {"client": client, "action": action, "view": view, "command": command}
                await listener(**{name: given.get(name, context.get(name)) for name in wanted})
                return
            answer = not_linked_message()
        if submitted:
            await ack(response_action="update", view=done_view(answer["text"]))
        else:
            await say_privately(respond, answer)

    # Not functools.wraps: Bolt reads the arguments of the function it is given.
    acting_as_person.__name__ = acting_as_person.__qualname__ = listener.__name__
    acting_as_person.__doc__ = listener.__doc__
    return acting_as_person
